"""Paper 5's runs: Wang et al., "Dynamic Resolution Guidance for Facial Expression Recognition" (DRGFER; §3-5).

Per seed, 13 trainings of a ResNet18 (fer_lib.models: resnet18, RRN, RABN, DANN), each degrading its faces by
the resolution factors of its recipe (fer_lib.papers.p5_resolution.train_hooks):
- Table 3 rows ×1, ×2, ×4, ×6, ×8: one network per factor — also DRGFER's FER blocks (§4.2);
- Table 3 joint rows ×1&×2, ×1&×2&×4, ×1&…&×6, ×1&…&×8 (the last is MSTrain, Tables 1-2);
- the RRN (§4.1, eqs. 1-3): the factor index as target;
- RA-BN (§3, Zhu et al. 2021): one BatchNorm per factor; its metrics hook stores its predictions with every branch
  at every factor, so that it is scored with the RRN's routing (the paper's column, like DRGFER's) and with the
  true factor (oracle, beside DRGFER's oracle) from the records;
- DA (§3): DANN, source ×1 vs target ×2 — TWO domains, as the text describes (the paper's column);
- "DA (5 domains)": every factor a domain — our labelled extension, never in the paper's column.
No run needs another's weights. DRGFER, its oracle, RA-BN's routing and the Mean/Max fusions are not trainings:
they are assembled from the stored predictions (the RRN's per-image decision at each factor, the five blocks'
predictions there, probabilities kept for the fusions) by the functions under "assembly" (`table2`, `table3`,
`drgfer`, `rabn`), tested against the live composition of the trained networks. Fig 2's feature distances are
measured right after the ×1 network trains (metrics hook p5.fig2) and stored in its record: rendering the notebook
from a complete store needs no weights and no GPU.

What the paper states (read from paper_claims.yaml, labelled "paper"): Adam, lr 3e-4, batch 256, 80
"iterations" (§5.2), input 100×100, factors ×2…×8 (§5.1), flip augmentation.
Readings where it is silent or self-contradictory (`READINGS`, switchable by `plan(..., name=value)`):
80 "iterations" read as epochs; the input size (100, with 224 a switch that resizes AFTER the degradation, never
through the loader); initial weights (random; "imagenet" or a file path loads ImageNet ResNet18 weights); FERPlus
label mode (majority; no mode reproduces the paper's 28,709 / 3,589 / 3,589, which are FER2013's raw row
counts: probability mode comes closest with 28,389 / 3,553 / 3,546); model selection on PublicTest; 3 seeds;
Mean/Max fuse softmax outputs (the records keep 8-bit probabilities, not logits).
smoke and cpu budgets are cuts (seconds on synthetic faces; about one FERPlus epoch per network at 48 px).
Datasets: FERPlus (Table 2; cpu and full by default) or `dataset="rafdb"` (Tables 1 and 3, results in
05_wang_drgfer_rafdb): RAF-DB's official train split cut 90/10 at random (seed 0) into train / val (a reading: the
paper names no validation set; split kind "random_within"), its official test split as test, RGB networks (in_chans
3), 7 classes; the profile's caps apply by role (validation, test).
"""
from __future__ import annotations

from ..study.claims import claim
from ..models.drg import FACTORS
from .p5_resolution import DA_PAPER_FACTORS, TABLE3_FACTORS, factor_name, steps_per_epoch, train_hooks
from ..runs.hooks import register
from ..runs.plans import layered_settings
from ..runs.spec import RunSpec, hook, view

NOTEBOOK, PAPER = "05", "p5"
SPLITS = {"ferplus": ("Training", "PublicTest", "PrivateTest"), "synthetic": ("train", "val", "test"),
          "rafdb": ("train", "val", "test")}   # (train, validation, test) split names per dataset
DATA_NAMES = {"ferplus": "FERPlus", "synthetic": "synthetic", "rafdb": "RAF-DB"}
# RAF-DB (Tables 1 and 3): its official train split cut 90/10 at random (seed 0) into train / val, its official test
# split as test (a reading: the paper names no validation set); its 100 px aligned faces stay RGB (in_chans 3).
SPLIT_OF = {"rafdb": {"kind": "random_within", "split": "train", "fractions": [0.9, 0.1], "names": ["train", "val"],
                      "seed": 0}}
RGB = ("rafdb",)

