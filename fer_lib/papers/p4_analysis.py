"""Paper 4's analyses: what notebook 04 records, tabulates and draws from the stored runs of `p4_khan.plan`.

N. Khan, A. V. Singh, R. Agrawal, "Enhancing Feature Extraction Technique Through Spatial Deep Learning Model for
Facial Emotion Detection", AETiC 2023. Each `*_rows` function returns the cells of one paper table as
`run.record(**row)` arguments (the notebook loops over them and shows `beside(...)`); the others build the tables,
lines and figures shown beside them. Nothing here trains: every number comes from a stored run record
(fer_lib.runs.store) or from the data as loaded. The plan, recipe, readings and hooks are in `p4_khan`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.metrics import fmt_ci, mean_ci
from ..saliency import unpack   # imports captum (and its tqdm notice) with the notebook's setup, not at Fig. 15
from ..study.claims import claim, claims_table, load_claims
from .p4_khan import (COLLAPSE_RULE, KEY_ROWS, PAPER, PAPER_LR, PAPER_NAME, SDL_ARMS, accuracies,
                      apply_collapse_rule, ferg_found, stored, table7_row, test_view, top_share)

LISTED = ("happy", "angry", "fear", "sad", "surprise", "neutral")   # the six classes §5.2 lists (no disgust)
PRF = (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1-Score"))   # ours -> Tables 8-9's columns


def _row(source: str, row: str, column: str, values, **kw) -> dict:
    return {"paper": PAPER, "source": source, "row": row, "column": column, "values": values, **kw}


def seeds_of(records: list[dict]) -> list[int]:
    return [r["spec"]["seed"] for r in records]


def _common(records: list[dict], dataset: str) -> dict:
    """dataset, seeds and the recipe (config hash) of a group of runs."""
    return dict(dataset=dataset, seeds=seeds_of(records),
                config=records[0]["spec"]["config"] if records else None)


# ------------------------------------------------------------------------------------------------ §4: the data
def dataset_names(real: bool) -> dict[str, str]:
    """The dataset names the records carry: the real ones, or "synthetic" for the smoke profile's stand-ins."""
    return {"fer": "FER2013" if real else "synthetic", "ck": "CK+" if real else "synthetic"}


def ferg_status(profile: str, s: dict, data_root=None) -> tuple[bool, str]:
    """(FERG runs planned, why not): the plan trains FERG (§5, Tables 6 and 9) only on real data when found."""
    real = profile != "smoke"
    planned = bool(real and s["run_ferg"] and ferg_found(data_root))
    reason = ("" if planned else "smoke profile: no FERG stand-in" if not real
              else "dataset absent" if s["run_ferg"] else "run_ferg=False")
    return planned, reason


def table2_rows(fer, dataset: str) -> list[dict]:
    """Table 2 (§4.1): FER-2013 images per class in Training and in "Validation & Testing" (PublicTest +
    PrivateTest), and the totals."""
    c, out = fer.counts(), []
    for row, cols in (("Training", ["Training"]), ("Validation & Testing", ["PublicTest", "PrivateTest"])):
        for cls in list(fer.classes) + ["total"]:
            out.append(_row("Table 2", row, PAPER_NAME.get(cls, "Total"), int(c.loc[cls, cols].sum()), unit="count",
                            dataset=dataset, split="+".join(cols)))
    return out


def ck_sequences(ck) -> dict[str, int]:
    """Labelled sequences per class (Table 4 counts sequences; CK+48 holds the last frames of each). The synthetic
    stand-in has no sequences: one image = one sequence."""
    if ck.sequences is not None:
        return {cls: len(set(ck.sequences[ck.labels == i].tolist())) for i, cls in enumerate(ck.classes)}
    return {cls: int((ck.labels == i).sum()) for i, cls in enumerate(ck.classes)}


def table4_rows(ck, dataset: str, peak_frames: int) -> list[dict]:
    """Table 4 (§4.2): CK+ sequences per class ("Training & Testing") and the total."""
    per_seq = ck_sequences(ck)
    note = f"labelled sequences; {len(ck)} images loaded (peak_frames={peak_frames})"
    return ([_row("Table 4", "Training & Testing", PAPER_NAME[cls], n, unit="count", dataset=dataset, note=note)
             for cls, n in per_seq.items()]
            + [_row("Table 4", "Training & Testing", "Total", sum(per_seq.values()), unit="count", dataset=dataset)])


