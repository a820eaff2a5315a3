"""Paper 2's runs and analyses: "ResNet50 transfer for facial expression recognition" on 48×48 FER2013 (§2-3,
Tables 1-2). Notebook 02 assembles the records of `plan(profile)` and calls the analyses below.

Three models (registry names VanillaCNN, ResidualCNN, ResNet50Transfer) trained with the paper's Table 1 recipe:
- Table 2 on the paper's random 80/20 split of all 35,887 images (the 20 % is both its validation curve and
  its test set, as the text describes), and the same recipe on FER2013's official split (Training → PrivateTest,
  our addition: the random split leaks byte-identical images into the test part);
- ablations on the random split, Vanilla CNN (and Residual CNN for BN): class weights (inverse frequency, none;
  the paper's vector is the Table 2 run) and batch norm off (§3's "BN increases the convergence speed by 31 %",
  scored by fer_lib.papers.p2_convergence's absolute-target reading) — ≥ 3 seeds in the cpu and full profiles.

Each Table 2 run carries its own duplicate audit (hook `p2.leak`): the positions, in the order of the record's
test predictions, of the images with a byte-identical copy among its training images — so "(dedup)" numbers
index exactly the images the record's predictions are for.

The ResNet50 arms need ImageNet weights: a frozen RANDOM backbone is no transfer learning (22 % in the cpu run),
so in the full profile they are planned only when the weights can be read without the network — torchvision's
file in the torch hub cache (`resnet_weights="imagenet"`) or a user-supplied file (`resnet_weights=PATH`) — and
otherwise listed by `not_run(profile)` as "not run — no ImageNet weights". A model hook checks at build time that
the weights really loaded (never a silent fallback to random init in a planned transfer run).

What the paper states (read from paper_claims.yaml, labelled "paper"): Adam lr 1e-4, β (0.9, 0.999), 60 epochs,
batch 32 (Table 1); class weights w (text §3); the 80/20 random split.
Readings where it is silent (`READINGS`): augmentation magnitudes, input normalisation, the reported epoch (the
last: no early stopping on a split that is also the test set), the split seed, 3 seeds, the convergence target.
smoke and cpu budgets are cuts (seconds on synthetic faces; about half a FER2013 epoch per run on 2 CPU cores).
On the random split the validation curve and the test numbers are the same images (the paper's design), so
`val_n` caps both; on the official split `val_n` caps PublicTest (the curve) and `test_n` PrivateTest.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..study.claims import claim
from ..models.transfer import imagenet_weights_file
from ..runs.hooks import register
from ..runs.plans import layered_settings
from ..runs.spec import RunSpec, hook

NOTEBOOK, PAPER = "02", "p2"
MODELS = {"Vanilla CNN": "VanillaCNN", "Residual block + CNN": "ResidualCNN", "ResNet50 + CNN": "ResNet50Transfer"}
RESNET = "ResNet50 + CNN"
CNNS = ("Vanilla CNN", "Residual block + CNN")
NOT_RUN_NO_WEIGHTS = "not run — no ImageNet weights"

PAPER_SETTINGS = {   # (value, where it comes from): read from the claims file, never typed in here
    "lr": (claim(PAPER, "Table 1", "Learning Rate", "Value"), "paper Table 1"),
    "betas": ([claim(PAPER, "Table 1", "β1", "Value"), claim(PAPER, "Table 1", "β2", "Value")], "paper Table 1"),
    "epochs": (int(claim(PAPER, "Table 1", "Epoch", "Value")), "paper Table 1"),
    "batch_size": (int(claim(PAPER, "Table 1", "Batch Size", "Value")), "paper Table 1"),
    "class_weights": ([claim(PAPER, "text §3", "loss class weights", f"w[{i}]") for i in range(7)],
                      "paper text §3: w = [0.1, 0.3, 0.3, 1.0, 0.3, 0.3, 0.1] in FER2013's label order"),
    "split_fractions": ([0.8, 0.2], "paper §3: 80 % of the entire dataset to train, 20 % to test"),
}
READINGS = {
    "optimizer": ("adam", "paper Table 1 names Adam's β1, β2"),
    "augment": ("standard", "reading: flip, rotation ±10°, shift ±10 %, scale 0.9-1.1, zero fill (no magnitudes "
                            "given)"),
    "select": ("last", "reading: the last epoch (the 20 % is also the test set: no selection on it)"),
    "resnet_norm": ("imagenet", "reading: grey mean 0.449, std 0.226 for the ImageNet backbone ('half': 0.5, 0.5)"),
    "resnet_weights": ("imagenet", "paper: ImageNet; torchvision's IMAGENET1K_V1 from the torch hub cache, or a "
                                   "file path; the full profile runs the ResNet50 arms only when they load"),
    "split_seed": (0, "reading: the seed of the random 80/20 split"),
    "seeds": ([0, 1, 2], "reading: the paper reports one run; 3 seeds give the spread a verdict needs"),
    "ablation_seeds": ([0, 1, 2], "issue 19: ≥ 3 seeds for the class-weight and BN ablations (cheap CNN runs)"),
    "convergence_margin": (0.20, "reading: convergence target = majority-class share + 20 pp, one absolute "
                                 "target for every run (fer_lib.papers.p2_convergence)"),
    "convergence_window": (3, "reading: epochs in the trailing mean the target is read on"),
}
NARROW = {"VanillaCNN": {"channels": [8, 16, 32, 64], "fc_hidden": 64},
          "ResidualCNN": {"plain_channels": [8, 16], "res_channels": [32, 32], "fc_hidden": 64}}
BUDGETS = {
    "smoke": dict(dataset="synthetic", data_kw={"counts": {"train": 560, "val": 140, "test": 140}, "seed": 0},
                  widths="narrow", epochs=3, resnet_epochs=1, max_batches=4, resnet_max_batches=1, cap_seed=1,
                  seeds=[0], ablation_seeds=[0], random_backbone_ok=True, val_n=48, test_n=48),
    "cpu": dict(dataset="fer2013", data_kw={}, widths="paper", epochs=10, resnet_epochs=5, max_batches=40,
                resnet_max_batches=40, cap_seed=1, seeds=[0], ablation_seeds=[0, 1, 2], random_backbone_ok=True,
                val_n=1000, test_n=0),
    "full": dict(dataset="fer2013", data_kw={}, widths="paper", epochs=PAPER_SETTINGS["epochs"][0],
                 resnet_epochs=PAPER_SETTINGS["epochs"][0], max_batches=None, resnet_max_batches=None, cap_seed=1,
                 seeds=READINGS["seeds"][0], ablation_seeds=READINGS["ablation_seeds"][0],
                 random_backbone_ok=False, val_n=0, test_n=0),
}
# random_backbone_ok: train the ResNet50 arms without ImageNet weights (smoke/cpu: a pipeline check); val_n: images
# of the validation split (random split: of the 20 %, which is also its test set); test_n: of PrivateTest (official
# split); 0 = all. The capped images are a fixed random subset drawn with cap_seed (the same for every run).
PARAMETERS = tuple(dict.fromkeys((*BUDGETS["full"], *PAPER_SETTINGS, *READINGS)))
SPLITS = {"synthetic": ("train", "val", "test"), "fer2013": ("Training", "PublicTest", "PrivateTest")}
CLASS_WEIGHTS = {"inverse frequency": "inverse", "none": None}   # the ablation arms beside the Table 2 weights


def settings(profile: str, **overrides) -> dict:
    """{name: value}: the paper's settings, the readings, the profile's budget, then the overrides (None = keep).
    class_weights may be given as "paper", "inverse" or "none"."""
    def normalise(k, v, out):
        if k == "class_weights" and isinstance(v, str):
            if v not in ("paper", "inverse", "none"):
                raise ValueError(f"p2_transfer: class_weights={v!r}: choose paper, inverse, none or a list of 7")
            return {"paper": PAPER_SETTINGS["class_weights"][0], "inverse": "inverse", "none": None}[v]
        return v
    s = {k: d["value"] for k, d in layered_settings("p2_transfer", {**PAPER_SETTINGS, **READINGS}, BUDGETS, profile,
                                                    overrides, normalise=normalise).items()}
    for k in ("seeds", "ablation_seeds"):
        s[k] = [int(x) for x in (s[k] if isinstance(s[k], (list, tuple)) else [s[k]])]
    return s


def sources(profile: str, **overrides) -> dict[str, str]:
    """Where each setting of `profile` comes from: "paper …", "reading: …" or "budget (<profile> profile)"."""
    return {k: d["source"] for k, d in layered_settings("p2_transfer", {**PAPER_SETTINGS, **READINGS}, BUDGETS,
                                                         profile, overrides).items()}


def notebook_overrides(**params) -> dict:
    """Notebook 02's papermill parameters as plan overrides: None keeps the plan's value; `epochs` and
    `max_batches` cut the ResNet50 runs too; `resnet_without_weights` is `random_backbone_ok`."""
    p = {("random_backbone_ok" if k == "resnet_without_weights" else k): v for k, v in params.items() if v is not None}
    for k in ("epochs", "max_batches"):
        if k in p:
            p[f"resnet_{k}"] = p[k]
    return p


def settings_table(profile: str, **overrides) -> pd.DataFrame:
    s, src = settings(profile, **overrides), sources(profile, **overrides)
    return pd.DataFrame({"value": {k: s[k] for k in src}, "where it comes from": src})


def weights_source(s: dict) -> str | None:
    """The model's `pretrained` argument when ImageNet weights can be read here without the network, else None."""
    w = s["resnet_weights"]
    if w in (None, "none"):
        return None
    f = imagenet_weights_file(w)
    return None if f is None else ("imagenet" if w == "imagenet" else str(f))


