"""`python -m fer_lib.campaign status|run|import`: the study's runs, campaign-wide (fer_lib/runs/campaign.py)."""
import sys

from .runs.campaign import main

if __name__ == "__main__":
    sys.exit(main())