def split_sizes(fer) -> dict[str, int]:
    """Images per official FER2013 split."""
    return {s: int((fer.split == s).sum()) for s in fer.splits}


def split_count_rows(fer, dataset: str) -> list[dict]:
    """The split sizes of §4.1 and §5 and the per-class test counts of §5.2 (six classes and all), on the official
    splits (PrivateTest for §5.2's test samples)."""
    n = split_sizes(fer)
    out = [_row(src, row, col, ours, unit="count", dataset=dataset, split=split) for src, row, col, ours, split in [
        ("text §4.1", "FER-2013", "total images", len(fer), "all"),
        ("text §4.1", "FER-2013", "training images", n["Training"], "Training"),
        ("text §4.1", "FER-2013", "validation images", n["PublicTest"], "PublicTest"),
        ("text §5", "split", "training images", n["Training"], "Training"),
        ("text §5", "split", "validation images", n["PublicTest"], "PublicTest"),
        ("text §5", "split", "test images", n["PrivateTest"], "PrivateTest")]]
    test = fer.take("PrivateTest").counts()["PrivateTest"]
    out += [_row("text §5.2", PAPER_NAME[cls], "test samples", int(test[cls]), unit="count", dataset=dataset,
                 split="PrivateTest") for cls in LISTED]
    out.append(_row("text §5.2", "all classes", "test samples", int(test["total"]), unit="count", dataset=dataset,
                    split="PrivateTest"))
    return out


def split_count_table(records: list[dict]) -> pd.DataFrame:
    """§4.1, §5 (split sizes) and §5.2 (test samples) beside our counts, as one table."""
    from ..study.verdict import beside
    return pd.concat([beside(records, PAPER, "text §4.1"),
                      beside(records, PAPER, "text §5").query("row == 'split'"),
                      beside(records, PAPER, "text §5.2")], ignore_index=True)


def paper_test_split(fer) -> list[str]:
    """The official splits whose six per-class counts equal §5.2's "test samples" (which split the paper tested on)."""
    paper = {cls: int(claim(PAPER, "text §5.2", PAPER_NAME[cls], "test samples")) for cls in LISTED}
    return [name for name in ("PublicTest", "PrivateTest")
            if all(int(fer.take(name).counts()[name][cls]) == paper[cls] for cls in LISTED)]


# ------------------------------------------------------------------------------------------------ §3: the model
def model_checks(s: dict) -> tuple[list[str], dict[str, int]]:
    """(lines, Conv2d layers per part): which weights eq. 5's L2 prefixes reach (fc1/fc2 weights only, not the
    STNs' fc_loc), that the engine's penalty is 0.5·(λ1 ΣW1² + λ2 ΣW2²), the conv-layer count behind §6's "only 4
    convolutional layers", and the parameter counts of the SDL model and of its baseline branch alone."""
    import torch
    from ..core.train import l2_penalty
    from ..models.sdl import SpatialDeepLearning
    l2 = {"fc1.": s["lambda1"], "fc2.": s["lambda2"]}
    m = SpatialDeepLearning(num_classes=7)
    lines = [f"{prefix!r} reaches: "
             + str([n for n, _ in m.named_parameters() if n.startswith(prefix) and n.endswith("weight")])
             for prefix in l2]
    with torch.no_grad():
        manual = 0.5 * (l2["fc1."] * (m.fc1.weight ** 2).sum() + l2["fc2."] * (m.fc2.weight ** 2).sum())
        same = torch.allclose(l2_penalty(m, l2), manual)
    lines.append(f"engine penalty equals 0.5 (l1 sum W1^2 + l2 sum W2^2): {same}")
    convs = {name: sum(isinstance(x, torch.nn.Conv2d) for x in part.modules())
             for name, part in (("baseline branch", m.baseline), ("SDL-1", m.sdl1), ("SDL-2", m.sdl2))}
    lines.append(f"Conv2d layers: {convs} total {sum(convs.values())}")
    n_params = {v: sum(p.numel() for p in SpatialDeepLearning(num_classes=7,
                                                              baseline_branch_only=v == "baseline only").parameters())
                for v in ("SDL model", "baseline only")}
    lines.append(f"parameters: {n_params}")
    return lines, convs


