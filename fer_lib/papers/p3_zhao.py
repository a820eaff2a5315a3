"""Paper 3's runs: Yuan Zhao, "Facial Expression Recognition Based on Various Deep Neural Networks" (§III.B, §IV).

Three classifiers on FER2013's official splits — the plain CNN, the VGG-style network and ResNet18 (registry names
ZhaoCNN, ZhaoVGG, resnet18) — trained on Training with the epoch chosen on PublicTest, then scored on PrivateTest
and PublicTest. Notebook 03 assembles their records (`plan(profile, **overrides)`).

What the paper states (labelled "paper"): the three architectures (§III.B); conv weights drawn from N(0, 0.04)
(§III.B, §IV.B); ResNet18's 7×7 stride-2 stem with max-pool (§III.B); the VGG trained "30 epochs, followed by a
subsequent 60" (§IV.C: read as one run of 90 epochs, since no change of settings between the phases is described;
the two numbers are read from paper_claims.yaml).
Readings where it is silent (labelled "reading"): optimiser, learning rate, batch size, augmentation (the same
for the three models); **the CNN's epochs (30)**: the paper says only that its validation accuracy "reaches a
plateau by the 17th epoch", 30 leaves room to see it; **ResNet18's epochs (60)**: not given at all; the number of
seeds (the paper reports one run; 3 give the spread a verdict needs); full passes over Training each epoch.
smoke and cpu budgets are cuts (seconds on synthetic faces; about one pass over FER2013 on 2 CPU cores), never
the paper's recipe.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..study.claims import claim
from ..runs.plans import layered_settings
from ..runs.spec import RunSpec

NOTEBOOK, PAPER = "03", "p3"
MODELS = {"CNN": "ZhaoCNN", "VGG": "ZhaoVGG", "ResNet18": "resnet18"}   # table row -> registry name
PAPER_ROW = {"CNN": "CNN", "VGG": "VGG", "ResNet18": "ResNet"}          # row names of the claims (abstract)
CLAIMS = {"CNN": "abstract · §IV-C plateau (Fig. 2)", "VGG": "abstract · §IV-C 30 + 60 epochs (Fig. 3)",
          "ResNet18": "abstract · §V final model · Table I (Fig. 4)"}   # what each model's runs measure
SMOKE_DATA = {"counts": {"Training": 192, "PublicTest": 70, "PrivateTest": 70}, "seed": 0}
CLASS_NAMES = {"angry": "Anger", "disgust": "Disgust", "fear": "Fear", "happy": "Happy", "sad": "Sad",
               "surprise": "Surprise", "neutral": "Neutral"}                # ours -> Table I's
ACC_SPLITS = ("PrivateTest", "PublicTest", "PrivateTest dedup")  # the test split first, then the selection split
SPLITS = {"train": ("Training",), "val": ("PublicTest",), "evaluate": ("PrivateTest", "PublicTest")}

_VGG_PHASES = (int(claim(PAPER, "text §IV-C", "VGG", "initial training phase")),       # 30
               int(claim(PAPER, "text §IV-C", "VGG", "subsequent training phase")))    # 60

# The training recipe, the same for the three models: (value, where it comes from).
RECIPE = {
    "optimizer": ("adam", "reading: not given; Adam (fused update), betas (0.9, 0.999), no weight decay"),
    "lr": (1e-3, "reading: not given; Adam's standard rate, constant (no schedule is mentioned)"),
    "batch_size": (64, "reading: not given; the usual FER2013 batch"),
    "augment": ("standard", "reading: not given; flip + rotation ±10° + shift ±10 % + zoom 0.9-1.1"),
    "init_std": (0.04, "paper §III.B, §IV.B: conv weights N(0, 0.04) for the CNN and VGG (0: PyTorch's init)"),
    "resnet_gaussian_init": (False, "reading: the paper lists the Gaussian init under the CNN; ResNet18 keeps "
                                    "torchvision's Kaiming init"),
    "resnet_small_input": (False, "paper §III.B: 7×7 stride-2 stem + max-pool (True: a CIFAR-style stem, not the "
                                  "paper)"),
    "saturation_pp": (1.0, "reading: the VGG's 'no significant change' made a number (pp of best PublicTest "
                           "accuracy)"),
}

# Budgets per profile. smoke: the paper-sized models on a few hundred synthetic faces (seconds); cpu: real
# FER2013 cut to about 20 min on 2 CPU cores (notebook 03 gives the arithmetic); full: the paper, on a GPU.
# (The notebook's old `checkpoint` flag is gone: the run store checkpoints every run under its key.)
BUDGETS = {
    "smoke": dict(seeds=[0, 1], epochs={"CNN": 2, "VGG": 2, "ResNet18": 2}, max_batches=1,
                  speed_batches=[1, 32], speed_repeats=5, speed_seconds=0.5, vgg_phase1=None),
    "cpu": dict(seeds=[0], epochs={"CNN": 5, "VGG": 5, "ResNet18": 5}, max_batches=100,
                speed_batches=[1, 256], speed_repeats=50, speed_seconds=8.0, vgg_phase1=None),
    "full": dict(seeds=[0, 1, 2], epochs={"CNN": 30, "VGG": sum(_VGG_PHASES), "ResNet18": 60}, max_batches=None,
                 speed_batches=[1, 256], speed_repeats=200, speed_seconds=20.0, vgg_phase1=_VGG_PHASES[0]),
}
# Where the full profile's budget comes from (smoke and cpu are cuts: "budget").
FULL_SOURCES = {
    "seeds": "reading: the paper reports one run; 3 seeds give the spread a verdict needs",
    "epochs": "CNN 30: reading (not given; its val accuracy 'reaches a plateau by the 17th epoch', §IV.C) · "
              "VGG 90: paper §IV.C (30 epochs 'followed by a subsequent 60', one run) · ResNet18 60: reading "
              "(not given)",
    "max_batches": "reading: full passes over Training (None)",
    "vgg_phase1": "paper §IV.C: the end of the VGG's initial 30-epoch phase",
}
PARAMETERS = tuple(RECIPE) + tuple(BUDGETS["full"])   # every name `plan` and `settings` take as an override


def settings(profile: str, **overrides) -> dict[str, dict]:
    """{name: {"value", "source"}} of the recipe and the profile's budget, overrides applied (None = keep).

    `epochs` may be one number (every model) or {model: epochs}. An unknown name raises naming it."""
    def normalise(k, v, out):
        if k != "epochs":
            return v
        if not isinstance(v, dict):
            return {m: int(v) for m in MODELS}
        if set(v) - set(MODELS):
            raise ValueError(f"p3_zhao: epochs={v!r}: keys must be among {list(MODELS)}")
        return {**out["epochs"]["value"], **{m: int(e) for m, e in v.items()}}
    return layered_settings("p3_zhao", RECIPE, BUDGETS, profile, overrides, full_sources=FULL_SOURCES,
                            normalise=normalise)


def values(profile: str, **overrides) -> dict:
    """{name: value} of `settings`."""
    return {k: s["value"] for k, s in settings(profile, **overrides).items()}


def choices(profile: str, **overrides) -> pd.DataFrame:
    """The settings as a table: value and source (paper / reading / budget / override)."""
    return pd.DataFrame(settings(profile, **overrides)).T.rename_axis("parameter")


def model_kw(arm: str, s: dict) -> dict:
    """Registry kwargs of one model under the settings `s` (values)."""
    init_std = s["init_std"] or None            # 0 / None: PyTorch's (torchvision's) default init
    if arm == "ResNet18":
        return {"num_classes": 7, "small_input": bool(s["resnet_small_input"]),
                "init_std": init_std if s["resnet_gaussian_init"] else None}
    return {"num_classes": 7, "init_std": init_std}


def train_config(arm: str, s: dict) -> dict:
    """TrainConfig fields of one model's run under the settings `s` (values)."""
    return {"epochs": int(s["epochs"][arm]), "batch_size": int(s["batch_size"]), "lr": float(s["lr"]),
            "optimizer": s["optimizer"], "augment": s["augment"], "max_batches": s["max_batches"],
            "select": "val_acc"}


