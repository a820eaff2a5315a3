"""The papers checked against themselves, computed from their own numbers (fer_lib/study/paper_claims.yaml).

Each check returns a row: paper, category, check, the paper says, computed from the paper, consistent, cells.
- category "internal": two statements of the same paper that cannot both hold (a table row that does not sum
  to 1, an abstract that swaps two datasets, a loss impossible at the stated accuracy);
- category "external": the paper against the datasets' published facts (official split sizes, class lists);
- category "plausibility": a number that is possible but far from what the field reports or what a real run
  gives (a result far above the state of the art, train accuracy exactly equal to validation accuracy).
  Plausibility is never counted as a contradiction;
- category "unsupported": a claim of the abstract or conclusion that no experiment of the paper measures
  (e.g. "outperforms existing methods in computational efficiency" with no timing anywhere).
A printed number is compared at its own printed precision: a computed value agrees when it rounds to the
printed digits (within half a unit of the last printed place), never within a looser tolerance — e.g. paper
4's FERG ± 0.0863 against 1.96·σ/√n = 0.0860, or paper 5's Mean 80.38 against 80.386, are mismatches.
`cells` lists the claim keys (paper, source, row, column) a failed internal check makes suspect; the verdict
policy marks those cells "paper inconsistent" (:func:`inconsistent_cells`). Notebooks show their paper's rows
(`pN_checks()`); the summary shows :func:`all_checks`. No data and no training is needed.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from .claims import claim, claims_table, load_claims

# Official FER2013 counts (Goodfellow et al. 2013; equal to what fer_lib.data.load('fer2013') reads).
FER2013_OFFICIAL = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589, "total": 35887}
FER2013_PRIVATE_TEST_COUNTS = {"Anger": 491, "Disgust": 55, "Fear": 528, "Happy": 879, "Sad": 594,
                               "Surprise": 416, "Neutral": 626}
# Best published single-model FER2013 accuracies are about 73-76 % (VGG variants ~73 %, Khaireddin et al. 2021
# 73.28 %, ensembles ~75-76 %); used only for the plausibility category.
FER2013_SOTA_SINGLE = 76.0
FACTORS = ("x1", "x2", "x4", "x6", "x8")


def _row(paper, check, says, computed, consistent, note="", category="internal", cells=()):
    return {"paper": paper, "category": category, "check": check, "the paper says": says,
            "computed from the paper": computed, "consistent": bool(consistent), "note": note,
            "cells": [tuple(c) for c in cells]}


def decimals(x: float) -> int:
    """Digits after the point of a number as printed in the claims file (80.38 -> 2, 0.0863 -> 4, 327 -> 0)."""
    s = repr(float(x))
    if "e" in s:
        return max(0, -int(s.split("e")[1]))
    frac = s.split(".")[1].rstrip("0")
    return len(frac)


def agrees(computed: float, printed: float, places: int | None = None) -> bool:
    """True when `computed` rounds to `printed` at the printed precision (half a unit of the last place)."""
    d = decimals(printed) if places is None else places
    return abs(computed - printed) <= 0.5 * 10 ** -d + 1e-12


def p1_checks() -> list[dict]:
    t = claims_table("p1", "Table 1")
    rows = []
    for col in ("CK+ train", "CK+ test", "FER2013 train", "FER2013 test"):
        body = t.drop(index="Total")[col].dropna().sum()
        total = t.loc["Total", col]
        rows.append(_row("p1", f"Table 1 {col}: classes sum to Total", f"{total:g}", f"{body:g}", body == total,
                         cells=[("p1", "Table 1", r, col) for r in t.index if not np.isnan(t.loc[r, col])]))
    t2 = claims_table("p1", "Table 2")
    rows.append(_row("p1", "Table 1: FER2013 has a contempt class", "contempt listed for FER2013",
                     f"FER2013 has {claim('p1', 'text §4.1', 'FER2013', 'expression classes'):g} classes (0-6), no contempt",
                     False, cells=[("p1", "Table 1", "contempt", "FER2013 train"), ("p1", "Table 1", "contempt", "FER2013 test")]))
    tr = t.loc["Total", "FER2013 train"]
    rows.append(_row("p1", "Table 1 FER2013 train total vs official Training split", f"{tr:g}",
                     f"{FER2013_OFFICIAL['Training']}", tr == FER2013_OFFICIAL["Training"], category="external"))
    txt = claim("p1", "text §4.1", "FER2013", "Training images")
    rows.append(_row("p1", "text §4.1 FER2013 Training count vs Table 1's train total", f"text {txt:g}", f"Table 1 {tr:g}",
                     tr == txt))
    tot = claim("p1", "text §4.1", "FER2013", "total images")
    each = claim("p1", "text §4.1", "FER2013", "PublicTest = PrivateTest images (each)")
    te = t.loc["Total", "FER2013 test"]
    rows.append(_row("p1", "text §4.1 FER2013 test split size vs Table 1's test total", f"text {each:g} each",
                     f"Table 1 {te:g}", te == each))
    official = (FER2013_OFFICIAL["total"], FER2013_OFFICIAL["Training"], FER2013_OFFICIAL["PublicTest"])
    rows.append(_row("p1", "text §4.1 FER2013 counts vs the official release", f"{tot:g} / {txt:g} / {each:g}",
                     "official {} / {} / {}".format(*official), (tot, txt, each) == official, category="external"))
    rows.append(_row("p1", "text §4.1: total = training + 2 × test", f"{tot:g}", f"{txt:g} + 2 × {each:g} = {txt + 2 * each:g}",
                     tot == txt + 2 * each))
    # Text claims are keyed row "A vs B", column "<dataset> gain (pp)": recompute each from Table 2.
    for s in load_claims().query("paper == 'p1' and unit == 'pp'").itertuples():
        a, b = s.row.split(" vs ")
        col = s.column.replace(" gain (pp)", "")
        diff = t2.loc[a, col] - t2.loc[b, col]
        rows.append(_row("p1", f"text: '{s.row}', {col} = {s.value:g} pp vs Table 2 ({a} − {b})", f"{s.value:g} pp",
                         f"{diff:.2f} pp", agrees(diff, s.value), cells=[("p1", s.source, s.row, s.column)]))
    exact = 100 * claim("p1", "Figure 6", "STN on MNIST", "correct test images") / claim("p1", "Figure 6", "STN on MNIST", "test images")
    bound = claim("p1", "text §4.2", "Base+STN on MNIST", "test accuracy lower bound (%)")
    rows.append(_row("p1", "text §4.2 'more than 99 %' vs Figure 6's printout", f"> {bound:g} %",
                     f"Figure 6: 9881/10000 = {exact:.2f} %", exact > bound,
                     cells=[("p1", "text §4.2", "Base+STN on MNIST", "test accuracy lower bound (%)")]))
    rows.append(_row("p1", "abstract: 'outperforms existing methods in terms of accuracy and computational efficiency'",
                     "better accuracy and efficiency than existing methods", "no other method is compared in any table "
                     "and no time, FLOP or memory figure is reported", False, category="unsupported"))
    return rows


def p2_checks() -> list[dict]:
    t = claims_table("p2", "Table 2")
    r = t.loc["ResNet50 + CNN"]
    text = lambda row, col: claim("p2", "text §3", row, col)
    rn = "ResNet50 + CNN"
    van, res = 100 * t.loc["Vanilla CNN", "Val Acc"], 100 * t.loc["Residual block + CNN", "Val Acc"]
    gain = text(rn + " vs benchmark CNN", "test accuracy gain")
    rows = [
        _row("p2", "ResNet50 + CNN: train accuracy equals validation accuracy exactly", f"{r['Train Acc']:g} / {r['Val Acc']:g}",
             "identical to three digits: unusual for a real run", r["Train Acc"] != r["Val Acc"], category="plausibility"),
        _row("p2", "class weights up-weight the rare classes ('to alleviate imbalance')", "w = [0.1, 0.3, 0.3, 1.0, 0.3, 0.3, 0.1]",
             "the largest weight (1.0) goes to happy, the majority class (8,989 images); disgust (547) gets 0.3", False),
        _row("p2", "text 'about 68 %' (Vanilla CNN validation) vs Table 2", f"{text('Vanilla CNN', 'val accuracy approx (%)'):g} %",
             f"Val Acc {van:.1f} % (68 % is its Train Acc {100 * t.loc['Vanilla CNN', 'Train Acc']:.1f} %)",
             agrees(van, text("Vanilla CNN", "val accuracy approx (%)")),
             cells=[("p2", "text §3", "Vanilla CNN", "val accuracy approx (%)"), ("p2", "Table 2", "Vanilla CNN", "Val Acc")]),
        _row("p2", "text 'around 70 %' (Residual CNN validation) vs Table 2",
             f"{text('Residual block + CNN', 'val accuracy approx (%)'):g} %", f"Val Acc {res:.1f} %",
             agrees(res, text("Residual block + CNN", "val accuracy approx (%)")),
             cells=[("p2", "text §3", "Residual block + CNN", "val accuracy approx (%)"), ("p2", "Table 2", "Residual block + CNN", "Val Acc")]),
        _row("p2", "text '86 % … 16 % higher than the benchmark CNN' vs Table 2", f"{gain:g} pp",
             f"{text(rn, 'test accuracy (%)'):g} − {van:.1f} = {text(rn, 'test accuracy (%)') - van:.1f} pp vs Vanilla; "
             f"{text(rn, 'test accuracy (%)') - res:.1f} pp vs Residual", agrees(text(rn, "test accuracy (%)") - van, gain),
             cells=[("p2", "text §3", rn + " vs benchmark CNN", "test accuracy gain")]),
        _row("p2", "85.7 % on FER2013 vs the best published single models", f"{100 * r['Val Acc']:.1f} %",
             f"published single-model FER2013 results are ≈ 73–{FER2013_SOTA_SINGLE:.0f} %; paper 3's citation of the "
             f"challenge winner: {claim('p3', 'text §II', 'Tang [11] CNN+SVM', 'recognition rate (%)'):g} %",
             100 * r["Val Acc"] <= FER2013_SOTA_SINGLE, category="plausibility",
             note="plausible only with leakage (random 80/20 split of a dataset with 1,516 duplicate groups) or a labelling error"),
        _row("p2", "text §3: batch normalisation speeds convergence by 31 %",
             f"{text('Batch Normalization', 'convergence speed-up (%)'):g} %", "no experiment, table or figure measures it",
             False, category="unsupported"),
    ]
    return rows


def p3_checks() -> list[dict]:
    t = claims_table("p3", "Table I")
    order = list(FER2013_PRIVATE_TEST_COUNTS)
    t = t.loc[order, order]
    # 7 cells printed to 2 decimals: their sum may be off by up to 7 × 0.005 from 1 by rounding alone.
    slack = len(order) * 0.005
    rows = [_row("p3", f"Table I row '{c}' sums to 1", "a row-normalised confusion matrix", f"{t.loc[c].sum():.2f}",
                 abs(t.loc[c].sum() - 1) <= slack + 1e-9, cells=[("p3", "Table I", c, k) for k in order]) for c in order]
    diag = np.diag(t.to_numpy())
    w = np.array([FER2013_PRIVATE_TEST_COUNTS[c] for c in order], float)
    stated = claim("p3", "abstract", "ResNet", "accuracy (%)")
    weighted = 100 * (diag * w).sum() / w.sum()
    rows.append(_row("p3", "Table I's diagonal weighted by PrivateTest counts vs the stated best accuracy", f"{stated:g} %",
                     f"{100 * diag.mean():.1f} % (unweighted), {weighted:.1f} % (weighted by PrivateTest counts)",
                     abs(weighted - stated) <= 0.5 + 0.005))  # each diagonal cell printed to ± 0.005
    for c in ("Happy", "Sad", "Neutral", "Anger", "Fear"):
        txt = claim("p3", "text §IV-D", c, "recognition rate (%)")
        rows.append(_row("p3", f"text §IV-D {c} rate vs Table I diagonal", f"{txt:g} %", f"{100 * t.loc[c, c]:.0f} %",
                         agrees(100 * t.loc[c, c], txt)))
    tot, tr = claim("p3", "text §IV-A", "FER2013", "total images"), claim("p3", "text §IV-A", "FER2013", "training images")
    each = claim("p3", "text §IV-A", "FER2013", "public = private validation images (each)")
    rows.append(_row("p3", "text §IV-A: total = training + 2 × validation", f"{tot:g}", f"{tr:g} + 2 × {each:g} = {tr + 2 * each:g}",
                     tot == tr + 2 * each))
    ref = claim("p3", "text §IV-E", "same model (ref [17])", "FER2013 validation accuracy approx (%)")
    rows.append(_row("p3", "text §IV-E: the same model in ref [17] vs this paper's result", f"≈ {ref:g} % in [17]",
                     f"this paper: {stated:g} % with the same model", abs(ref - stated) < 5, category="plausibility",
                     note="79 % on FER2013 is above every published single model; the paper does not comment on the 19 pp gap"))
    rows.append(_row("p3", "abstract and §III: a 'depthwise separable convolutional network' vs the models of §III.B",
                     "the classifier is a depthwise separable CNN", "the three networks evaluated (CNN, VGG-style, ResNet18) "
                     "are described with ordinary convolutions; no depthwise separable model is evaluated", False))
    rows.append(_row("p3", "abstract and §V: expression and gender recognition", "a real-time expression and gender model",
                     "no gender result (accuracy, data set, labels) is reported anywhere", False, category="unsupported"))
    return rows


def p4_checks() -> list[dict]:
    P = lambda *k: claim("p4", *k)
    c = load_claims().query("paper == 'p4'")
    ab = c[c.source == "abstract"].set_index("column").value
    rows = []
    t7 = claims_table("p4", "Table 7")
    headline = {"CK+": ("Table 5", "CK+ accuracy (%)"), "FERG": ("Table 6", "FERG accuracy (%)")}
    for ds, (table, col) in headline.items():
        tv = P(table, "The proposed Model", "Accuracy")
        rows.append(_row("p4", f"{ds}: abstract vs {table}", f"abstract {ab[col]:g} %", f"{table} {tv:g} %", agrees(ab[col], tv),
                         note="the abstract swaps CK+ and FERG relative to Tables 5/6 and §6",
                         cells=[("p4", "abstract", "proposed SDL model", col)]))
    s5 = P("text §5", "proposed SDL model", "FERG accuracy (%)")
    rows.append(_row("p4", "FERG accuracy: §5 vs Table 6", f"§5 {s5:g} %", f"Table 6 {P('Table 6', 'The proposed Model', 'Accuracy'):g} %"
                     f" (the cited Shervin and Mehdi [17]: {P('Table 6', 'Shervin and Mehdi [17]', 'Accuracy'):g} %)",
                     agrees(s5, P("Table 6", "The proposed Model", "Accuracy")),
                     cells=[("p4", "text §5", "proposed SDL model", "FERG accuracy (%)")]))
    for ds in t7.index:
        n, sd = t7.loc[ds, "Sample size (n)"], t7.loc[ds, "Std. div. (σ)"]
        half = t7.loc[ds, "Sample conf. interval (±)"]
        computed = 1.96 * sd / np.sqrt(n)
        rows.append(_row("p4", f"Table 7 {ds}: 95 % CI half-width = 1.96·σ/√n", f"± {half:g}", f"± {computed:.4f}",
                         agrees(computed, half), cells=[("p4", "Table 7", ds, "Sample conf. interval (±)")],
                         note=f"Student t(14) would give ± {2.1448 * sd / np.sqrt(n):.4f}"))
    ck_mean, ck_half = P("Table 7", "CK+", "Sample mean (x)"), P("Table 7", "CK+", "Sample conf. interval (±)")
    ck5 = P("Table 5", "The proposed Model", "Accuracy")
    rows.append(_row("p4", "CK+ headline (Table 5) inside Table 7's own 95 % interval", f"Table 5 {ck5:g} %",
                     f"Table 7 {ck_mean:g} ± {ck_half:g} %: the headline is {ck_mean - ck5:.3f} pp below the mean "
                     f"({(ck_mean - ck5) / ck_half:.1f}× the half-width)", abs(ck_mean - ck5) <= ck_half,
                     cells=[("p4", "Table 5", "The proposed Model", "Accuracy")]))
    acc_tr = P("text §5", "proposed SDL model", "FER-2013 training accuracy (%)")
    acc_va = P("text §5", "proposed SDL model", "FER-2013 validation accuracy (%)")
    loss_tr = P("text §5", "proposed SDL model", "training loss at epoch 184")
    floor = (1 - acc_tr / 100) * math.log(2)  # a wrong prediction has p(true) <= 1/2, so its CE >= ln 2
    rows.append(_row("p4", "training loss at epoch 184 vs training accuracy", f"loss {loss_tr:g} at {acc_tr:g} %",
                     f"cross entropy >= (1 − acc)·ln 2 = {floor:.4f}: {floor / loss_tr:.0f}× the printed loss", loss_tr >= floor,
                     cells=[("p4", "text §5", "proposed SDL model", "training loss at epoch 184"),
                            ("p4", "text §5", "proposed SDL model", "validation loss at epoch 184")]))
    acc_te = P("text §5", "proposed SDL model", "FER-2013 test accuracy (%)")
    rows.append(_row("p4", "§5: training accuracy = test accuracy, validation above both",
                     f"train {acc_tr:g}, test {acc_te:g}, validation {acc_va:g} %", "the same number is called training and "
                     "test accuracy; validation exceeds training", acc_tr != acc_te, category="plausibility"))
    t2 = claims_table("p4", "Table 2")
    off = {"Training": FER2013_OFFICIAL["Training"], "Validation & Testing": FER2013_OFFICIAL["PublicTest"] + FER2013_OFFICIAL["PrivateTest"]}
    rows.append(_row("p4", "Table 2 FER-2013 totals vs the official splits",
                     " / ".join(f"{r} {t2.loc[r, 'Total']:g}" for r in off), " / ".join(f"official {v}" for v in off.values()),
                     all(t2.loc[r, "Total"] == v for r, v in off.items()), category="external",
                     note="off by one image in fear and happy (Training) and neutral (Validation & Testing)"))
    v5, v41 = P("text §5", "split", "validation images"), P("text §4.1", "FER-2013", "validation images")
    rows.append(_row("p4", "FER-2013 validation images: §5 vs §4.1", f"§5 {v5:g}", f"§4.1 {v41:g}", v5 == v41))
    tr5, tr41 = P("text §5", "split", "training images"), P("text §4.1", "FER-2013", "training images")
    rows.append(_row("p4", "FER-2013 training images: §5 vs §4.1", f"§5 {tr5:g}", f"§4.1 {tr41:g}", tr5 == tr41))
    fa, fv, ft = (P("text §5", "FERG", k) for k in ("training images approx", "validation images", "test images"))
    ann = P("text §4.4", "FERG", "annotated images")
    rows.append(_row("p4", "FERG split (§5) vs FERG size (§4.4)", f"{fa:g} + {fv:g} + {ft:g} = {fa + fv + ft:g}",
                     f"§4.4: {ann:g} images", abs(fa + fv + ft - ann) <= 500, note="training count printed as 'approx' 34,000"))
    fer_correct, fer_n = P("text §5.2", "all classes", "correct"), P("text §5.2", "all classes", "test samples")
    rows.append(_row("p4", "§5.2 single run vs Table 7's 15-run FER-2013 mean", f"Table 7 mean {P('Table 7', 'FER-2013', 'Sample mean (x)'):g} "
                     f"(σ {P('Table 7', 'FER-2013', 'Std. div. (σ)'):g})", f"{fer_correct:.0f}/{fer_n:.0f} = {100 * fer_correct / fer_n:.4f} %: "
                     "one run's confusion matrix equals the 15-run mean to 3 decimals",
                     abs(100 * fer_correct / fer_n - P("Table 7", "FER-2013", "Sample mean (x)")) > 0.001, category="plausibility"))
    rows.append(_row("p4", "FER-2013 disgust: precision 1 and recall 1 (Table 8)", "disgust P = R = 1.000 on 55 test images",
                     "every published FER2013 model confuses disgust with anger; a perfect class next to anger at "
                     f"{P('Table 8', 'Angry', 'Recall'):.2f} recall", False, category="plausibility"))
    rows.append(_row("p4", f"FER-2013 accuracy {P('Table 3', 'The proposed Model', 'Accuracy'):g} % vs the best published single models",
                     f"{P('Table 3', 'The proposed Model', 'Accuracy'):g} %", f"state of the art ≈ 73–{FER2013_SOTA_SINGLE:.0f} %",
                     P("Table 3", "The proposed Model", "Accuracy") <= FER2013_SOTA_SINGLE, category="plausibility"))
    convs, parts = P("text §6", "proposed SDL model", "conv layers"), P("text §3.1", "SDL module", "conv parts")
    base = P("text §3", "baseline branch", "conv layers")
    rows.append(_row("p4", "'only 4 convolutional layers' (§6) vs the architecture of §3/§3.1", f"§6: {convs:g} conv layers",
                     f"baseline branch {base:g} + 2 SDL modules × {parts:g} conv parts = {base + 2 * parts:g}",
                     convs >= base + 2 * parts))
    rows.append(_row("p4", "abstract: 'lower computational complexity' than current methods",
                     "a model with less computational complexity", "no parameter count, FLOPs or time is reported for it "
                     "or for the methods it is compared with", False, category="unsupported"))
    return rows


def p5_checks() -> list[dict]:
    t1 = claims_table("p5", "Table 1")
    t3 = claims_table("p5", "Table 3")
    rows = []
    nets = t3.loc[t3.index != "DRGFER"]
    for f in FACTORS:
        best = nets[f].max()
        dr = t1.loc[f, "DRGFER"]
        rows.append(_row("p5", f"{f}: DRGFER ≤ the best model it can route to (Table 3, column {f})",
                         f"DRGFER {dr:g}", f"best of Table 3 rows {best:g}", dr <= best + 1e-9,
                         "a router can at best pick the best per-resolution model",
                         cells=[("p5", "Table 1", f, "DRGFER"), ("p5", "Table 3", "DRGFER", f),
                                ("p5", "text §5.3 (RAF-DB)", f, "DRGFER")]))
    equal = [f for f in FACTORS if abs(t1.loc[f, "DRGFER"] - nets[f].max()) < 1e-9]
    rows.append(_row("p5", "DRGFER equals the best per-resolution model at every factor", "DRGFER row of Table 1",
                     f"equal at {', '.join(equal) or 'none'}", len(equal) < 3,
                     "exact equality at several factors implies an error-free resolution router, never reported",
                     category="plausibility"))
    for f in FACTORS:
        a, b = t1.loc[f, "DRGFER"], t3.loc["DRGFER", f]
        rows.append(_row("p5", f"DRGFER {f}: Table 1 vs Table 3", f"Table 1 {a:g}", f"Table 3 {b:g}", agrees(a, b)))
    for m in t1.columns:
        vals = t1.loc[[f for f in FACTORS if f in t1.index], m]
        if "Mean" in t1.index:
            rows.append(_row("p5", f"Table 1 {m}: Mean row = average of the factors", f"{t1.loc['Mean', m]:g}",
                             f"{vals.mean():.3f}", agrees(vals.mean(), t1.loc["Mean", m]),
                             cells=[("p5", "Table 1", "Mean", m), ("p5", "text §5.3 (RAF-DB)", "Mean", m)]))
    t2 = claims_table("p5", "Table 2")
    for m in t2.columns:
        vals = t2.loc[list(FACTORS), m]
        rows.append(_row("p5", f"Table 2 {m}: Mean row = average of the factors", f"{t2.loc['Mean', m]:g}",
                         f"{vals.mean():.3f}", agrees(vals.mean(), t2.loc["Mean", m]), cells=[("p5", "Table 2", "Mean", m)]))
    gap = claim("p5", "text §5.4", "x8-only vs best joint training", "gap at x8 (pp)")
    joint = t3.loc[[r for r in t3.index if "&" in r], "x8"].max()
    rows.append(_row("p5", "§5.4: x8-only training is 0.65 pp below the best joint training (Table 3)", f"{gap:g} pp",
                     f"{joint:g} − {t3.loc['x8', 'x8']:g} = {joint - t3.loc['x8', 'x8']:.2f} pp", agrees(joint - t3.loc["x8", "x8"], gap),
                     cells=[("p5", "text §5.4", "x8-only vs best joint training", "gap at x8 (pp)")]))
    text = load_claims().query("paper == 'p5' and source == 'text §5.3 (RAF-DB)'")
    diff = [f"{x.row}/{x.column}" for x in text.itertuples()
            if x.row in t1.index and x.column in t1.columns and not agrees(x.value, t1.loc[x.row, x.column])]
    for name in ("Table 1", "Table 2"):
        t = claims_table("p5", name)
        ties = [f"{f} ({', '.join(m for m in t.columns if m != 'DRGFER' and t.loc[f, m] >= t.loc[f, 'DRGFER'])})"
                for f in FACTORS if (t.loc[f, t.columns != "DRGFER"] >= t.loc[f, "DRGFER"]).any()]
        rows.append(_row("p5", f"abstract 'outperforms alternative resolution approaches' vs {name}",
                         "DRGFER above every alternative", f"DRGFER is matched or beaten at {', '.join(ties) or 'no factor'}",
                         not ties))
    size, resize = claim("p5", "text §5.2", "training", "input size (px)"), claim("p5", "text §5.2", "augmentation", "resize (px)")
    rows.append(_row("p5", "§5.2 input size vs §5.2 augmentation resize", f"input {size:g}×{size:g}",
                     f"augmentation resizes to {resize:g}×{resize:g}", size == resize))
    rtr, rva, rall = (claim("p5", "text §5.1", "RAF-DB", k) for k in ("training images", "validation images", "images"))
    rows.append(_row("p5", "§5.1 RAF-DB split sums to its size", f"{rall:g} images", f"{rtr:g} + {rva:g} = {rtr + rva:g}",
                     rtr + rva == rall))
    fp = claim("p5", "text §5.1", "FERPlus", "training images")
    rows.append(_row("p5", "§5.1 FERPlus training images vs FERPlus's label files", f"{fp:g}",
                     "FER2013's raw Training row count; no FERPlus label mode keeps all 28,709 (majority voting keeps "
                     "25,060, probability mode 28,389)", False, category="external"))
    rows.append(_row("p5", "§5.3 prose vs Table 1 (RAF-DB)", f"{len(text)} numbers in §5.3", f"differ at {', '.join(diff) or 'none'}",
                     not diff))
    return rows


CHECKS = (p1_checks, p2_checks, p3_checks, p4_checks, p5_checks)


def all_checks() -> pd.DataFrame:
    rows = []
    for fn in CHECKS:
        try:
            rows += fn()
        except KeyError as e:  # a renamed claim must not hide the other papers' checks
            rows.append(_row(fn.__name__[:2], "check could not run", "", f"missing claim: {e}", False))
    return pd.DataFrame(rows)


@lru_cache(maxsize=1)
def _bad_cells() -> tuple:
    d = all_checks()
    out = {}
    for r in d[(~d.consistent) & (d.category == "internal")].itertuples():
        for cell in r.cells:
            out.setdefault(tuple(cell), r.check)
    return tuple(out.items())


def inconsistent_cells() -> dict[tuple, str]:
    """{(paper, source, row, column): the failed internal check} for the claims the papers contradict."""
    return dict(_bad_cells())