# ------------------------------------------------------------------------------------------------ §5: the lr
def _probe_kw(records: list[dict], s: dict, dataset: str) -> dict:
    return dict(dataset=dataset, split="PublicTest", seeds=seeds_of(records),
                note=f"{s['probe_epochs']} epoch(s) x {s['probe_batches'] or 'all'} batches at lr {PAPER_LR}; "
                     "probe, not the paper budget")


def probe_line(probe: dict, s: dict) -> str:
    return (f"paper lr {PAPER_LR}: collapsed in {probe['collapsed']} of {probe['n']} seeds within "
            f"{s['probe_epochs']} epoch(s) of {s['probe_batches'] or 'all'} batches ({probe['diverged']} diverged: "
            "non-finite loss)")


def probe_rows(records: list[dict], probe: dict, diverged: list[dict], s: dict, dataset: str) -> list[dict]:
    """The finding on §5's lr 0.03 (the probe: a short run per seed): diverged (1 = yes, per seed), validation
    accuracy, share of the most predicted class, runs collapsed. `probe` is `p4_khan.probe_summary`."""
    kw, row = _probe_kw(records, s, dataset), "SDL, AdamW lr 0.03 (probe)"
    return [_row("finding", row, "diverged (1 = yes)", [0.0] * len(records) + [1.0] * probe["diverged"],
                 unit="other", **{**kw, "seeds": kw["seeds"] + [d["seed"] for d in diverged]}),
            _row("finding", row, "validation accuracy", probe["val_acc"], **kw),
            _row("finding", row, "share of the most predicted class", [top_share(r) for r in records], **kw),
            _row("finding", row, "runs collapsed", probe["collapsed"], unit="count",
                 **{**kw, "note": f"{probe['collapsed']} of {probe['n']} seeds; " + kw["note"]})]


def grid_rows(grid: pd.DataFrame | None, lr: float | None, s: dict, dataset: str) -> list[dict]:
    """The lr grid (a deviation from §5's 0.03, chosen on PublicTest by `p4_khan.select_lr`): validation accuracy
    per lr and the chosen lr. None (the lr fixed by a parameter): no row."""
    if grid is None:
        return []
    row = "SDL, lr grid (validation)"
    out = [_row("finding", row, f"PublicTest accuracy at lr {g.lr:g}", g.val_acc, dataset=dataset, split="PublicTest",
                seeds=s["grid_seeds"], note=f"{s['grid_epochs']} epochs x {s['grid_batches'] or 'all'} batches; "
                                             f"{g.collapsed} collapsed") for g in grid.itertuples()]
    out.append(_row("finding", row, "chosen lr", lr, unit="other", dataset=dataset, split="PublicTest",
                    note="highest mean validation accuracy, collapsed runs scoring 0 (p4_khan.select_lr)"))
    return out


def lr_line(lr: float | None, grid) -> str:
    return "main runs: lr " + str(lr) + " " + ("(chosen on PublicTest from the grid)" if grid is not None else
                                             "(the lr parameter)" if lr else "pending: the grid is not stored yet")


# ------------------------------------------------------------------------------------------------ §5: FER2013
def arm_records(runs, part: str, sdl: int = 2, rule: str = "keep") -> list[dict]:
    """The stored records of one arm (part: fer / ck / ck_paper / ferg; sdl: SDL modules) under the collapse rule."""
    return apply_collapse_rule(stored(runs.select(part=part, sdl=sdl)), rule)


def dedup_accuracies(fer, records: list[dict]) -> tuple[int, list[float]]:
    """(images dropped, accuracy per run) on the PrivateTest images with no byte-identical copy in Training: the
    same runs, "also measured" beside §5's test accuracy."""
    from ..data.audit import dedup_test_mask
    from ..runs.store import predictions
    keep = dedup_test_mask(fer, "Training", "PrivateTest")
    return int((~keep).sum()), [predictions(r, "PrivateTest").subset(keep).accuracy for r in records]