PAPER_SETTINGS = {   # (value, where it comes from): read from the claims file, never typed in here
    "lr": (claim(PAPER, "text §5.2", "training", "learning rate"), "paper §5.2: Adam, learning rate 3e-4"),
    "batch_size": (int(claim(PAPER, "text §5.2", "training", "batch size")), "paper §5.2: batch size 256"),
    "epochs": (int(claim(PAPER, "text §5.2", "training", "iterations")),
               "reading of paper §5.2's '80 iterations': 80 epochs (80 steps of 256 would be < 1 FERPlus epoch)"),
    "input_size": (int(claim(PAPER, "text §5.2", "training", "input size (px)")),
                   "paper §5.1-5.2: 'the original input size is 100×100'; FERPlus's 48 px bicubic-upsampled to it"),
}
READINGS = {
    "net_size": (None, "reading: the network sees the 100 px image; 224 (§5.2 'resizing to 224') is a switch that "
                       "resizes each degraded image AFTER the degradation (the factors still act on 100 px)"),
    "pretrained": ("none", "reading: the paper does not say; random init (no ImageNet weights offline here). "
                           "'imagenet' (torch hub cache) or a file path loads ImageNet ResNet18 weights; its "
                           "89.24 % on RAF-DB and the 224 resize suggest the authors used them"),
    "ferplus_mode": ("majority", "reading: FERPlus's own majority-vote rule (25,060 / 3,199 / 3,153 images); the "
                                 "paper's 28,709 / 3,589 / 3,589 are FER2013's raw rows, which no label mode gives "
                                 "(probability mode comes closest: 28,389 / 3,553 / 3,546)"),
    "select": ("val_acc", "reading: weights of the best PublicTest epoch (the paper does not say)"),
    "optimizer": ("adam", "paper §5.2: Adam"),
    "augment": ("flip", "paper §5.2: random horizontal flip (+ resize and normalisation)"),
    "rrn_max_batches": (None, "budget: the RRN's batches per epoch (None: whole epochs)"),
    "da_source_share": (0.5, "reading: half of every DA batch is the ×1 source"),
    "da_class_on": ("source", "reading: DANN's class loss on the source (×1) images only"),
    "da_lambd": ("schedule", "reading: Ganin & Lempitsky's gradient-reversal schedule"),
    "da_extension": (True, "our extension: also train DA with all five factors as domains (labelled, never the "
                           "paper's column)"),
    "seeds": ([0, 1, 2], "reading: the paper reports one run; 3 seeds give the spread a verdict needs"),
    "fig2_normalise": (False, "reading: Fig 2's distances between raw 512-d pooled features (True: L2-normalised)"),
}
BUDGETS = {
    # smoke: 13 runs × 4 steps of 32 images, every view on 35 val / 35 test faces (≈ 40 s on 2 loaded cores)
    "smoke": dict(dataset="synthetic", data_kw={"counts": {"train": 160, "val": 35, "test": 35}, "size": 32,
                                                "low_res_p": 0.0}, input_size=32, epochs=1, batch_size=32,
                  max_batches=4, rrn_max_batches=4, cap={}, fig2_images=16, seeds=[0]),
    "cpu": dict(dataset="ferplus", data_kw=None, input_size=48, epochs=3, batch_size=128, max_batches=70,
                rrn_max_batches=50, cap={"PublicTest": 600, "PrivateTest": 1200, "seed": 1}, fig2_images=256,
                seeds=[0]),
    "full": dict(dataset="ferplus", data_kw=None, input_size=PAPER_SETTINGS["input_size"][0],
                 epochs=PAPER_SETTINGS["epochs"][0], batch_size=PAPER_SETTINGS["batch_size"][0], max_batches=None,
                 rrn_max_batches=None, cap={}, fig2_images=1000, seeds=READINGS["seeds"][0]),
}
PARAMETERS = tuple(dict.fromkeys((*BUDGETS["full"], *PAPER_SETTINGS, *READINGS)))


def settings(profile: str, **overrides) -> dict:
    """{name: value}: the paper's settings, the readings, the profile's budget, then the overrides (None = keep).
    An unknown name raises naming it."""
    layers = layered_settings("p5_wang", {**PAPER_SETTINGS, **READINGS}, BUDGETS, profile, overrides)
    s = {k: d["value"] for k, d in layers.items()}
    if s["dataset"] not in SPLITS:
        raise ValueError(f"p5_wang: dataset={s['dataset']!r} is not planned; choose one of {list(SPLITS)}")
    own = BUDGETS[profile]["dataset"]
    if s["dataset"] != own:   # another dataset than the profile's: its data options and caps are not this one's
        if overrides.get("data_kw") is None:
            s["data_kw"] = None
        if overrides.get("cap") is None:   # the same caps by role (validation, test), under this dataset's names
            rename = dict(zip(SPLITS[own], SPLITS[s["dataset"]]))
            s["cap"] = {rename.get(k, k): v for k, v in s["cap"].items()}
    if s["data_kw"] is None:
        s["data_kw"] = {"mode": s["ferplus_mode"]} if s["dataset"] == "ferplus" else {}
    s["seeds"] = [int(x) for x in (s["seeds"] if isinstance(s["seeds"], (list, tuple)) else [s["seeds"]])]
    if s["da_lambd"] != "schedule":
        s["da_lambd"] = float(s["da_lambd"])
    return s


def sources(profile: str, **overrides) -> dict[str, str]:
    """Where each setting of `profile` comes from: "paper …", "reading: …", "budget (<profile> profile)" or
    "override (was …)"."""
    return {k: d["source"] for k, d in layered_settings(__name__.rsplit(".", 1)[-1], {**PAPER_SETTINGS, **READINGS},
                                                         BUDGETS, profile, overrides).items()}


def settings_table(profile: str, **overrides) -> "pd.DataFrame":
    """Every setting with its value and where it comes from (the notebook's first table)."""
    import pandas as pd
    s, src = settings(profile, **overrides), sources(profile, **overrides)
    return pd.DataFrame({"value": {k: s[k] for k in src}, "where it comes from": src})


# ------------------------------------------------------------------------------------------------- hooks
def _hooks_of(ctx, method, factors, out_size=None, **kw) -> dict:
    spec, cfg = ctx.spec, ctx.spec.train_config()
    total = cfg.epochs * steps_per_epoch(len(ctx.data.train), cfg.batch_size, cfg.max_batches)
    factors = factors if method == "single" else tuple(factors)
    return train_hooks(method, factors, total_steps=total, mean=ctx.mean, std=ctx.std, out_size=out_size, **kw)


@register("p5.train_batches", "batch_fn", version=1)
def train_batches(ctx, method, factors, out_size=None, **kw):
    """Training batches of a paper 5 recipe: degraded (8-bit), targets per recipe (resolution.train_hooks)."""
    return _hooks_of(ctx, method, factors, out_size, **kw)["batch_fn"]


@register("p5.val_batches", "val_batch_fn", version=1)
def val_batches(ctx, method, factors, out_size=None, **kw):
    return _hooks_of(ctx, method, factors, out_size, **kw)["val_batch_fn"]