def not_run(profile: str, **overrides) -> dict[str, str]:
    """{arm: why} of the arms the plan leaves out (the full profile's ResNet50 arms without ImageNet weights)."""
    s = settings(profile, **overrides)
    if s["random_backbone_ok"] or weights_source(s) is not None:
        return {}
    return {f"Table 2 · {RESNET} · {split}": NOT_RUN_NO_WEIGHTS for split in ("random split", "official split")}


@register("p2.require_pretrained", "model", version=1)
def require_pretrained(ctx):
    """Fail the run (naming why) when a planned transfer model's ImageNet weights did not load."""
    def check(model):
        if not getattr(model, "pretrained", False):
            raise RuntimeError(f"{ctx.spec.label}: ImageNet weights did not load ({model.pretrained_note}); "
                               f"a frozen random backbone is not the paper's transfer learning")
        return model
    return check


@register("p2.leak", "metrics", version=1)
def leak(ctx):
    """§1's duplicate leak, per run: positions (in the order of the record's predictions of its first evaluated
    view) of the images with a byte-identical copy among the run's training images (`fer_lib.data.audit`'s
    hashes; near-duplicates are not caught). `dedup_mask(record)` turns them into the record's dedup mask."""
    from ..data.audit import image_hashes

    def metric(model, data):
        split = ctx.spec.evaluate[0]["split"]
        seen = set(image_hashes(data.dataset.subset(data.index["train"])).tolist())
        ev = image_hashes(data.dataset.subset(data.index[f"eval:{split}"]))
        leaked = [i for i, h in enumerate(ev) if h in seen]
        return {"n": len(ev), "n_leaked": len(leaked), "leaked": leaked}
    return metric