def dedup_line(n_dropped: int, values: list[float]) -> str:
    return f"PrivateTest without its {n_dropped} images duplicated in Training: {fmt_ci(mean_ci(values))} %"


def _best(rec: dict, col: str) -> float:
    from ..runs.store import history
    return float(history(rec)[col].iloc[rec["best_epoch"]])


def fer_rows(records: list[dict], s: dict, lr: float | None, lr_from_grid: bool, dataset: str,
             dedup: tuple[int, list[float]] | None = None) -> list[dict]:
    """§5's FER-2013 training / validation / test accuracy, the same test accuracy as Table 3, the abstract and §6
    state it, the deduplicated test accuracy (`dedup_accuracies`, real data only), and the losses the paper gives
    at its epoch 184 (ours: at the selected, best-validation epoch)."""
    accs, kw = accuracies(records), _common(records, dataset)
    note = f"lr {lr} ({'chosen on validation from the grid' if lr_from_grid else 'the lr parameter'})"
    train_note = (f"clean accuracy on {s['train_eval_n']} random training images" if s["train_eval_n"]
                  else "clean accuracy on all training images")
    sdl = "proposed SDL model"
    out = [_row("text §5", sdl, "FER-2013 training accuracy (%)", accs["train"], split="Training", note=train_note,
                **kw),
           _row("text §5", sdl, "FER-2013 validation accuracy (%)", accs["val"], split="PublicTest", note=note, **kw)]
    for src, col in (("text §5", "FER-2013 test accuracy (%)"), ("Table 3", "Accuracy"),
                     ("abstract", "FER-2013 accuracy (%)"), ("text §6", "FER-2013 accuracy (%)")):
        out.append(_row(src, "The proposed Model" if src == "Table 3" else sdl, col, accs["test"],
                        split="PrivateTest", note=note, **kw))
    if dedup is not None:
        out.append(_row("text §5", sdl, "FER-2013 test accuracy (%)", dedup[1], split="PrivateTest (deduplicated)",
                        note="test images with a byte-identical copy in Training removed", **kw))
    out += [_row("text §5", sdl, "training loss at epoch 184", [_best(r, "train_loss") for r in records],
                 unit="other", split="Training",
                 note="ours: CE + L2 over the augmented batches of the best-validation epoch", **kw),
            _row("text §5", sdl, "validation loss at epoch 184", [_best(r, "val_loss") for r in records],
                 unit="other", split="PublicTest", note="ours: CE at the best-validation epoch", **kw)]
    return out


def learning_curves(records: list[dict], dataset: str):
    """Training (running, dashed) and validation (solid) curves of each run."""
    from ..runs.store import history
    from ..study import plots
    return plots.learning_curves({f"seed {r['spec']['seed']}": history(r) for r in records},
                                 f"SDL on {dataset}: train (running, dashed) vs validation (solid)")


def comparison(source: str, ours: dict[str, list[float]], profile: str) -> pd.DataFrame:
    """A comparison table of the paper (Tables 3, 5, 6): its rows, each marked as the paper's own claim or cited
    by the paper (other work, not re-run here), and our measured rows (mean ± 95 % CI) at the bottom."""
    t = claims_table(PAPER, source).rename(columns={"Accuracy": "accuracy (%)"})
    kinds = load_claims().query("paper == @PAPER and source == @source").set_index("row").kind
    t["what"] = ["the paper's own claim" if kinds[r] == "result" else "cited by the paper" for r in t.index]
    for label, values in ours.items():
        m = mean_ci(values)
        t.loc[label] = [m["mean"] * 100, f"ours, {profile} profile: {fmt_ci(m, digits=2)} %"]
    return t


# ------------------------------------------------------------------------------------------------ §5: CK+, FERG
def ck_split_lines(runs, data_root=None) -> list[str]:
    """Images per part of the first CK+ run of each protocol, and the subjects found on both sides of its split
    (ours: none; the paper's random split: most)."""
    from ..runs.data import prepare
    out = []
    for name, part in (("ours, subject-grouped", "ck"), ("the paper's random split", "ck_paper")):
        planned = runs.select(part=part, sdl=2).planned
        if planned:
            d = prepare(planned[0].spec, data_root)
            te = d.views["test"]
            out.append(f"CK+ {name}, run 0: train {len(d.train)}, val {len(d.val)}, test {len(te)} images; subjects "
                       f"in both train and test: {len(set(d.train.groups.tolist()) & set(te.groups.tolist()))}")
    return out