@register("p5.loss", "loss_fn", version=1)
def loss(ctx, method, factors, out_size=None, **kw):
    """RA-BN's per-factor BatchNorm loss or DANN's class + domain loss (its λ schedule over the run's steps)."""
    return _hooks_of(ctx, method, factors, out_size, **kw)["loss_fn"]


@register("p5.resize", "data", version=1)
def resize(ctx, size):
    """Every image bicubic-resized to size × size uint8 BEFORE training (FERPlus 48 -> 100: the paper's original
    size, on which the factors act)."""
    from .p5_resolution import resize_dataset
    return lambda ds, role: resize_dataset(ds, size)


@register("p5.imagenet_init", "model", version=1)
def imagenet_init(ctx, source):
    """ImageNet ResNet18 weights into every ResNet of the model (a reading; fer_lib.models.drg.init_from_imagenet)."""
    from ..models.drg import init_from_imagenet
    return lambda model: init_from_imagenet(model, source)


def _role_data(data, role: str, size: int | None):
    """A run's split by role ("val" or an evaluated split name), resized like the run's own data (the data hook
    applies to training and views, not to what a metrics hook reads)."""
    from .p5_resolution import resize_dataset
    ds = data.val if role == "val" else data.views[role]
    return resize_dataset(ds, size) if size else ds


def _ev(ctx) -> dict:
    cfg = ctx.spec.train_config()   # as the run's own views: its eval batch and precision
    return dict(mean=ctx.mean, std=ctx.std, batch_size=cfg.eval_batch_size, amp=cfg.amp)


@register("p5.grid", "metrics", version=1)
def grid(ctx, grid, size=None, out_size=None):
    """The model on each (role, factors, what) of `grid` ([["val", [1, 2], "accuracy"], ["PrivateTest", [12],
    "both"]]), degraded (8-bit) like training. Keys "<role> x<k>" (accuracy; "accuracy" or "both") and
    "<role> x<k> pred" (the predicted class indices as a digit string; "pred" or "both"): Table 3's ×12-×16
    columns, the RRN's routing there, and the validation grid that picks a block per factor (§5.4) — compact,
    so the record stays small and DRGFER is assembled from records without weights."""
    from ..core.degrade import FixedFactor
    from ..runs.store import encode_labels
    from ..core.train import evaluate

    def metrics(model, data):
        out = {}
        for role, factors, what in grid:
            ds, ev = _role_data(data, role, size), _ev(ctx)
            # "pred" only (the RRN's routing): a constant target keeps the loss defined for any output size
            g = {("m", k): evaluate(model, ds, batch_fn=FixedFactor(k, 0 if what == "pred" else None,
                                    mean=ctx.mean, std=ctx.std, out_size=out_size), **ev) for k in factors}
            for k in factors:
                if what in ("accuracy", "both"):
                    out[f"{role} {factor_name(k)}"] = g[("m", k)].accuracy
                if what in ("pred", "both"):
                    out[f"{role} {factor_name(k)} pred"] = encode_labels(g[("m", k)].y_pred)
        return out
    return metrics


@register("p5.rabn_grid", "metrics", version=2)
def rabn_grid(ctx, factors, split, size=None, out_size=None):
    """RA-BN's predicted classes on `split` at every test factor with every BatchNorm branch: keys
    "BN x<b> x<k>" (branch of factor b, images degraded by k). Routing (by the RRN's stored decision: the paper's
    column, like DRGFER's) and the oracle (the true factor's branch) are assembled from these (`rabn`)."""
    from .p5_resolution import AtIndex, predict_grid
    from ..runs.store import encode_labels

    def metrics(model, data):
        ds = _role_data(data, split, size)
        specs = {b: AtIndex(model, i) for i, b in enumerate(factors)}
        g = predict_grid(specs, ds, factors, out_size=out_size, **_ev(ctx))
        return {f"BN {factor_name(b)} {factor_name(k)}": encode_labels(g[(b, k)].y_pred)
                for b in factors for k in factors}
    return metrics


@register("p5.fig2", "metrics", version=1)
def fig2(ctx, factors, split, n_images, normalise=False, size=None, out_size=None):
    """Fig 2's data (§1) from the ×1 network right after training: per factor, the mean feature distance of an
    image to its ×k version and between different images (fer_lib.papers.p5_resolution.feature_distances), as lists —
    the figure then needs no weights."""
    from .p5_resolution import feature_distances

    def metrics(model, data):
        d = feature_distances(model, _role_data(data, split, size), factors, n_images=n_images, normalise=normalise,
                              mean=ctx.mean, std=ctx.std, seed=ctx.spec.seed, out_size=out_size)
        return {"factor": [float(k) for k in d.index], **{c: d[c].tolist() for c in d.columns}}
    return metrics


# ------------------------------------------------------------------------------------------------- the plan
FIG2_FACTORS = list(range(1, 17)) + [20, 24, 32, 48]   # ×1…×16, then on to 1 px at 48 px: a late crossing too
EXTRA = [k for k in TABLE3_FACTORS if k not in FACTORS]   # ×12, ×14, ×16: tested in Table 3, never trained on


