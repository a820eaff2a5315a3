"""Each paper's own code: its readings of the text, its run plan per profile (`BUDGETS`, `plan`), its hooks and
analyses. p1_wu_finch, p2_transfer, p3_zhao, p4_khan, p5_wang; protocol (one recipe for every paper's main model).
The shared machinery (engine, run store, campaign) lives apart: fer_lib/train.py, fer_lib/runs/.
"""