def ck_rows(ck_runs: list[dict], ck_paper_runs: list[dict], s: dict, dataset: str) -> list[dict]:
    """Table 5 (and the abstract, §6) on CK+: ours on subject-grouped folds, then the paper's random 80/10/10 split
    (§5) as a separately labelled row; §5's CK+ training accuracy."""
    ck, ckp, kw = accuracies(ck_runs), accuracies(ck_paper_runs), _common(ck_runs, dataset)
    note = f"subject-grouped {s['ck_folds']}-fold, run i tests fold i mod {s['ck_folds']}"
    out = [_row("text §5", "proposed SDL model", "CK+ training accuracy (%)", ck["train"], split="train",
                note="clean accuracy on the training subjects", **kw)]
    out += [_row(src, row, col, ck["test"], split="test", note=note, **kw) for src, row, col in (
        ("Table 5", "The proposed Model", "Accuracy"), ("abstract", "proposed SDL model", "CK+ accuracy (%)"),
        ("text §6", "proposed SDL model", "CK+ accuracy (%)"))]
    if ck_paper_runs:
        out.append(_row("Table 5", "The proposed Model", "Accuracy", ckp["test"],
                        split="test (the paper's random 80/10/10 split)", dataset=dataset,
                        seeds=seeds_of(ck_paper_runs),
                        note="the paper's protocol: random class-stratified image split, redrawn per run; a "
                             "subject's frames can sit on both sides"))
    return out


def ferg_rows(records: list[dict], note: str) -> list[dict]:
    """Table 6 (and the abstract, §6, §5) on FERG, and §5's FERG training accuracy; empty values ("not run")
    without stored FERG runs."""
    accs = accuracies(records)
    out = [_row(src, row, col, accs["test"], dataset="FERG", split="test", seeds=seeds_of(records), note=note)
           for src, row, col in (("Table 6", "The proposed Model", "Accuracy"),
                                 ("abstract", "proposed SDL model", "FERG accuracy (%)"),
                                 ("text §6", "proposed SDL model", "FERG accuracy (%)"),
                                 ("text §5", "proposed SDL model", "FERG accuracy (%)"))]
    out.append(_row("text §5", "proposed SDL model", "FERG training accuracy (%)", accs["train"], dataset="FERG",
                    split="train", note=note))
    return out


# ------------------------------------------------------------------------------------------------ §5.1: Table 7
def table7(sets, seeds: list[int], ferg_note: str) -> tuple[list[dict], pd.DataFrame]:
    """Table 7 (§5.1: x ± Z·σ/√n over n runs): (rows, table). `sets`: (name, test accuracies, dataset) per
    dataset; our interval is the Student-t half-width, the table also gives the paper's z form."""
    out, table = [], []
    for name, vals, ds_name in sets:
        m = mean_ci(vals)
        kw = dict(dataset=ds_name, seeds=seeds[:m["n"]], note="" if m["n"] else ferg_note)
        out += [_row("Table 7", name, "Sample mean (x)", vals, **kw),
                _row("Table 7", name, "Std. div. (σ)", [m["std"] * 100] if m["n"] else [], unit="pp", **kw),
                _row("Table 7", name, "Sample conf. interval (±)", [m["ci95"] * 100] if m["n"] else [], unit="pp",
                     **{**kw, "note": kw["note"] or "Student-t half-width"})]
        table.append(table7_row(name, vals))
    return out, pd.DataFrame(table).set_index("dataset")


# ------------------------------------------------------------------------------------------------ §5.2: Tables 8-9
def test_predictions(records: list[dict]) -> list:
    """The stored test predictions of each run (fer_lib.runs.store.predictions)."""
    from ..runs.store import predictions
    return [predictions(r, test_view(r)) for r in records]


