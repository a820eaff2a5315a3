"""One documented rule that judges a measured number against the paper's, and the "paper beside ours" table.

Rule (used by every notebook and the summary):
- smoke profile → "not judged (synthetic data)": smoke numbers test the code, not the paper;
- no measurement → "not run" (with the reason, e.g. dataset absent);
- otherwise, with ours = mean over seeds and half = its 95 % CI half-width (0 with one seed), in the paper's
  unit: |paper − ours| ≤ max(half, tol) → "reproduced", unless half > 3·tol → "inconclusive (CI too wide)";
  ours > paper → "not reproduced (ours higher)";
  else "not reproduced (ours lower)". tol defaults to 1.0 percentage point (0.01 for fractions) — an
  allowance for the run-to-run noise of a single published number.
A cpu-profile verdict is made under cut budgets: the notebooks say so beside it.
"""
from __future__ import annotations

import math

import pandas as pd

from .claims import claim

DEFAULT_TOL = {"percent": 1.0, "pp": 1.0, "fraction": 0.01}


def to_unit(value: float, ours_unit: str, paper_unit: str) -> float:
    """Convert our value into the paper's unit (fractions ↔ percent)."""
    if ours_unit == paper_unit or value is None:
        return value
    if ours_unit == "fraction" and paper_unit in ("percent", "pp"):
        return value * 100
    if ours_unit in ("percent", "pp") and paper_unit == "fraction":
        return value / 100
    raise ValueError(f"cannot compare a value in {ours_unit} with a paper value in {paper_unit}")


def judge(paper: float, ours: float | None, half: float | None = None, *, profile: str = "cpu",
          tol: float | None = None, unit: str = "percent", reason: str = "") -> str:
    if profile == "smoke":
        return "not judged (synthetic data)"
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return f"not run ({reason})" if reason else "not run"
    tol = DEFAULT_TOL.get(unit, 0.0) if tol is None else tol
    half = 0.0 if half is None or (isinstance(half, float) and math.isnan(half)) else half
    if abs(paper - ours) <= max(half, tol):
        # A paper value inside a very wide interval says little: few seeds or a cut budget.
        return "reproduced" if half <= 3 * max(tol, 1e-12) else f"inconclusive (CI ± {half:.3g} too wide)"
    return f"not reproduced (ours {'higher' if ours > paper else 'lower'})"


def beside(records: list[dict], paper: str, source: str, tol: float | None = None,
           claims_map: dict | None = None) -> pd.DataFrame:
    """Our records of one paper table next to the paper's cells: row, column, paper, ours, ±95 % CI, n, verdict.

    claims_map maps our (row, column) to the paper's (row, column) where the names differ."""
    from .claims import load_claims
    cl = load_claims()
    cl = cl[(cl.paper == paper) & (cl.source == source)]
    out = []
    for r in records:
        if r["paper"] != paper or r["source"] != source:
            continue
        prow, pcol = (claims_map or {}).get((r["row"], r["column"]), (r["row"], r["column"]))
        hit = cl[(cl.row == prow) & (cl.column == pcol)]
        punit = hit.unit.iloc[0] if len(hit) else r["unit"]
        pval = float(hit.value.iloc[0]) if len(hit) else float("nan")
        ours = to_unit(r["value"], r["unit"], punit) if r["value"] is not None else None
        half = to_unit(r["ci95"], r["unit"], punit) if r.get("ci95") is not None else None
        verdict = judge(pval, ours, half, profile=r["profile"], tol=tol, unit=punit) if len(hit) else "no paper value"
        out.append({"row": r["row"], "column": r["column"], "dataset": r["dataset"], "paper": pval,
                    "ours": ours, "±95% CI": half, "n seeds": r["n_seeds"], "profile": r["profile"],
                    "verdict": verdict})
    return pd.DataFrame(out)


__all__ = ["judge", "beside", "to_unit", "claim"]