def arms(s: dict) -> list[dict]:
    """The trainings of one seed: arm label, recipe, factors, registry model and kwargs, what the record keeps."""
    n_cls = 8 if s["dataset"] == "ferplus" else 7
    ch = {"in_chans": 3} if s["dataset"] in RGB else {}   # RAF-DB's RGB faces; grey datasets keep the default 1
    block = {"model": "resnet18", "model_kw": {"num_classes": n_cls, **ch}}
    out = [dict(arm=f"Table 3 · {factor_name(k)}", method="single", factors=k, keep=("probs",),
                tags={"row": factor_name(k), "role": "FER block"}, **block) for k in FACTORS]
    for j in (2, 3, 4, 5):
        row = factor_name(FACTORS[:j])
        out.append(dict(arm=f"Table 3 · {row}", method="joint", factors=FACTORS[:j], keep=(),
                        tags={"row": row, "role": "MSTrain" if j == len(FACTORS) else "joint"}, **block))
    out.append(dict(arm="RRN", method="rrn", factors=FACTORS, model="RRN", model_kw={"factors": list(FACTORS), **ch},
                    keep=(), tags={"role": "router"}))
    out.append(dict(arm="RA-BN", method="rabn", factors=FACTORS, model="RABN",
                    model_kw={"num_classes": n_cls, "num_resolutions": len(FACTORS), **ch}, keep=(),
                    tags={"role": "RA-BN", "column": "RA-BN"}))
    out.append(dict(arm="DA", method="da", factors=DA_PAPER_FACTORS, model="DANN",
                    model_kw={"num_classes": n_cls, "num_domains": len(DA_PAPER_FACTORS), **ch}, keep=(),
                    tags={"role": "DA", "column": "DA", "domains": "x1 source, x2 target (paper §3)"}))
    if s["da_extension"]:
        out.append(dict(arm="DA (5 domains)", method="da", factors=FACTORS, model="DANN",
                        model_kw={"num_classes": n_cls, "num_domains": len(FACTORS), **ch}, keep=(),
                        tags={"role": "DA extension", "column": "DA (5 domains, extension)",
                              "domains": "every factor a domain (our extension)"}))
    return out


def plan(profile: str, **overrides) -> list[RunSpec]:
    """Every training notebook 05 needs, per seed (see the module docstring). No run needs another's weights:
    each record keeps what the analyses assemble (predictions per factor, RA-BN's per branch, the RRN's routing,
    Fig 2's distances), so rendering from a complete store needs no weights and no GPU."""
    s = settings(profile, **overrides)
    tr, va, te = SPLITS[s["dataset"]]
    out_size = s["net_size"]
    size = int(s["input_size"])
    common = (hook("p5.resize", size=size),)
    if str(s["pretrained"]) != "none":
        common += (hook("p5.imagenet_init", source=str(s["pretrained"])),)
    base = {"batch_size": int(s["batch_size"]), "lr": float(s["lr"]), "optimizer": s["optimizer"],
            "augment": s["augment"], "select": s["select"], "epochs": int(s["epochs"]),
            "max_batches": s["max_batches"]}
    at = dict(size=size, out_size=out_size)

    def views(factors, **kw):
        return tuple(view(f"{te} {factor_name(k)}", te, hook("resolution.fixed_factor", factor=k, out_size=out_size,
                                                               **({"target_index": i} if kw else {})))
                     for i, k in enumerate(factors))
    specs = []
    for seed in s["seeds"]:
        for a in arms(s):
            method, factors = a["method"], a["factors"]
            fac = factors if method == "single" else list(factors)
            extra = {k: s[k] for k in ("da_source_share", "da_class_on", "da_lambd")} if method == "da" else {}
            rec = dict(method=method, factors=fac, out_size=out_size, **extra)
            hooks = common + (hook("p5.train_batches", **rec), hook("p5.val_batches", **rec))
            if method in ("rabn", "da"):
                hooks += (hook("p5.loss", **rec),)
            cfg = dict(base, max_batches=s["rrn_max_batches"] if method == "rrn" else s["max_batches"])
            if method == "rrn":   # test target: the factor index (accuracy, confusion, and the routing itself)
                evaluate = views(FACTORS, target_index=True)
                hooks += (hook("p5.grid", grid=[[te, EXTRA, "pred"]], **at),)
            elif method == "rabn":  # every branch at every factor (metrics hook); this view: mixed factors
                evaluate = (view(f"{te} (cyclic factors)", te),)
                hooks += (hook("p5.rabn_grid", factors=list(FACTORS), split=te, **at),)
            else:
                evaluate = views(TABLE3_FACTORS if method == "joint" else FACTORS)
            if method in ("single", "joint"):
                # the validation grid that picks a block per factor; a block's ×12-×16 test predictions without
                # probabilities (DRGFER routes there too; the record stays small)
                g = [["val", list(FACTORS), "accuracy"]] + ([[te, EXTRA, "both"]] if method == "single" else [])
                hooks += (hook("p5.grid", grid=g, **at),)
            if method == "single" and factors == 1:
                hooks += (hook("p5.fig2", factors=FIG2_FACTORS, split=te, n_images=int(s["fig2_images"]),
                               normalise=bool(s["fig2_normalise"]), **at),)
            specs.append(RunSpec(
                notebook=NOTEBOOK, paper=PAPER, arm=a["arm"], model=a["model"], model_kw=a["model_kw"],
                dataset=s["dataset"], data_kw=s["data_kw"], split=SPLIT_OF.get(s["dataset"], {}), cap=s["cap"],
                train=(tr,), val=(va,),
                evaluate=evaluate, config=cfg, seed=seed, hooks=hooks, keep=a["keep"],
                tags={**a["tags"], "method": method, "factors": fac, "input_size": int(s["input_size"]),
                      "net_size": out_size, "pretrained": str(s["pretrained"])}))
    return specs


# ------------------------------------------------------------------------------------------------- assembly
# Everything below reads stored records only (no network, no GPU): one seed's records as {arm: record}.
T3_ROWS = [factor_name(k) for k in FACTORS] + [factor_name(FACTORS[:j]) for j in (2, 3, 4, 5)]
MSTRAIN = factor_name(FACTORS)   # MSTrain is the all-factor joint network "x1&x2&x4&x6&x8" (§3, Table 3)
PAPER_COLUMNS = ["Mean", "Max", "RA-BN", "DA", "MSTrain", "DRGFER"]   # RA-BN and DRGFER: the learned RRN router
EXTENDS = {"DRGFER (oracle router)": "DRGFER", "RA-BN (oracle)": "RA-BN", "DRGFER (oracle, best-val blocks)": "DRGFER",
           "DA (5 domains)": "DA"}   # our columns, each beside the paper's column it extends