def per_class(preds: list) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """(per-run classification reports, their mean over runs)."""
    reps = [p.report() for p in preds]
    return reps, pd.concat(reps).groupby(level=0, sort=False).mean() if reps else pd.DataFrame()


def table8(records: list[dict], preds: list, classes, dataset: str) -> tuple[list[dict], pd.DataFrame]:
    """Table 8 (FER-2013 per-class precision, recall, F1) and §5.2's correct predictions per class (six classes,
    then all) and accuracy, on PrivateTest: (rows, mean per-class report)."""
    reps, mean_rep = per_class(preds)
    kw = dict(dataset=dataset, split="PrivateTest", seeds=seeds_of(records))
    out = []
    for cls in classes:
        out += [_row("Table 8", PAPER_NAME[cls], paper_col, [r.loc[cls, col] for r in reps], **kw)
                for col, paper_col in PRF]
        if cls != "disgust":  # §5.2 lists six classes
            out.append(_row("text §5.2", PAPER_NAME[cls], "correct", [int(p.confusion().loc[cls, cls]) for p in preds],
                            unit="count", note="mean over runs", **kw))
    out += [_row("text §5.2", "all classes", "correct", [int((p.y_pred == p.y_true).sum()) for p in preds],
                 unit="count", note="mean over runs", **kw),
            _row("text §5.2", "all classes", "accuracy (%)", accuracies(records)["test"], **kw)]
    return out, mean_rep


def table9_rows(preds: list, note: str) -> list[dict]:
    """Table 9: FERG per-class precision, recall, F1 (FERG has FER2013's seven classes); "not run" without FERG."""
    from ..data import FER7
    reps = per_class(preds)[0]
    return [_row("Table 9", PAPER_NAME[cls], paper_col, [r.loc[cls, col] for r in reps], dataset="FERG",
                 split="test", note=note) for cls in FER7 for col, paper_col in PRF]


# ------------------------------------------------------------------------------------------------ Figs 12-15
def closest_to_mean(records: list[dict]) -> int:
    """Index of the run whose test accuracy is closest to the mean (the run a single-run figure shows)."""
    acc = accuracies(records)["test"]
    return int(np.argmin(np.abs(np.array(acc) - np.mean(acc))))