def model_kw(name: str, s: dict, batch_norm: bool = True) -> dict:
    if name == RESNET:
        return {"num_classes": 7, "pretrained": weights_source(s)}
    kw = dict(NARROW[MODELS[name]]) if s["widths"] == "narrow" else {}
    return {"num_classes": 7, "batch_norm": batch_norm, **kw}


def train_config(name: str, s: dict, **changes) -> dict:
    """The paper's recipe (Table 1 + weighted CE + augmentation), cut to the profile's budget."""
    resnet = name == RESNET
    norm = {"mean": 0.449, "std": 0.226} if resnet and s["resnet_norm"] == "imagenet" else {"mean": 0.5, "std": 0.5}
    cfg = {"epochs": int(s["resnet_epochs" if resnet else "epochs"]), "batch_size": int(s["batch_size"]),
           "lr": float(s["lr"]), "optimizer": s["optimizer"], "betas": list(s["betas"]),
           "class_weights": s["class_weights"], "augment": s["augment"], "select": s["select"],
           "max_batches": s["resnet_max_batches" if resnet else "max_batches"] or None,
           "eval_batch_size": 64 if resnet else 512, **norm}
    return {**cfg, **changes}


def caps(s: dict, scheme: str) -> dict:
    """RunSpec.cap of a split scheme ("random" or "official"), naming only that scheme's splits: random — the 20 %
    ("test", the curve and the test set) at val_n; official — PublicTest at val_n, PrivateTest at test_n."""
    tr, va, te = SPLITS[s["dataset"]]
    n = {"test": s["val_n"]} if scheme == "random" else {va: s["val_n"], te: s["test_n"]}
    n = {k: int(v) for k, v in n.items() if v}
    return {**n, "seed": int(s["cap_seed"])} if n else {}


def arm(name: str, split: str) -> str:
    """The arm label of a Table 2 run: split is "random" or "official"."""
    return f"Table 2 · {name} · {split} split"


def cw_arm(label: str) -> str:
    return f"ablation: class weights · {label}"


def bn_arm(name: str) -> str:
    return f"ablation: batch norm · {name} without BN"


def plan(profile: str, **overrides) -> list[RunSpec]:
    """Table 2 on the random and the official split (every model), the class-weight and BN ablations
    (`ablation_seeds`); the ResNet50 arms only where `not_run` does not list them."""
    s = settings(profile, **overrides)
    tr, va, te = SPLITS[s["dataset"]]
    random_split = {"kind": "random", "fractions": list(s["split_fractions"]), "names": ["train", "test"],
                    "seed": int(s["split_seed"])}
    skip = not_run(profile, **overrides)
    common = dict(notebook=NOTEBOOK, paper=PAPER, dataset=s["dataset"], data_kw=s["data_kw"])
    random_roles = dict(split=random_split, train=("train",), val=("test",), evaluate=("test",),
                        cap=caps(s, "random"))
    official_roles = dict(split={}, train=(tr,), val=(va,), evaluate=(te,), cap=caps(s, "official"))
    specs = []

    def add(arm_, name, roles, seeds, bn=True, tags=None, leak_=False, **cfg_changes):
        if arm_ in skip:
            return
        hooks = ((hook("p2.require_pretrained"),) if name == RESNET and weights_source(s) else ()) + \
                ((hook("p2.leak"),) if leak_ else ())
        for seed in seeds:
            specs.append(RunSpec(arm=arm_, model=MODELS[name], model_kw=model_kw(name, s, bn), seed=seed,
                                 config=train_config(name, s, **cfg_changes), hooks=hooks,
                                 tags={"model": name, **(tags or {})}, **roles, **common))

    for name in MODELS:   # the CNNs' random-split runs are also the ablations' baselines: their seeds too
        seeds = s["seeds"] if name == RESNET else sorted(set(s["seeds"]) | set(s["ablation_seeds"]))
        add(arm(name, "random"), name, random_roles, seeds, tags={"claim": "Table 2", "split": "random 80/20"},
            leak_=True)
        add(arm(name, "official"), name, official_roles, s["seeds"],
            tags={"claim": "Table 2 (official split)", "split": "official"}, leak_=True)
    for label, cw in CLASS_WEIGHTS.items():
        add(cw_arm(label), "Vanilla CNN", random_roles, s["ablation_seeds"],
            tags={"claim": "ablation: class weights", "ablation": "class weights", "weights": label},
            class_weights=cw)
    for name in CNNS:
        add(bn_arm(name), name, random_roles, s["ablation_seeds"], bn=False,
            tags={"claim": "text §3 (BN)", "ablation": "batch norm", "batch_norm": False})
    return specs