def seed_records(runs) -> dict[int, dict[str, dict]]:
    """{seed: {arm: record}} for the seeds whose planned runs are all stored (fer_lib.runs.Runs); a seed with a
    pending run is left out of every analysis (its runs show in the pending table)."""
    out: dict[int, dict] = {}
    for p, r in zip(runs.planned, runs.records):
        out.setdefault(p.spec.seed, {})[p.spec.arm] = r
    return {s: recs for s, recs in out.items() if all(r is not None for r in recs.values())}


def _test(rec) -> str:
    return SPLITS[rec["spec"]["dataset"]][2]


def true_labels(recs: dict) -> "np.ndarray":
    """The test set's class labels (the same images, in the same order, in every run of a seed)."""
    from ..runs.store import decode_labels
    r = recs[f"Table 3 · {factor_name(1)}"]
    return decode_labels(r["labels"][_test(r)])


def predicted(rec: dict, k) -> "np.ndarray":
    """A run's predicted classes (the RRN: its factor index) on the test images degraded by ×k: from its view,
    else from its p5.grid metrics (×12-×16)."""
    from ..runs.store import decode_labels
    name = f"{_test(rec)} {factor_name(k)}"
    got = rec["predictions"].get(name, {}).get("pred")
    return decode_labels(got if got is not None else rec["metrics"]["p5.grid"][f"{name} pred"])


def accuracy(rec: dict, k, role: str | None = None) -> float:
    """A run's accuracy at ×k on the test set (or `role`="val": the validation grid of p5.grid)."""
    name = f"{role or _test(rec)} {factor_name(k)}"
    if role is None and name in rec["metrics"]:
        return rec["metrics"][name]["accuracy"]
    return rec["metrics"]["p5.grid"][name]


def route(recs: dict, k, router: str = "rrn") -> "np.ndarray":
    """Per test image at ×k, the index of the block it goes to: the RRN's stored decision (§4.1, eqs. 1-3), or
    the true factor's block ("oracle"; None where ×k is no trained factor)."""
    import numpy as np
    if router == "rrn":
        return predicted(recs["RRN"], k)
    if router != "oracle":
        raise ValueError(f"router={router!r}: choose rrn or oracle")
    return None if k not in FACTORS else np.full(len(true_labels(recs)), FACTORS.index(k))


def drgfer(recs: dict, k, router: str = "rrn") -> "np.ndarray | None":
    """DRGFER's predicted classes at ×k (§4.2, Assign -> block -> Gather): per image, the prediction of the
    block its router chose — the same as running `drg.DRGFER` (tested against the live composition)."""
    import numpy as np
    g = route(recs, k, router)
    if g is None:
        return None
    blocks = np.stack([predicted(recs[f"Table 3 · {factor_name(b)}"], k) for b in FACTORS])
    return blocks[g, np.arange(blocks.shape[1])]


def rabn(recs: dict, k, router: str = "rrn") -> "np.ndarray":
    """RA-BN's predicted classes at ×k, each image through the BatchNorm branch its router chose (§3; the RRN's
    stored decision, as DRGFER's, or the true factor: "oracle") — the same as `resolution.Routed` / `AtIndex`."""
    import numpy as np
    from ..runs.store import decode_labels
    g = route(recs, k, router)
    grid = recs["RA-BN"]["metrics"]["p5.rabn_grid"]
    branches = np.stack([decode_labels(grid[f"BN {factor_name(b)} {factor_name(k)}"]) for b in FACTORS])
    return branches[g, np.arange(branches.shape[1])]


def _acc(pred, y) -> float:
    return float("nan") if pred is None else float((pred == y).mean())


def rrn_predictions(recs: dict):
    """The RRN's factor predictions on every test image at every factor (fer_lib.core.metrics.Predictions, classes
    "x1"…"x8"): its accuracy and confusion over factors, which the paper never reports."""
    import numpy as np

    from ..core.metrics import Predictions
    from ..runs.store import predictions
    ps = [predictions(recs["RRN"], f"{_test(recs['RRN'])} {factor_name(k)}") for k in FACTORS]
    names = tuple(factor_name(k) for k in FACTORS)
    return Predictions(np.concatenate([p.y_true for p in ps]),
                       np.concatenate([np.eye(len(FACTORS), dtype=np.float32)[p.y_pred] for p in ps]), names)


def rrn_table(recs: dict) -> "pd.DataFrame":
    """Recall per factor and overall accuracy of the RRN (column "acc"; rows x1…x8, overall)."""
    import numpy as np
    import pandas as pd
    p = rrn_predictions(recs)
    return pd.Series(np.diag(p.confusion("true")), index=p.classes).to_frame("acc").T.assign(overall=p.accuracy).T


def table3(recs: dict) -> tuple["pd.DataFrame", "pd.DataFrame", "pd.DataFrame"]:
    """Table 3 (§5.4) of one seed: (test accuracy, rows = trained networks + DRGFER (RRN) + DRGFER (oracle
    router) + DRGFER (oracle, best-val blocks), columns ×1…×16; the validation grid; the blocks chosen on
    validation). The best-val row: at each factor the Table 3 network with the best *validation* accuracy there
    (never test), oracle-routed. NaN where a row does not apply (an oracle at an untrained factor)."""
    import numpy as np
    import pandas as pd

    from .p5_resolution import best_by_val
    y = true_labels(recs)
    cols = [factor_name(k) for k in TABLE3_FACTORS]
    t = pd.DataFrame({factor_name(k): {r: accuracy(recs[f"Table 3 · {r}"], k) for r in T3_ROWS}
                      for k in TABLE3_FACTORS})
    t.loc["DRGFER"] = [_acc(drgfer(recs, k), y) for k in TABLE3_FACTORS]
    t.loc["DRGFER (oracle router)"] = [_acc(drgfer(recs, k, "oracle"), y) for k in TABLE3_FACTORS]
    val = pd.DataFrame({factor_name(k): {r: accuracy(recs[f"Table 3 · {r}"], k, "val") for r in T3_ROWS}
                        for k in FACTORS})
    best = best_by_val(val, t.loc[T3_ROWS])
    t.loc["DRGFER (oracle, best-val blocks)"] = [best["test"].get(c, np.nan) for c in cols]
    return t[cols], val, best