def plan(profile: str, **overrides) -> list[RunSpec]:
    """One run per model and seed: train on Training, choose the epoch on PublicTest, score PrivateTest and
    PublicTest. The CNN keeps its weights outside smoke (notebook 03b's real-time classifier)."""
    s = values(profile, **overrides)
    dataset, data_kw = ("synthetic", SMOKE_DATA) if profile == "smoke" else ("fer2013", {})
    return [RunSpec(notebook=NOTEBOOK, paper=PAPER, arm=arm, model=model, model_kw=model_kw(arm, s),
                    dataset=dataset, data_kw=data_kw, config=train_config(arm, s), seed=seed,
                    keep=("weights",) if arm == "CNN" and profile != "smoke" else (),
                    tags={"claim": CLAIMS[arm], "claim_row": PAPER_ROW[arm]}, **SPLITS)
            for arm, model in MODELS.items() for seed in s["seeds"]]


# ------------------------------------------------------------------------------------------------ analyses
def accuracies(runs, dedup: np.ndarray) -> dict[tuple[str, str], list[float]]:
    """{(model, split): [accuracy per stored seed]} for ACC_SPLITS; "PrivateTest dedup" keeps the PrivateTest
    images that have no byte-identical copy in Training (`dedup`, a mask over PrivateTest)."""
    out = {(n, s): runs.metric(s)[n] for n in MODELS for s in ACC_SPLITS[:2]}
    out.update({(n, "PrivateTest dedup"): [p.subset(dedup).accuracy for p in runs.predictions(n, "PrivateTest") if p]
                for n in MODELS})
    return out