# ------------------------------------------------------------------------------------------------ data and models
def datasets(profile: str, data_root=None, **overrides):
    """(dataset, its random 80/20 split, the split's warning text) as the plan's runs load them (§1; the embedded
    synthetic stand-in in smoke)."""
    from ..data import splits
    from ..runs.data import load_dataset
    s = settings(profile, **overrides)
    ds = load_dataset(s["dataset"], data_root, s["data_kw"])[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds_rand = splits.random_split(ds, tuple(s["split_fractions"]), ("train", "test"), seed=int(s["split_seed"]))
    return ds, ds_rand, " | ".join(str(w.message) for w in caught if "random_split" in str(w.message))


def leak_audit(ds, ds_rand, s: dict) -> tuple[dict, pd.DataFrame]:
    """§1: byte-identical images across train → test, on the whole random split and the whole official split
    (`fer_lib.data.audit`): (the random split's duplicate summary, one row per split scheme)."""
    from ..data import audit
    tr, _, te = SPLITS[s["dataset"]]
    rows = []
    for name, d, a, b in (("random 80/20: train → test", ds_rand, "train", "test"),
                          (f"official: {tr} → {te}", ds, tr, te)):
        keep, summ = audit.dedup_test_mask(d, a, b), audit.duplicate_summary(d)
        rows.append({"split": name, "test images": len(keep), "with a byte-identical copy in train": int((~keep).sum()),
                     "share (%)": round(100 * (~keep).mean(), 2),
                     "duplicate groups spanning the two": summ["groups_per_split_pair"].get(f"{a}/{b}", 0)})
        if d is ds_rand:
            leak_summary = summ
    return leak_summary, pd.DataFrame(rows).set_index("split")


def model_summaries() -> str:
    """torchinfo summaries of the three models at the paper's widths, 48×48 grey input (architecture only)."""
    from torchinfo import summary
    from ..models.registry import create_model
    arch = create_model("ResNet50Transfer", pretrained=None)
    lines = []
    for name, m in (("Vanilla CNN", create_model("VanillaCNN")), ("Residual block + CNN", create_model("ResidualCNN")),
                    (RESNET, arch)):
        t = summary(m, input_size=(2, 1, 48, 48), verbose=0, depth=1, col_names=("output_size", "num_params"))
        lines.append(f"{name}: {t.total_params:,} parameters, {t.trainable_params:,} trainable")
    lines.append(str(summary(arch, input_size=(2, 1, 48, 48), verbose=0, depth=2,
                             col_names=("output_size", "num_params"))))
    return "\n".join(lines)


def backbone_status(s: dict) -> tuple[bool, str, bool]:
    """(ImageNet weights loaded, the model's pretrained_note, the ResNet50 arms are planned), probed by building
    the model once as the runs will (no training)."""
    from ..models.transfer import ResNet50Transfer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the note says it plainly
        probe = ResNet50Transfer(pretrained=weights_source(s) or ("imagenet" if s["resnet_weights"] == "imagenet"
                                                                  else None))
    return bool(probe.pretrained), probe.pretrained_note, bool(s["random_backbone_ok"] or weights_source(s))


def backbone_markdown(pretrained: bool, note: str, planned: bool) -> str:
    head = (f"**ResNet50 backbone weights: {'ImageNet (loaded)' if pretrained else 'NOT ImageNet — random initialisation'}.**"
            f" `pretrained_note`: {note}.")
    if pretrained:
        return head
    if planned:
        return head + (" Every ResNet50 result below therefore measures a **frozen random backbone** with a trained "
                       "head, not the paper's transfer learning, and is recorded with `pretrained: false` (a pipeline "
                       "check of this profile).")
    return head + (" The ResNet50 arms are therefore **not run** in this profile: recorded *" + NOT_RUN_NO_WEIGHTS
                   + "* (supply the weights with `resnet_weights=PATH` or the torch hub cache).")


def feature_cube() -> str:
    """§2.2 says the refined feature cube is 1×1×128 at 48×48: our reading's shapes (weights do not matter)."""
    import torch
    from ..models.transfer import ResNet50Transfer
    m = ResNet50Transfer(pretrained=None).eval()
    with torch.no_grad():
        b = m.backbone(torch.zeros(1, 1, 48, 48))
        cube = m.refine(b)
    c = lambda k: claim(PAPER, "text §2.2", "refined feature cube", k)
    return (f"backbone output {tuple(b.shape[1:])}, refined cube {tuple(cube.shape[1:])}; paper: "
            f"{c('H'):g}x{c('W'):g}x{c('C'):g}")


# ------------------------------------------------------------------------------------------------ records
def stored(runs, arm_: str, seeds=None) -> list[dict]:
    """The stored records of an arm (fer_lib.runs.Runs), in plan (seed) order; `seeds` keeps only those seeds."""
    sel = runs.select(arm=arm_)
    return [r for p, r in zip(sel.planned, sel.records)
            if r is not None and (seeds is None or p.spec.seed in seeds)]


def seeds_of(records: list[dict]) -> list[int]:
    return [r["spec"]["seed"] for r in records]


def test_view(rec: dict) -> str:
    return rec["spec"]["evaluate"][0]["name"]


def test_predictions(rec: dict):
    from ..runs.store import predictions
    return predictions(rec, test_view(rec))


def accuracy(rec: dict) -> float:
    return rec["metrics"][test_view(rec)]["accuracy"]


def train_accuracy(rec: dict) -> float:
    """Table 2's Train Acc (a reading): the running accuracy over the reported epoch's augmented training batches."""
    from ..runs.store import history
    return float(history(rec)["train_acc"].iloc[rec["best_epoch"]])


def dedup_mask(rec: dict):
    """Boolean mask over the record's test predictions: True for images without a byte-identical copy in its
    training images (from the run's own `p2.leak` audit)."""
    m = rec["metrics"]["p2.leak"]
    keep = np.ones(int(m["n"]), dtype=bool)
    keep[np.asarray(m["leaked"], dtype=int)] = False
    return keep


def pretrained(rec: dict) -> bool:
    """Whether a run's model started from ImageNet weights (the require_pretrained hook fails a run whose
    requested weights did not load); the CNNs are trained from scratch."""
    return rec["spec"]["model"] == MODELS[RESNET] and rec["spec"]["model_kw"].get("pretrained") is not None


def throughput(runs) -> pd.DataFrame:
    """Per model, from the stored records: training img/s of the engine (incl. the per-epoch validation), seconds
    of training and of the final evaluation per run, runs stored (what the cpu budget arithmetic rests on)."""
    from ..runs.store import history
    rows = {}
    for p, r in zip(runs.planned, runs.records):
        if r is not None:
            d = rows.setdefault(p.spec.tags["model"], {"img/s": [], "train s": [], "eval s": []})
            d["img/s"].append(float(history(r)["img_per_s"].mean()))
            d["train s"].append(r["train_seconds"])
            d["eval s"].append(r["eval_seconds"])
    return pd.DataFrame({m: {"train img/s (engine)": np.mean(d["img/s"]), "train s per run": np.mean(d["train s"]),
                             "eval s per run": np.mean(d["eval s"]), "runs stored": len(d["img/s"])}
                         for m, d in rows.items()}).T


def _claim(source, row, column, values, **kw) -> dict:
    return {"paper": PAPER, "source": source, "row": row, "column": column, "values": values, **kw}


def _common(recs, dataset, seeds=None) -> dict:
    return {"dataset": dataset, "seeds": seeds if seeds is not None else seeds_of(recs),
            "config": recs[0]["spec"]["config"] if recs else None,
            "pretrained": pretrained(recs[0]) if recs else False}


def table2_claims(runs, s: dict, profile: str, dataset: str, not_run_arms: dict) -> list[dict]:
    """Table 2 (random 80/20 split) and our official-split columns: run.record(**row) arguments. Val Acc is on
    the 20 % (cpu: its fixed `val_n` subset); "(dedup)" / "(leaked copies)" split those very images by the
    run's own duplicate audit; PrivateTest columns come from the official-split arms."""
    tr, va, te = SPLITS[s["dataset"]]
    out = []
    for arm_, why in not_run_arms.items():   # the full profile without ImageNet weights: the paper's cells
        cols = ("Train Acc", "Val Acc") if "random" in arm_ else ("PrivateTest Acc",)
        for col in cols:
            out.append(_claim("Table 2", RESNET, col, [], dataset=dataset, seeds=s["seeds"], pretrained=False,
                              split="test (20 %)" if col != "PrivateTest Acc" else te, note=why))
    for name in MODELS:
        if arm(name, "random") in not_run_arms:
            continue
        recs = stored(runs, arm(name, "random"))
        kw = {**_common(recs, dataset), "note": f"random 80/20 split (seed {s['split_seed']}) of the whole dataset; "
                                                 f"{profile} budget"}
        preds = [test_predictions(r) for r in recs]
        masks = [dedup_mask(r) for r in recs]
        out += [_claim("Table 2", name, "Train Acc", [train_accuracy(r) for r in recs],
                       split="train (running, augmented)", **kw),
                _claim("Table 2", name, "Val Acc", [accuracy(r) for r in recs], split="test (20 %)", **kw),
                _claim("Table 2", name, "Val Acc (dedup)", [p.subset(m).accuracy for p, m in zip(preds, masks)],
                       split="test (20 %) without images that have a copy in train", **kw)]
        if any((~m).any() for m in masks):
            out.append(_claim("Table 2", name, "Val Acc (leaked copies)",
                              [p.subset(~m).accuracy for p, m in zip(preds, masks)],
                              split="test (20 %) images that have a copy in train", **kw))
    for name in MODELS:
        if arm(name, "official") in not_run_arms:
            continue
        recs = stored(runs, arm(name, "official"))
        kw = {**_common(recs, dataset), "note": f"official split: trained on {tr}, curve on {va}; {profile} budget"}
        out += [_claim("Table 2", name, "PrivateTest Acc", [accuracy(r) for r in recs], split=te, **kw),
                _claim("Table 2", name, "PrivateTest Acc (dedup)",
                       [test_predictions(r).subset(dedup_mask(r)).accuracy for r in recs],
                       split=f"{te} without images that have a copy in {tr}", **kw)]
    return out


# Our extra columns sit beside the paper's Val Acc (the only held-out number it gives).
TABLE2_MAP = {(m, c): (m, "Val Acc") for m in MODELS for c in ("Val Acc (dedup)", "Val Acc (leaked copies)",
                                                                "PrivateTest Acc", "PrivateTest Acc (dedup)")}


def text3_claims(runs, s: dict, dataset: str, not_run_arms: dict) -> list[dict]:
    """Text §3's repeated numbers ("about 68 %", "around 70 %", 85.7 %, "86 % … 16 % higher than the benchmark
    CNN"): the random-split runs' test accuracies; the gain over the seeds both models share."""
    common = dict(dataset=dataset, split="test (20 %)")
    out = []
    for name in CNNS:
        recs = stored(runs, arm(name, "random"))
        out.append(_claim("text §3", name, "val accuracy approx (%)", [accuracy(r) for r in recs], pretrained=False,
                          seeds=seeds_of(recs), **common))
    if arm(RESNET, "random") in not_run_arms:
        for row, col in ((RESNET, "val accuracy (%)"), (RESNET, "test accuracy (%)"),
                         ("ResNet50 + CNN vs benchmark CNN", "test accuracy gain")):
            out.append(_claim("text §3", row, col, [], pretrained=False, seeds=s["seeds"], note=NOT_RUN_NO_WEIGHTS,
                              **({"unit": "pp"} if col == "test accuracy gain" else {}), **common))
        return out
    res = {r["spec"]["seed"]: r for r in stored(runs, arm(RESNET, "random"))}
    van = {r["spec"]["seed"]: r for r in stored(runs, arm("Vanilla CNN", "random"))}
    pre = any(pretrained(r) for r in res.values())
    for col in ("val accuracy (%)", "test accuracy (%)"):
        out.append(_claim("text §3", RESNET, col, [accuracy(r) for r in res.values()], pretrained=pre,
                          seeds=list(res), note="the paper's test set is its 20 % split, the same images as its "
                                                "validation set", **common))
    both = [k for k in res if k in van]
    out.append(_claim("text §3", "ResNet50 + CNN vs benchmark CNN", "test accuracy gain",
                      [100 * (accuracy(res[k]) - accuracy(van[k])) for k in both], unit="pp", pretrained=pre,
                      seeds=both, note="ResNet50 + CNN minus Vanilla CNN, 20 % split, same seeds", **common))
    return out


def class_weight_arms(s: dict) -> dict[str, str]:
    """{label: arm} of §6a: the Table 2 run's weights (the paper's w unless overridden) and the ablation arms."""
    main = "paper w" if s["class_weights"] == PAPER_SETTINGS["class_weights"][0] else f"Table 2's ({s['class_weights']})"
    return {main: arm("Vanilla CNN", "random"), **{k: cw_arm(k) for k in CLASS_WEIGHTS}}


def class_weight_claims(runs, s: dict, profile: str, dataset: str, classes) -> tuple[list[dict], pd.DataFrame]:
    """§6a (text §3's w): Val Acc, macro recall / F1 and per-class recall of the Vanilla CNN under each weighting,
    over the ablation seeds: (run.record rows, the table of means)."""
    out, rows = [], []
    for label, arm_ in class_weight_arms(s).items():
        recs = stored(runs, arm_, s["ablation_seeds"])
        reps = [test_predictions(r).report() for r in recs]
        metrics = {"Val Acc": [accuracy(r) for r in recs],
                   "macro recall": [x.loc["macro avg", "recall"] for x in reps],
                   "macro F1": [x.loc["macro avg", "f1"] for x in reps],
                   **{f"{c} recall": [x.loc[c, "recall"] for x in reps] for c in classes}}
        for col, v in metrics.items():
            out.append(_claim("ablation: class weights", label, col, v, split="test (20 %)", pretrained=False,
                              note=f"Vanilla CNN, random 80/20 split; {profile} budget", **{
                                  k: w for k, w in _common(recs, dataset).items() if k != "pretrained"}))
        rows.append({"weights": label, **{k: np.mean(v) if v else float("nan") for k, v in metrics.items()}})
    return out, pd.DataFrame(rows).set_index("weights")


def convergence(runs, s: dict) -> tuple[pd.DataFrame, float, float]:
    """§6b (text §3, "BN increases the convergence speed by 31 %"), issue 19 item 17's reading: per CNN and
    ablation seed, epochs until the trailing `convergence_window`-epoch mean validation accuracy reaches ONE
    absolute target (majority-class share of the curve's images + `convergence_margin`), NaN when never reached;
    with BN = the Table 2 random-split run, without = the ablation run (same seed, recipe, budget).
    Returns (table indexed by model, seed, run; target; majority share)."""
    from . import p2_convergence as conv
    from ..runs.store import history
    recs = [r for name in CNNS for r in stored(runs, arm(name, "random")) + stored(runs, bn_arm(name))]
    if not recs:
        return pd.DataFrame(), float("nan"), float("nan")
    y = test_predictions(recs[0]).y_true   # the 20 %: the validation curve's images are the test view's
    majority = conv.majority_share(y, len(recs[0]["classes"]))
    target = conv.absolute_target(majority, s["convergence_margin"])
    pairs = {}
    for name in CNNS:
        bn = {r["spec"]["seed"]: history(r) for r in stored(runs, arm(name, "random"), s["ablation_seeds"])}
        nobn = {r["spec"]["seed"]: history(r) for r in stored(runs, bn_arm(name), s["ablation_seeds"])}
        for seed in s["ablation_seeds"]:
            if seed in bn and seed in nobn:
                pairs[name, seed] = {"BN": bn[seed], "no BN": nobn[seed]}
    return conv.paired_table(pairs, target, s["convergence_window"], names=("model", "seed")), target, majority


BN_ROWS = {"Vanilla CNN": "Batch Normalization", "Residual block + CNN": "Batch Normalization (Residual block + CNN)"}
BN_MAP = {(r, c): ("Batch Normalization", "convergence speed-up (%)") for r in BN_ROWS.values()
          for c in ("convergence speed-up (%)", "epochs saved (%)")}


def bn_claims(runs, conv_tab: pd.DataFrame, target: float, majority: float, s: dict, profile: str,
              dataset: str) -> list[dict]:
    """text §3's 31 %: per CNN the speed-up and the epochs saved per seed (NaN where a side never reached the
    target), with how many seeds reached it on each side."""
    from . import p2_convergence as conv
    out = []
    for name, row in BN_ROWS.items():
        t = conv_tab.loc[name] if len(conv_tab) and name in conv_tab.index.get_level_values(0) else None
        seeds = [] if t is None else sorted(set(t.index.get_level_values(0)))
        sp = conv.paired_speedups(t) if t is not None else pd.DataFrame(columns=["speed-up (%)", "epochs saved (%)"])
        reached = {k: 0 if t is None else int(t.xs(k, level=1)["reached"].sum()) for k in ("BN", "no BN")}
        recs = stored(runs, arm(name, "random"), seeds)
        kw = dict(unit="percent", dataset=dataset, seeds=seeds, split="test (20 %) curve", pretrained=False,
                  config=recs[0]["spec"]["config"] if recs else None,
                  note=f"{name}; epochs until the trailing {s['convergence_window']}-epoch mean val acc reaches "
                       f"{target:.3f} (majority share {majority:.3f} + {s['convergence_margin']:g}); NaN = never "
                       f"reached (reached in {reached['BN']}/{len(seeds)} seeds with BN, {reached['no BN']}/"
                       f"{len(seeds)} without); speed = 1/epochs; {s['epochs']} epochs, {profile} budget")
        out += [_claim("text §3", row, "convergence speed-up (%)", list(sp["speed-up (%)"]), **kw),
                _claim("text §3", row, "epochs saved (%)", list(sp["epochs saved (%)"]), **kw)]
    return out


def curve_figures(runs, s: dict, profile: str, part: str, resnet_pretrained: bool = False) -> dict:
    """{figure name: learning-curve figure} of one part, from the stored histories: "table2" (Figs 2-4: per model,
    random split, every seed), "official" (§5), "class weights" (§6a) or "batch norm" (§6b) (the ablations: first
    ablation seed). Arms without a stored run are left out."""
    from ..study import plots
    from ..runs.store import history
    h = lambda arm_, seeds=None: {r["spec"]["seed"]: history(r) for r in stored(runs, arm_, seeds)}
    figs, a0 = {}, s["ablation_seeds"][:1]
    curves = lambda name, d, title: figs.__setitem__(name, plots.learning_curves(d, title)) if d else None
    if part == "table2":
        for no, name in zip((2, 3, 4), MODELS):
            curves(f"fig{no}_{name.split()[0].lower()}", {f"seed {k}": v for k, v in h(arm(name, "random")).items()},
                   f"Fig. {no} (ours): {name}, random 80/20 split, {profile} profile"
                   + (" — random frozen backbone" if name == RESNET and not resnet_pretrained else ""))
    elif part == "official":
        tr, va, _ = SPLITS[s["dataset"]]
        curves("curves_official", {f"{name} (seed {k})": v for name in MODELS for k, v in h(arm(name, "official")).items()},
               f"Official split: trained on {tr}, validation curve on {va} ({profile})")
    elif part == "class weights":
        curves("curves_class_weights", {label: v for label, arm_ in class_weight_arms(s).items()
                                        for v in h(arm_, a0).values()},
               f"Vanilla CNN with three class weightings (seed {a0[0]}, {profile})")
    elif part == "batch norm":
        for name in CNNS:
            curves(f"curves_bn_{name.split()[0].lower()}",
                   {lab: v for lab, arm_ in (("BN", arm(name, "random")), ("no BN", bn_arm(name)))
                    for v in h(arm_, a0).values()}, f"{name} with and without batch norm (seed {a0[0]}, {profile})")
    else:
        raise ValueError(f"curve_figures: part={part!r}; choose table2, official, class weights or batch norm")
    return figs


# ------------------------------------------------------------------------------------------------ the paper itself
def audit_table() -> pd.DataFrame:
    """§7: the paper's numbers against each other, FER2013 and the literature (fer_lib.study.claims_audit.p2_checks +
    Table 2 vs the text's repeated numbers)."""
    from ..study.claims import claims_table
    from ..study.claims_audit import p2_checks
    t = claims_table(PAPER, "Table 2")
    text = lambda row, col: claim(PAPER, "text §3", row, col)
    near = lambda a, b: abs(a - b) <= 1.0   # text percentages vs the table, within 1 pp
    gap = lambda m: t.loc[m, "Train Acc"] - t.loc[m, "Val Acc"]
    va = lambda m: 100 * t.loc[m, "Val Acc"]
    r_test, tang = text(RESNET, "test accuracy (%)"), claim("p3", "text §II", "Tang [11] CNN+SVM", "recognition rate (%)")
    rows = [
        ("Table 2: ResNet50 + CNN Train Acc − Val Acc", f"{t.loc[RESNET, 'Train Acc']:.3f} − {t.loc[RESNET, 'Val Acc']:.3f}",
         f"{gap(RESNET):+.3f} (the CNNs: " + ", ".join(f"{gap(m):+.3f}" for m in CNNS) + ")", None),
        ("text 'about 68 %' (Vanilla val) vs Table 2", f"{text('Vanilla CNN', 'val accuracy approx (%)'):g} %",
         f"Val Acc {va('Vanilla CNN'):.1f} % (68 % is its Train Acc {100 * t.loc['Vanilla CNN', 'Train Acc']:.1f} %)",
         near(text("Vanilla CNN", "val accuracy approx (%)"), va("Vanilla CNN"))),
        ("text 'around 70 %' (Residual val) vs Table 2", f"{text('Residual block + CNN', 'val accuracy approx (%)'):g} %",
         f"Val Acc {va('Residual block + CNN'):.1f} %",
         near(text("Residual block + CNN", "val accuracy approx (%)"), va("Residual block + CNN"))),
        ("text '86 % … 16 % higher than the benchmark CNN'",
         f"{text('ResNet50 + CNN vs benchmark CNN', 'test accuracy gain'):g} pp",
         f"{r_test:g} − {va('Vanilla CNN'):.1f} = {r_test - va('Vanilla CNN'):.1f} pp vs Vanilla; "
         f"{r_test - va('Residual block + CNN'):.1f} pp vs Residual",
         near(text("ResNet50 + CNN vs benchmark CNN", "test accuracy gain"), r_test - va("Vanilla CNN"))),
        ("85.7 % vs the FER2013 challenge winner (Tang, cited in paper 3)", f"{va(RESNET):.1f} %",
         f"{tang:g} % (+{va(RESNET) - tang:.1f} pp)", None),
    ]
    return pd.concat([pd.DataFrame(p2_checks()).drop(columns=["paper"]),
                      pd.DataFrame(rows, columns=["check", "the paper says", "computed from the paper", "consistent"])],
                     ignore_index=True)


def class_weight_check(ds, s: dict) -> tuple[str, pd.DataFrame]:
    """§7: the paper's w against the class sizes of the data this profile uses (text, table)."""
    counts = ds.counts().loc[list(ds.classes), "total"].astype(float)
    w = np.asarray(PAPER_SETTINGS["class_weights"][0])
    inv = counts.sum() / (len(counts) * counts)
    tab = pd.DataFrame({"images": counts.astype(int), "share (%)": 100 * counts / counts.sum(), "paper w": w,
                        "inverse-frequency w": inv.round(3),
                        "share of the loss under paper w (%)": 100 * w * counts / (w * counts).sum()})
    if counts.nunique() <= 1:
        return "balanced classes in this profile: the weights cannot be compared with class sizes here", tab
    rho = pd.Series(w, index=counts.index).corr(counts, method="spearman")
    i = int(w.argmax())
    text = (f"Spearman correlation of the paper's w with the class sizes: {rho:+.2f} (inverse-frequency weights: "
            f"{pd.Series(inv).corr(counts, method='spearman'):+.2f}); largest weight on {counts.index[i]} "
            f"({int(counts.iloc[i])} images, rank {int(counts.rank(ascending=False).iloc[i])} of {len(counts)} by "
            f"size); smallest class {counts.idxmin()} ({int(counts.min())} images) gets "
            f"{w[counts.index.get_loc(counts.idxmin())]:g}")
    return text, tab


def headline(records: list[dict], profile: str, dataset: str, resnet_pretrained: bool, resnet_planned: bool,
             target: float, s: dict) -> list[str]:
    """The closing lines of notebook 02: Table 2 (random and official split) and BN's speed-up beside the paper."""
    def mean_of(source, row, col):
        hit = [r for r in records if (r["source"], r["row"], r["column"]) == (source, row, col)]
        v = hit[0]["value"] if hit else None
        return float("nan") if v is None else v
    P = lambda src, row, col: claim(PAPER, src, row, col)
    return [
        f"Table 2 ({profile}, {dataset}, random 80/20): Val Acc Vanilla {mean_of('Table 2', 'Vanilla CNN', 'Val Acc'):.3f} / "
        f"Residual {mean_of('Table 2', 'Residual block + CNN', 'Val Acc'):.3f} / ResNet50 {mean_of('Table 2', RESNET, 'Val Acc'):.3f} "
        f"(paper {P('Table 2', 'Vanilla CNN', 'Val Acc'):g} / {P('Table 2', 'Residual block + CNN', 'Val Acc'):g} / "
        f"{P('Table 2', RESNET, 'Val Acc'):g}); ResNet50 pretrained={resnet_pretrained}"
        + ("" if resnet_planned else f" ({NOT_RUN_NO_WEIGHTS})"),
        f"PrivateTest (official split): Vanilla {mean_of('Table 2', 'Vanilla CNN', 'PrivateTest Acc'):.3f} / "
        f"Residual {mean_of('Table 2', 'Residual block + CNN', 'PrivateTest Acc'):.3f} / "
        f"ResNet50 {mean_of('Table 2', RESNET, 'PrivateTest Acc'):.3f}",
        f"BN convergence speed-up (Vanilla CNN, target {target:.3f} on a {s['convergence_window']}-epoch mean, "
        f"seeds {s['ablation_seeds']}): {mean_of('text §3', 'Batch Normalization', 'convergence speed-up (%)'):.0f} % "
        f"(paper {P('text §3', 'Batch Normalization', 'convergence speed-up (%)'):g} %)",
    ]
