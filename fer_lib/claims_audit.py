"""Internal-consistency checks of the papers, computed from their own numbers (fer_lib/paper_claims.yaml).

Each check returns rows (paper, check, the paper says, computed from the paper, consistent). They need no
data and no training: they test whether a paper's numbers agree with each other. Notebooks show their own
paper's rows; the summary shows all of them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .claims import claim, claims_table, load_claims

# Official FER2013 counts (Goodfellow et al. 2013; equal to what fer_lib.data.load('fer2013') reads).
FER2013_OFFICIAL = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589, "total": 35887}
FER2013_PRIVATE_TEST_COUNTS = {"Anger": 491, "Disgust": 55, "Fear": 528, "Happy": 879, "Sad": 594,
                               "Surprise": 416, "Neutral": 626}


def _row(paper, check, says, computed, consistent, note=""):
    return {"paper": paper, "check": check, "the paper says": says, "computed from the paper": computed,
            "consistent": bool(consistent), "note": note}


def p1_checks() -> list[dict]:
    t = claims_table("p1", "Table 1")
    rows = []
    for col in ("CK+ train", "CK+ test", "FER2013 train", "FER2013 test"):
        body = t.drop(index="Total")[col].dropna().sum()
        total = t.loc["Total", col]
        rows.append(_row("p1", f"Table 1 {col}: classes sum to Total", f"{total:g}", f"{body:g}", body == total))
    t2 = claims_table("p1", "Table 2")
    rows.append(_row("p1", "Table 1: FER2013 has a contempt class", "contempt listed for FER2013",
                     "FER2013 has 7 classes (0-6), no contempt", False))
    tr = t.loc["Total", "FER2013 train"]
    rows.append(_row("p1", "Table 1 FER2013 train total vs official Training split", f"{tr:g}",
                     f"{FER2013_OFFICIAL['Training']}", tr == FER2013_OFFICIAL["Training"]))
    # Text claims are keyed row "A vs B", column "<dataset> gain (pp)": recompute each from Table 2.
    for s in load_claims().query("paper == 'p1' and unit == 'pp'").itertuples():
        a, b = s.row.split(" vs ")
        col = s.column.replace(" gain (pp)", "")
        diff = round(t2.loc[a, col] - t2.loc[b, col], 2)
        rows.append(_row("p1", f"text: '{s.row}', {col} = {s.value:g} pp vs Table 2 ({a} − {b})", f"{s.value:g} pp",
                         f"{diff:g} pp", abs(diff - s.value) < 0.05))
    return rows


def p2_checks() -> list[dict]:
    t = claims_table("p2", "Table 2")
    r = t.loc["ResNet50 + CNN"]
    return [
        _row("p2", "ResNet50 + CNN: train accuracy equals validation accuracy exactly", f"{r['Train Acc']:g} / {r['Val Acc']:g}",
             "identical to three digits: unusual for a real run", r["Train Acc"] != r["Val Acc"]),
        _row("p2", "class weights up-weight the rare classes ('to alleviate imbalance')", "w = [0.1, 0.3, 0.3, 1.0, 0.3, 0.3, 0.1]",
             "the largest weight (1.0) goes to happy, the majority class (8,989 images); disgust (547) gets 0.3", False),
        _row("p2", "85.7 % on FER2013 vs the best published single models", "85.7 %",
             "published single-model FER2013 results are ≈ 73–76 % (e.g. VGG variants ~73 %)", False,
             "plausible only with leakage (random 80/20 split of a dataset with 1,516 duplicate groups) or a labelling error"),
    ]


def p3_checks() -> list[dict]:
    t = claims_table("p3", "Table I")
    order = list(FER2013_PRIVATE_TEST_COUNTS)
    t = t.loc[order, order]
    rows = [_row("p3", f"Table I row '{c}' sums to 1", "a row-normalised confusion matrix", f"{t.loc[c].sum():.2f}",
                 abs(t.loc[c].sum() - 1) < 0.015) for c in order]
    diag = np.diag(t.to_numpy())
    w = np.array([FER2013_PRIVATE_TEST_COUNTS[c] for c in order], float)
    stated = claim("p3", "abstract", "ResNet", "accuracy (%)")
    rows.append(_row("p3", "mean of Table I's diagonal vs the stated best accuracy", f"{stated:g} %",
                     f"{100 * diag.mean():.1f} % (unweighted), {100 * (diag * w).sum() / w.sum():.1f} % (weighted by PrivateTest counts)",
                     abs(100 * (diag * w).sum() / w.sum() - stated) < 2))
    return rows


def p4_checks() -> list[dict]:
    c = load_claims().query("paper == 'p4'")
    ab = c[c.source == "abstract"].set_index("column").value
    rows = []
    t7 = claims_table("p4", "Table 7")
    for ds, col in (("CK+", "CK+ accuracy (%)"), ("FERG", "FERG accuracy (%)")):
        if col in ab.index and ds in t7.index:
            rows.append(_row("p4", f"{ds}: abstract vs Table 7 sample mean", f"{ab[col]:g} %",
                             f"{t7.loc[ds, 'Sample mean (x)']:g} %", abs(ab[col] - t7.loc[ds, "Sample mean (x)"]) < 0.05))
    for ds in t7.index:
        n, sd = t7.loc[ds, "Sample size (n)"], t7.loc[ds, "Std. div. (σ)"]
        half = t7.loc[ds, "Sample conf. interval (±)"]
        computed = 1.96 * sd / np.sqrt(n)
        rows.append(_row("p4", f"Table 7 {ds}: 95 % CI half-width = 1.96·σ/√n", f"± {half:g}", f"± {computed:.4f}",
                         abs(computed - half) < 5e-4))
    return rows


def p5_checks() -> list[dict]:
    t1 = claims_table("p5", "Table 1")
    t3 = claims_table("p5", "Table 3")
    rows = []
    for f in ("x1", "x2", "x4", "x6", "x8"):
        if f in t1.index and f in t3.columns:
            best = t3.loc[t3.index != "DRGFER", f].max()
            dr = t1.loc[f, "DRGFER"]
            rows.append(_row("p5", f"{f}: DRGFER ≤ the best model it can route to (Table 3, column {f})",
                             f"DRGFER {dr:g}", f"best of Table 3 rows {best:g}", dr <= best + 1e-9,
                             "a router can at best pick the best per-resolution model"))
    equal = [f for f in ("x1", "x2", "x4", "x6", "x8")
             if f in t1.index and abs(t1.loc[f, "DRGFER"] - t3.loc[t3.index != "DRGFER", f].max()) < 1e-9]
    rows.append(_row("p5", "DRGFER equals the best per-resolution model at every factor", "DRGFER row of Table 1",
                     f"equal at {', '.join(equal) or 'none'}", len(equal) < 3,
                     "exact equality at several factors implies an error-free resolution router, never reported"))
    for m in t1.columns:
        vals = t1.loc[[f for f in ("x1", "x2", "x4", "x6", "x8") if f in t1.index], m]
        if "Mean" in t1.index:
            rows.append(_row("p5", f"Table 1 {m}: Mean row = average of the factors", f"{t1.loc['Mean', m]:g}",
                             f"{vals.mean():.3f}", abs(vals.mean() - t1.loc["Mean", m]) < 0.0101))  # 2-digit rounding
    return rows


def all_checks() -> pd.DataFrame:
    rows = []
    for fn in (p1_checks, p2_checks, p3_checks, p4_checks, p5_checks):
        try:
            rows += fn()
        except KeyError as e:  # a renamed claim must not hide the other papers' checks
            rows.append(_row(fn.__name__[:2], "check could not run", "", f"missing claim: {e}", False))
    return pd.DataFrame(rows)