def table2(recs: dict, da_extension: bool = True) -> "pd.DataFrame":
    """Tables 1-2 (§5.3) of one seed: rows ×1…×8 and Mean; the paper's columns first (Mean, Max: the average /
    maximum of the five blocks' softmax outputs; RA-BN and DRGFER routed by the learned RRN; DA: two domains;
    MSTrain), then ours, labelled: both oracles, DRGFER with best-on-validation blocks, DA with five domains."""
    import pandas as pd

    from .p5_resolution import fuse
    from ..runs.store import predictions
    y = true_labels(recs)
    best = table3(recs)[0].loc["DRGFER (oracle, best-val blocks)"]
    rows = {}
    for k in FACTORS:
        blocks = [predictions(recs[f"Table 3 · {factor_name(b)}"], f"{_test(recs['RRN'])} {factor_name(k)}")
                  for b in FACTORS]
        row = {"Mean": fuse(blocks, "mean").accuracy, "Max": fuse(blocks, "max").accuracy,
               "RA-BN": _acc(rabn(recs, k), y), "DA": accuracy(recs["DA"], k),
               "MSTrain": accuracy(recs[f"Table 3 · {MSTRAIN}"], k), "DRGFER": _acc(drgfer(recs, k), y),
               "DRGFER (oracle router)": _acc(drgfer(recs, k, "oracle"), y),
               "RA-BN (oracle)": _acc(rabn(recs, k, "oracle"), y),
               "DRGFER (oracle, best-val blocks)": best[factor_name(k)]}
        if da_extension:
            row["DA (5 domains)"] = accuracy(recs["DA (5 domains)"], k)
        rows[factor_name(k)] = row
    t = pd.DataFrame(rows).T
    t.loc["Mean"] = t.mean(axis=0)
    return t


def comparison(ours2: "pd.DataFrame", rrn: "pd.DataFrame") -> "pd.DataFrame":
    """Like with like (issue 19, §5.3): router vs router and oracle vs oracle, DRGFER's routing cost, the RRN's
    accuracy per factor, the best other paper column and whether DRGFER (RRN) ranks first; in %."""
    import numpy as np
    import pandas as pd
    others = ["Mean", "Max", "RA-BN", "DA", "MSTrain"]
    o = ours2
    cmp = pd.DataFrame({
        "DRGFER (RRN)": o["DRGFER"], "RA-BN (RRN)": o["RA-BN"],
        "router vs router: DRGFER − RA-BN": o["DRGFER"] - o["RA-BN"],
        "DRGFER (oracle)": o["DRGFER (oracle router)"], "RA-BN (oracle)": o["RA-BN (oracle)"],
        "oracle vs oracle: DRGFER − RA-BN": o["DRGFER (oracle router)"] - o["RA-BN (oracle)"],
        "routing cost of DRGFER (oracle − RRN)": o["DRGFER (oracle router)"] - o["DRGFER"],
        "RRN accuracy at this factor": list(rrn["acc"].reindex(o.index[:-1])) + [np.nan],
        "best other paper column": o[others].max(axis=1), "which": o[others].idxmax(axis=1)})
    cmp["DRGFER (RRN) ranks first"] = o[others + ["DRGFER"]].idxmax(axis=1) == "DRGFER"
    return cmp.assign(**{c: 100 * cmp[c] for c in cmp.columns if cmp[c].dtype == float}).round(2)


def fig2_table(recs: dict) -> "pd.DataFrame":
    """Fig 2's distances (§1) as stored by the ×1 network's p5.fig2 hook, indexed by factor."""
    import pandas as pd
    d = pd.DataFrame(recs[f"Table 3 · {factor_name(1)}"]["metrics"]["p5.fig2"]).set_index("factor")
    if (d.index == d.index.round()).all():   # stored as numbers: 2.0 -> 2, as the factors were given
        d.index = d.index.astype(int)
    return d


def mean_over_seeds(tables: dict) -> "pd.DataFrame":
    """The cell-wise mean of one table per seed (empty when no seed is complete)."""
    import pandas as pd
    return pd.concat(tables.values()).groupby(level=0, sort=False).mean() if tables else pd.DataFrame()


def per_seed(tables: dict, row, col) -> list[float]:
    return [float(t.loc[row, col]) for t in tables.values()]