def confusions(runs, acc: dict) -> tuple[str, dict[int, pd.DataFrame]]:
    """Table I's model and matrices: the model with the best mean PublicTest accuracy (chosen on validation, not
    test) and its row-normalised PrivateTest confusion matrix per stored seed, in Table I's class names."""
    best = max(MODELS, key=lambda n: np.mean(acc[n, "PublicTest"]) if acc[n, "PublicTest"] else -1)
    stored = [p.spec for p in runs.planned if p.spec.arm == best and runs.record(p.spec) is not None]
    return best, {s.seed: runs.predictions(s, "PrivateTest").confusion("true").rename(index=CLASS_NAMES,
                                                                                       columns=CLASS_NAMES)
                  for s in stored}


def plateau_epoch(history: pd.DataFrame) -> int:
    """The CNN's "plateau" (§IV.C): the epoch (1-based) of the best PublicTest accuracy."""
    return int(np.argmax(history["val_acc"].to_numpy())) + 1


def saturation_epoch(history: pd.DataFrame, saturation_pp: float) -> int:
    """The VGG's "no significant change after epoch N" (§IV.C): the first epoch (1-based) after which the best
    PublicTest accuracy so far still gains less than `saturation_pp` percentage points."""
    best_so_far = history["val_acc"].cummax()
    gain_after = best_so_far.iloc[-1] - best_so_far
    return int(np.flatnonzero(gain_after.to_numpy() < saturation_pp / 100)[0]) + 1


def curves_figure(histories: dict[int, pd.DataFrame], title: str, best_epochs: bool = False,
                  mark: tuple[float, str] | None = None):
    """Figs 2-4: training (dashed) and PublicTest (solid) curves per seed; `best_epochs` marks each seed's best
    PublicTest epoch (grey), `mark` = (epoch, label) one of the paper's epochs (red)."""
    from ..study import plots
    fig = plots.learning_curves({f"seed {s}": h for s, h in histories.items()}, title)
    ax = fig.axes[0]
    for h in histories.values() if best_epochs else ():
        ax.axvline(plateau_epoch(h), color="grey", lw=0.8, ls=":")
    if mark is not None:
        ax.axvline(mark[0], color="red", lw=1, ls="--", label=mark[1])
        ax.legend(fontsize=7)
    return fig


def confusion_figure(ours_cm: pd.DataFrame, paper_cm: pd.DataFrame, title: str):
    """Table I beside ours: two row-normalised confusion heatmaps (rows true class, columns predicted)."""
    import matplotlib.pyplot as plt

    from ..study import plots
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    plots.confusion_heatmap(ours_cm, title, ax=axes[0])
    plots.confusion_heatmap(paper_cm, "paper: Table I", ax=axes[1])
    fig.tight_layout()
    return fig


