"""Each paper's own code: its readings of the text, its run plan per profile (`BUDGETS`, `plan`), its hooks and
analyses. p1_wu_finch, p2_transfer, p3_zhao, p4_khan, p5_wang; protocol (one recipe for every paper's main model).
A paper's analyses that outgrow its plan module sit beside it under the same prefix: p1_superres (EDSR trained
through the one loop), p2_convergence (the convergence-speed reading), p4_analysis (notebook 04's recorded rows, tables, figures),
p5_resolution (DRGFER's recipes and evaluation grid).
The shared machinery lives apart: fer_lib/core/ (engine, augmentation, degradation, metrics), fer_lib/runs/ (run
store, campaign), fer_lib/study/ (claims, verdicts, results, plots).
"""