def paper_router_check() -> tuple["pd.DataFrame", str]:
    """From the claims only (§5.4, Tables 1 and 3): at each factor the paper's DRGFER beside the best single-
    resolution network and the best of all Table 3 networks, and a sentence on what that implies for its router."""
    import pandas as pd

    from ..study.claims import claims_table
    p3 = claims_table(PAPER, "Table 3")
    cols, single, joint = [factor_name(k) for k in FACTORS], T3_ROWS[:len(FACTORS)], T3_ROWS[len(FACTORS):]
    p3_all = p3.loc[single + joint, cols]
    t = pd.DataFrame({
        "DRGFER (paper, Table 3)": p3.loc["DRGFER", cols],
        "DRGFER (paper, Table 1)": [claim(PAPER, "Table 1", c, "DRGFER") for c in cols],
        "best single-resolution net": p3.loc[single, cols].max(), "which": p3.loc[single, cols].idxmax(),
        "best of all Table 3 nets": p3_all.max(), "which (all)": p3_all.idxmax()})
    t["DRGFER − best of all"] = (t["DRGFER (paper, Table 3)"] - t["best of all Table 3 nets"]).round(2)
    t["DRGFER − own-factor net"] = [round(p3.loc["DRGFER", c] - p3.loc[c, c], 2) for c in cols]
    eq = t.index[t["DRGFER − best of all"] == 0].tolist()
    above = t.index[t["DRGFER − best of all"] > 0].tolist()
    gap8 = round(claim(PAPER, "Table 3", MSTRAIN, "x8") - claim(PAPER, "Table 3", "x8", "x8"), 2)
    text = (f"DRGFER equals the best Table 3 network exactly at {eq}; it exceeds every Table 3 network at {above}.\n"
            "A router that errs sends some images to a worse block, so an exact match at every factor needs an "
            "error-free router (and blocks that are the best network per factor, joint ones included, not the "
            "single-factor blocks §4.2 describes); a value above every network it can route to is impossible for any "
            f"router that picks one block.\n§5.4 says x8-only training is "
            f"{claim(PAPER, 'text §5.4', 'x8-only vs best joint training', 'gap at x8 (pp)')} pp below the best joint "
            f"training; Table 3 gives {gap8} pp.")
    return t, text


def mean_row_check(table: str) -> "pd.DataFrame":
    """Is the paper's printed mean row the average of its factor rows? (from the claims)"""
    import pandas as pd

    from ..study.claims import claims_table
    p = claims_table(PAPER, table)
    rows = [factor_name(k) for k in FACTORS]
    t = pd.DataFrame({"printed mean row": p.loc["Mean"], "average of x1…x8": p.loc[rows].mean().round(3)})
    t["difference"] = (t["printed mean row"] - t["average of x1…x8"]).round(3)
    return t


def ferplus_counts(data_root, mode_used: str) -> "pd.DataFrame":
    """§5.1's FERPlus counts (28,709 / 3,589 / 3,589) beside FER2013's raw rows and every FERPlus label mode:
    the paper's counts are FER2013's; no label mode reproduces them (issue 19 item 10)."""
    import pandas as pd

    from ..data import load
    splits = ("Training", "PublicTest", "PrivateTest")
    paper = [claim(PAPER, "text §5.1", "FERPlus", f"{c} images") for c in ("training", "validation", "test")]
    fer = load("fer2013", data_root)
    t = pd.DataFrame({"paper (§5.1)": paper, "FER2013 raw rows": [int((fer.split == s).sum()) for s in splits]},
                     index=splits)
    for m in ("majority", "plurality", "probability"):
        d = load("ferplus", data_root, mode=m)
        t[f"FERPlus {m}" + (" (used here)" if m == mode_used else "")] = [int((d.split == s).sum()) for s in splits]
    return t


RAFDB_SOURCES = ["Table 1", "text §5.3 (RAF-DB)", "Table 3", "text §5.4"]   # the paper's RAF-DB results
MEASURED = {"ferplus": ["Table 2"], "synthetic": ["Table 2"], "rafdb": ["Table 1", "text §5.3 (RAF-DB)"]}


def results_name(dataset: str) -> str:
    """The results file of a run of notebook 05: FERPlus (and smoke) 05_wang_drgfer, RAF-DB 05_wang_drgfer_rafdb."""
    return "05_wang_drgfer_rafdb" if dataset == "rafdb" else "05_wang_drgfer"


def not_run_rows(run, reason: str, dataset: str = "ferplus") -> int:
    """Record as not run, with `reason`, the result claims this dataset's run does not measure: on FERPlus (and
    smoke) every RAF-DB claim (Table 1, its §5.3 prose, Table 3 as published, §5.4); on RAF-DB the FERPlus Table 2.
    Returns how many."""
    from ..study.claims import load_claims
    cl = load_claims()
    rows = cl[(cl.paper == PAPER) & cl.source.isin(["Table 2"] if dataset == "rafdb" else RAFDB_SOURCES)
              & (cl.kind == "result")]
    for c in rows.itertuples():
        run.record(PAPER, c.source, c.row, c.column, [], unit=c.unit, dataset=c.dataset, split="test", note=reason)
    return len(rows)


def run_log(runs) -> "pd.DataFrame":
    """One row per planned run: arm, seed, status, best epoch, seconds of training and evaluation (records)."""
    import pandas as pd
    return pd.DataFrame([{"arm": p.spec.arm, "seed": p.spec.seed, "status": "stored" if r else "pending",
                          "best epoch": r and r["best_epoch"] + 1, "train s": r and r["train_seconds"],
                          "eval s": r and r["eval_seconds"], "key": p.key} for p, r in zip(runs.planned, runs.records)])


def table3_cells() -> list[tuple[str, str]]:
    """(row, column) of every Table 3 cell we measure: the trained networks and DRGFER (RRN) at ×1…×16, the
    oracle rows at the trained factors only."""
    cols = [factor_name(k) for k in TABLE3_FACTORS]
    oracle = ("DRGFER (oracle router)", "DRGFER (oracle, best-val blocks)")
    return [(r, c) for r in T3_ROWS + ["DRGFER"] for c in cols] + [(r, factor_name(k)) for r in oracle for k in FACTORS]


def table2_columns(da_extension: bool = True) -> tuple[list[str], list[str]]:
    """(the paper's columns, ours) of Tables 1-2."""
    ours = ["DRGFER (oracle router)", "RA-BN (oracle)", "DRGFER (oracle, best-val blocks)"]
    return PAPER_COLUMNS, ours + (["DA (5 domains)"] if da_extension else [])