def fig12_13(records: list[dict], preds: list, dataset: str):
    """Figs 12-13: the FER-2013 test confusion matrix (counts, then row-normalised) of the run closest to the
    mean: (figure, line)."""
    import matplotlib.pyplot as plt
    from ..study import plots
    i = closest_to_mean(records)
    p, seed = preds[i], records[i]["spec"]["seed"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    plots.confusion_heatmap(p.confusion(), f"Fig. 12: {dataset} test, counts (seed {seed})", ax=axes[0])
    plots.confusion_heatmap(p.confusion("true"), "Fig. 13: row-normalised (recall on the diagonal)", ax=axes[1])
    fig.tight_layout()
    return fig, f"seed {seed}: {int((p.y_pred == p.y_true).sum())} of {len(p.y_true)} test images correct"


def fig14(preds: list, name: str):
    """Fig. 14: a confusion matrix summed over runs (FERG in the paper; CK+ when FERG is absent)."""
    import matplotlib.pyplot as plt
    from ..study import plots
    cm = sum(p.confusion() for p in preds)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    plots.confusion_heatmap(cm, f"Fig. 14: {name}, counts summed over {len(preds)} runs", ax=axes[0])
    plots.confusion_heatmap(cm.div(cm.sum(axis=1).clip(lower=1), axis=0), "row-normalised", ax=axes[1])
    fig.tight_layout()
    return fig


def saliency_figure(records: list[dict], classes, name: str):
    """Fig. 15 (§5.3): saliency, Grad-CAM and the first STN's view of one test image per class, for the run
    closest to the mean, from the explanation stored with the run (no weights needed): (figure or None, line)."""
    from ..runs.store import predictions
    from ..study import plots
    if not records:
        return None, f"{name}: no stored run"
    r = records[closest_to_mean(records)]
    e = unpack(r["metrics"]["p4.saliency"])
    truth = predictions(r, test_view(r)).y_true[e["index"]]
    titles = [f"{classes[t]}\n(pred {classes[p]})" for t, p in zip(truth, e["pred"])]
    fig = plots.saliency_panel(e, titles, suptitle=f"{name}, seed {r['spec']['seed']}: one test image per class")
    return fig, (f"{name}: mean |STN view - input| = {r['metrics']['p4.saliency']['stn_moved']:.1f} grey levels "
                 "(0 = the transformer stayed at the identity)")


# ------------------------------------------------------------------------------------------------ the ablation
def ablation(runs, s: dict, names: dict[str, str], n_classes: int) -> tuple[list[dict], pd.DataFrame]:
    """The ablation of §3 ("baseline branch", SDL-1, SDL-2; no paper numbers): test accuracy of each arm on FER2013
    and CK+ over the first `ablation_runs` seeds (the full model's arm is the first main runs: same seeds, same
    recipe), and each arm's parameter count: (rows, table)."""
    from ..models.sdl import SpatialDeepLearning
    n_abl = min(s["ablation_runs"], len(s["seeds"]))
    out, cells = [], {}
    for key, name in (("fer", "FER-2013"), ("ck", "CK+")):
        for k, row in SDL_ARMS.items():
            recs = arm_records(runs, key, k, s["on_collapse"])[:n_abl]
            vals = accuracies(recs)["test"]
            cells[(row, name)] = fmt_ci(mean_ci(vals), digits=2)
            out.append(_row("ablation (issue 8)", row, f"{name} test accuracy", vals, dataset=names[key],
                            seeds=seeds_of(recs), config=recs[0]["spec"]["config"] if recs else None))
    table = pd.Series(cells).unstack().reindex(list(SDL_ARMS.values()))
    table["parameters"] = [sum(p.numel() for p in SpatialDeepLearning(num_classes=n_classes, sdl_modules=k)
                               .parameters()) for k in SDL_ARMS]
    return out, table


# ------------------------------------------------------------------------------------------------ closing
def main_run_rows(diverged: list[dict], collapsed: pd.DataFrame, lr: float | None, dataset: str) -> list[dict]:
    """The finding on the main runs at the chosen lr: how many diverged, how many the engine flagged collapsed."""
    return [_row("finding", "SDL, main runs", "runs that diverged", float(len(diverged)), unit="count",
                 dataset=dataset, note=f"lr {lr}; a diverged run is kept as a failure marker in the run store"),
            _row("finding", "SDL, main runs", "runs flagged collapsed", float(len(collapsed)), unit="count",
                 dataset=dataset, note=f"lr {lr}; rule: {COLLAPSE_RULE}")]


def headline(accs: dict, ck_accs: dict, ckp_accs: dict, ferg_acc: list[float], ferg_note: str, lr: float | None,
             probe: dict, s: dict) -> list[str]:
    """The results file's headline: Table 3, Table 5 (both splits) and Table 6 beside ours, and the lr probe."""
    ci = lambda v, d: fmt_ci(mean_ci(v), digits=d)
    paper = lambda table: claim(PAPER, table, "The proposed Model", "Accuracy")
    return [
        f"FER2013 PrivateTest accuracy {ci(accs['test'], 2)} % (paper {paper('Table 3')}); "
        f"train clean {ci(accs['train'], 1)}, val {ci(accs['val'], 1)}; lr {lr}",
        f"CK+ subject-grouped test accuracy {ci(ck_accs['test'], 2)} %, the paper's random split "
        f"{ci(ckp_accs['test'], 2)} % (paper Table 5 {paper('Table 5')})",
        f"FERG: {'%s %%' % ci(ferg_acc, 2) if ferg_acc else ferg_note}",
        f"paper lr 0.03 probe: collapsed in {probe['collapsed']} of {probe['n']} seeds within {s['probe_epochs']} "
        "epoch(s)",
    ]


def closing_table(records: list[dict]) -> pd.DataFrame:
    """The paper's headline cells (`p4_khan.KEY_ROWS`) beside ours, one table with the source first."""
    from ..study.verdict import beside
    t = pd.concat([beside(records, PAPER, s).query("row == @r and column == @c").assign(source=s)
                   for s, r, c in KEY_ROWS], ignore_index=True)
    return t[["source"] + [c for c in t.columns if c != "source"]]