def vgg_phase_change(histories: list[pd.DataFrame], phase1: int) -> pd.DataFrame:
    """Mean over seeds of the training and PublicTest accuracy and loss at the end of the VGG's first phase
    (epoch `phase1`) and at its last epoch, and the change between them (§IV.C: "no significant changes")."""
    cols = ["train_acc", "train_loss", "val_acc", "val_loss"]
    at = pd.DataFrame({f"epoch {phase1}": pd.concat([h.iloc[phase1 - 1][cols] for h in histories], axis=1).mean(axis=1),
                       f"epoch {len(histories[0])}": pd.concat([h.iloc[-1][cols] for h in histories], axis=1).mean(axis=1)})
    at["change"] = at.iloc[:, 1] - at.iloc[:, 0]
    return at


def table_i_consistency(paper_cm: pd.DataFrame, ours_cm: pd.DataFrame, counts: pd.Series, stated: float,
                        ours_acc: float, best: str, dataset: str) -> tuple[pd.DataFrame, str]:
    """Is Table I a row-normalised confusion matrix? Its rows must sum to 1 and its diagonal, weighted by the test
    split's class counts, must equal the overall accuracy (`stated`, a fraction). Ours is checked the same way.
    Returns the per-class table and the findings as text."""
    diag, ours_diag = pd.Series(np.diag(paper_cm), index=paper_cm.index), np.diag(ours_cm)
    table = pd.DataFrame({"paper row sum": paper_cm.sum(axis=1), "paper diagonal": diag,
                          "ours row sum": ours_cm.sum(axis=1), "ours diagonal": pd.Series(ours_diag, index=ours_cm.index),
                          f"{dataset} PrivateTest images": counts})
    paper_weighted = float((diag * counts).sum() / counts.sum())
    ours_weighted = float((ours_diag * counts.to_numpy()).sum() / counts.sum())
    sums = paper_cm.sum(axis=1)
    text = (f"paper: rows summing to 1 ± 0.005: {int((sums.sub(1).abs() <= 0.005).sum())} of 7 "
            f"(sums {sums.min():.2f} to {sums.max():.2f})\n"
            f"paper: mean diagonal {diag.mean():.3f}; class-count-weighted diagonal {paper_weighted:.3f} "
            f"vs the stated overall {stated:.3f} (a gap of {100 * (paper_weighted - stated):+.1f} pp)\n"
            f"ours ({best}): class-count-weighted diagonal {ours_weighted:.4f} = mean PrivateTest accuracy "
            f"{ours_acc:.4f} (a consistent matrix)")
    return table, text


def save_realtime_classifier(runs, profile: str, dataset: str):
    """Notebook 03b and `python -m fer_lib.realtime` read the CNN from realtime.DEFAULT_CHECKPOINT (git-ignored):
    written from the last stored CNN run whose weights are here (never from smoke: a classifier of synthetic
    faces). Returns the path, or None with the reason printed."""
    import torch

    from .. import realtime as rt
    from ..models import create_model
    from ..core.paths import project_root
    from ..runs import Store
    if profile == "smoke":
        return None
    store = Store.for_profile(profile)
    got = [(s, r) for s, r in zip(runs.planned, runs.records) if s.spec.arm == "CNN" and r is not None
           and (store.artefact_dir(r["key"]) / "weights.pt").exists()]
    if not got:
        print("real-time classifier not written: no stored CNN run has its weights on this machine")
        return None
    p, rec = got[-1]
    model = create_model(p.spec.model, **p.spec.model_kw)
    model.load_state_dict(torch.load(store.artefact_dir(rec["key"]) / "weights.pt", map_location="cpu"))
    cfg = p.spec.train_config()
    path = rt.save_checkpoint(project_root() / rt.DEFAULT_CHECKPOINT, model, p.spec.model, p.spec.model_kw,
                              mean=cfg.mean, std=cfg.std, profile=profile, dataset=dataset, seed=p.spec.seed,
                              epochs=cfg.epochs, run_key=rec["key"])
    print(f"real-time classifier (CNN, seed {p.spec.seed}, run {rec['key']}) saved to {rt.DEFAULT_CHECKPOINT}")
    return path