def record_table(run, source: str, tables: dict, cells, notes: dict | None = None, **kw) -> int:
    """run.record every (row, column) of `cells` with its value per complete seed (`tables`: {seed: DataFrame});
    `notes`: {column: note}. With no complete seed every cell is recorded empty (pending)."""
    notes = notes or {}
    for row, col in cells:
        extra = {"note": notes[col]} if col in notes else {}
        run.record(PAPER, source, row, col, per_seed(tables, row, col), **kw, **extra)
    return len(cells)


def rafdb_reason(data_root, dataset: str = "ferplus") -> tuple[str, str]:
    """("present" | "absent", the note of the claims this run does not measure): on FERPlus, RAF-DB's (Table 1,
    its §5.3 prose, Table 3, §5.4) — absent, or present and run by `dataset="rafdb"`; on RAF-DB, FERPlus's
    Table 2."""
    from ..data import DatasetError
    from ..data.rafdb import find_rafdb
    try:
        find_rafdb(data_root)
        state = "present"
    except (DatasetError, TypeError):
        state = "absent"
    if dataset == "rafdb":
        return state, "not run here: run this notebook with dataset=ferplus"
    return state, ("not run: dataset absent" if state == "absent" else
                   "not run here: RAF-DB is present, run this notebook with dataset=rafdb")


def headline(table2: dict, rrn_tab: dict, cross: list, profile: str, data_name: str, da_extension: bool,
             rafdb_note: str, status: str, measured_table: str = "Table 2") -> list[str]:
    """The notebook's summary lines: Table 2's (RAF-DB: Table 1's) mean row (the paper's columns, then the oracle
    pair and the five-domain DA extension), the RRN's accuracy, Fig 2's crossing factor, RAF-DB's state (on RAF-DB:
    FERPlus's), the runs' state."""
    from ..core.metrics import fmt_ci, mean_ci

    def pct(row, col, tables=table2):
        return fmt_ci(mean_ci(per_seed(tables, row, col)))
    paper = ", ".join(f"{c} {pct('Mean', c)}" for c in ("MSTrain", "Mean", "Max"))
    other = ("FERPlus (Table 2)" if data_name == "RAF-DB" else "RAF-DB (Table 1, Table 3 as published)")
    return [
        f"{data_name} {measured_table} mean row (% test acc., {profile}; paper's columns): DRGFER (RRN router) "
        f"{pct('Mean', 'DRGFER')}, RA-BN (RRN router) {pct('Mean', 'RA-BN')}, DA (x1/x2) {pct('Mean', 'DA')}, "
        f"{paper}; paper DRGFER {claim(PAPER, measured_table, 'Mean', 'DRGFER')}",
        f"oracle vs oracle (ours): DRGFER {pct('Mean', 'DRGFER (oracle router)')}, "
        f"RA-BN {pct('Mean', 'RA-BN (oracle)')}"
        + (f"; DA with 5 domains (extension) {pct('Mean', 'DA (5 domains)')}" if da_extension else ""),
        f"RRN factor accuracy {pct('overall', 'acc', rrn_tab)} % (not reported by the paper)",
        f"Fig 2 crossing factor: {cross} (paper: "
        f"x{claim(PAPER, 'text §1', 'LR vs HR feature distance', 'down-sample scale threshold'):g})",
        f"{other}: {rafdb_note}", f"runs: {status}"]


def fig2_figure(dist: "pd.DataFrame", title: str):
    """Fig 2 (§1): the mean feature distances against the factor (one line per kind of pair)."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.6))
    dist.drop(columns="LR side (px)").plot(ax=ax, marker="o")
    ax.set(xlabel="down-sampling factor", ylabel="mean feature distance", title=title)
    return fig


# ------------------------------------------------------------------------------------------------ notebook glue
def param_counts(plan: list) -> "pd.DataFrame":
    """Parameters of each network of one seed of the plan (§3: every network a ResNet18; MSTrain, RA-BN and DA
    one network each) and of DRGFER, which is the RRN plus one FER block per training factor (§3.2: five)."""
    import pandas as pd

    from ..models.registry import create_model
    one_seed = {s.arm: s for s in plan if s.seed == plan[0].seed}
    n = {f"{a} ({s.model})": sum(p.numel() for p in create_model(s.model, **s.model_kw).parameters())
         for a, s in one_seed.items() if a in ("Table 3 · x1", "RRN", "RA-BN", "DA", "DA (5 domains)")}
    n["DRGFER (RRN + 5 FER blocks)"] = n["RRN (RRN)"] + len(FACTORS) * n["Table 3 · x1 (resnet18)"]
    return pd.DataFrame({"parameters": n})


def fig2_row(cross: list[float], **kw) -> dict:
    """Fig 2 / §1: "when the down-sample scale is smaller than ×7" — the crossing factor per seed
    (`p5_resolution.crossing_factor`) as a `run.record(**row)` argument; `kw`: dataset, split, seeds, config..."""
    return {"paper": PAPER, "source": "text §1", "row": "LR vs HR feature distance",
            "column": "down-sample scale threshold", "values": cross, "unit": "ratio", **kw,
            "note": "first factor whose same-image HR-LR feature distance exceeds the mean distance between "
                    "different HR images; NaN = measured, no crossing up to x48; features of the x1 network"}


def fig2_beside(records: list[dict], cross: list[float], profile: str) -> "pd.DataFrame":
    """`beside` for Fig 2's threshold (§1); outside smoke, a run with no crossing at all says so in its note."""
    import numpy as np

    from ..study.verdict import beside
    f2 = beside(records, PAPER, "text §1")
    if profile != "smoke" and cross and all(np.isnan(cross)):
        f2["note"] = f"no crossing up to x{max(FIG2_FACTORS)}"
    return f2
