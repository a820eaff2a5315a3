"""Paper 5's runs: Wang et al., "Dynamic Resolution Guidance for Facial Expression Recognition" (DRGFER; §3-5).

Per seed, 13 trainings of a ResNet18 (fer_lib.models: resnet18, RRN, RABN, DANN), each degrading its faces by
the resolution factors of its recipe (fer_lib.resolution.train_hooks):
- Table 3 rows ×1, ×2, ×4, ×6, ×8: one network per factor — also DRGFER's FER blocks (§4.2);
- Table 3 joint rows ×1&×2, ×1&×2&×4, ×1&…&×6, ×1&…&×8 (the last is MSTrain, Tables 1-2);
- the RRN (§4.1, eqs. 1-3): the factor index as target;
- RA-BN (§3, Zhu et al. 2021): one BatchNorm per factor; its metrics hook scores it with the RRN's routing (the
  paper's column, like DRGFER's) and with the true factor (oracle, beside DRGFER's oracle);
- DA (§3): DANN, source ×1 vs target ×2 — TWO domains, as the text describes (the paper's column);
- "DA (5 domains)": every factor a domain — our labelled extension, never in the paper's column.
DRGFER and the Mean/Max fusions are not trainings: they are assembled from the stored predictions (the RRN's
per-image routing and the five blocks' predictions at each factor, probabilities kept for the fusions):
`table2_from_records(records, seed)`.

What the paper states (read from paper_claims.yaml, labelled "paper"): Adam, lr 3e-4, batch 256, 80
"iterations" (§5.2), input 100×100, factors ×2…×8 (§5.1), flip augmentation.
Readings where it is silent or self-contradictory (`READINGS`, switchable by `plan(..., name=value)`):
80 "iterations" read as epochs; the input size (100, with 224 a switch that resizes AFTER the degradation, never
through the loader); initial weights (random; "imagenet" or a file path loads ImageNet ResNet18 weights); FERPlus
label mode (majority; no mode reproduces the paper's 28,709 / 3,589 / 3,589, which are FER2013's raw row
counts: probability mode comes closest with 28,389 / 3,553 / 3,546); model selection on PublicTest; 3 seeds.
smoke and cpu budgets are cuts (seconds on synthetic faces; about one FERPlus epoch per network at 48 px).
"""
from __future__ import annotations

from ..claims import claim
from ..models.drg import FACTORS
from ..resolution import DA_PAPER_FACTORS, TABLE3_FACTORS, factor_name, steps_per_epoch, train_hooks
from ..runs.hooks import register
from ..runs.plans import layered_settings
from ..runs.spec import RunSpec, hook, view

NOTEBOOK, PAPER = "05", "p5"
SPLITS = {"ferplus": ("Training", "PublicTest", "PrivateTest"), "synthetic": ("train", "val", "test")}

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
}
BUDGETS = {
    "smoke": dict(dataset="synthetic", data_kw={"counts": {"train": 320, "val": 70, "test": 70}, "size": 32,
                                                "low_res_p": 0.0}, input_size=32, epochs=1, batch_size=32,
                  max_batches=4, rrn_max_batches=4, cap={}, fig2_images=32, seeds=[0]),
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
    s = {k: d["value"] for k, d in layered_settings("p5_wang", {**PAPER_SETTINGS, **READINGS}, BUDGETS, profile, overrides).items()}
    if s["data_kw"] is None:
        s["data_kw"] = {"mode": s["ferplus_mode"]}
    s["seeds"] = [int(x) for x in (s["seeds"] if isinstance(s["seeds"], (list, tuple)) else [s["seeds"]])]
    return s


def sources(profile: str) -> dict[str, str]:
    """Where each setting of `profile` comes from: "paper …", "reading: …" or "budget (<profile> profile)"."""
    return {k: d["source"] for k, d in layered_settings(__name__.rsplit(".", 1)[-1], {**PAPER_SETTINGS, **READINGS},
                                                         BUDGETS, profile, {}).items()}


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
    from ..resolution import resize_dataset
    return lambda ds, role: resize_dataset(ds, size)


@register("p5.imagenet_init", "model", version=1)
def imagenet_init(ctx, source):
    """ImageNet ResNet18 weights into every ResNet of the model (a reading; fer_lib.models.drg.init_from_imagenet)."""
    from ..models.drg import init_from_imagenet
    return lambda model: init_from_imagenet(model, source)


def _role_data(data, role: str, size: int | None):
    """A run's split by role ("val" or an evaluated split name), resized like the run's own data (the data hook
    applies to training and views, not to what a metrics hook reads)."""
    from ..resolution import resize_dataset
    ds = data.val if role == "val" else data.views[role]
    return resize_dataset(ds, size) if size else ds


@register("p5.accuracy_grid", "metrics", version=1)
def accuracy_grid(ctx, grid, size=None, out_size=None):
    """Accuracy of the model on each (role, factors) of `grid` ([["val", [1, 2]], ["PrivateTest", [12]]]),
    degraded (8-bit) like training: Table 3's ×12-×16 columns and the validation grid that picks the best block
    per factor — accuracies only, so the record stays small. Keys "<role> x<k>"."""
    from ..resolution import predict_grid

    def metrics(model, data):
        out = {}
        for role, factors in grid:
            g = predict_grid({"m": model}, _role_data(data, role, size), factors, out_size=out_size, mean=ctx.mean,
                             std=ctx.std, batch_size=ctx.spec.train_config().eval_batch_size)
            out.update({f"{role} {factor_name(k)}": g[("m", k)].accuracy for k in factors})
        return out
    return metrics


@register("p5.rabn_grid", "metrics", version=1)
def rabn_grid(ctx, factors, split, router=None, router_kw=None, size=None, out_size=None):
    """RA-BN at each factor, its BatchNorm chosen by the true factor ("oracle …") and, when `router` names the
    RRN run it needs, by the RRN's decision ("router …": the paper's column, like DRGFER's)."""
    import torch

    from ..models.registry import create_model
    from ..resolution import AtIndex, Routed, predict_grid

    def metrics(model, data):
        ds = _role_data(data, split, size)
        ev = dict(mean=ctx.mean, std=ctx.std, batch_size=ctx.spec.train_config().eval_batch_size)
        specs = {"oracle": lambda k: AtIndex(model, list(factors).index(k))}
        if router:
            rrn = create_model("RRN", **(router_kw or {}))
            rrn.load_state_dict(torch.load(ctx.artefact(router, "weights"), map_location="cpu", weights_only=True))
            specs["router"] = Routed(model, rrn.to(ctx.device).eval())
        g = predict_grid(specs, ds, factors, out_size=out_size, **ev)
        return {f"{how} {factor_name(k)}": g[(how, k)].accuracy for how in specs for k in factors}
    return metrics


# ------------------------------------------------------------------------------------------------- the plan
def arms(s: dict) -> list[dict]:
    """The trainings of one seed: arm label, recipe, factors, registry model and kwargs, what the record keeps."""
    n_cls = 8 if s["dataset"] == "ferplus" else 7
    block = {"model": "resnet18", "model_kw": {"num_classes": n_cls}}
    out = [dict(arm=f"Table 3 · {factor_name(k)}", method="single", factors=k, keep=("probs",),
                tags={"row": factor_name(k), "role": "FER block"}, **block) for k in FACTORS]
    for j in (2, 3, 4, 5):
        row = factor_name(FACTORS[:j])
        out.append(dict(arm=f"Table 3 · {row}", method="joint", factors=FACTORS[:j], keep=(),
                        tags={"row": row, "role": "MSTrain" if j == len(FACTORS) else "joint"}, **block))
    out.append(dict(arm="RRN", method="rrn", factors=FACTORS, model="RRN", model_kw={"factors": list(FACTORS)},
                    keep=("weights",), name="rrn", tags={"role": "router"}))
    out.append(dict(arm="RA-BN", method="rabn", factors=FACTORS, model="RABN",
                    model_kw={"num_classes": n_cls, "num_resolutions": len(FACTORS)}, keep=(), needs=("rrn",),
                    tags={"role": "RA-BN", "column": "RA-BN"}))
    out.append(dict(arm="DA", method="da", factors=DA_PAPER_FACTORS, model="DANN",
                    model_kw={"num_classes": n_cls, "num_domains": len(DA_PAPER_FACTORS)}, keep=(),
                    tags={"role": "DA", "column": "DA", "domains": "x1 source, x2 target (paper §3)"}))
    if s["da_extension"]:
        out.append(dict(arm="DA (5 domains)", method="da", factors=FACTORS, model="DANN",
                        model_kw={"num_classes": n_cls, "num_domains": len(FACTORS)}, keep=(),
                        tags={"role": "DA extension", "column": "DA (5 domains, extension)",
                              "domains": "every factor a domain (our extension)"}))
    return out


def plan(profile: str, **overrides) -> list[RunSpec]:
    """Every training notebook 05 needs, per seed (see the module docstring); names: "rrn_s<seed>" for the
    RRN that RA-BN's routed score needs."""
    s = settings(profile, **overrides)
    if s["dataset"] not in SPLITS:
        raise ValueError(f"p5_wang: dataset={s['dataset']!r} is not planned (RAF-DB is absent here); "
                         f"choose one of {list(SPLITS)}")
    tr, va, te = SPLITS[s["dataset"]]
    out_size = s["net_size"]
    size = int(s["input_size"])
    common = (hook("p5.resize", size=size),)
    if str(s["pretrained"]) != "none":
        common += (hook("p5.imagenet_init", source=str(s["pretrained"])),)
    base = {"batch_size": int(s["batch_size"]), "lr": float(s["lr"]), "optimizer": s["optimizer"],
            "augment": s["augment"], "select": s["select"], "epochs": int(s["epochs"]),
            "max_batches": s["max_batches"]}
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
            if method == "rrn":   # test target: the factor index (accuracy and confusion over factors)
                evaluate = tuple(view(f"{te} {factor_name(k)}", te, hook("resolution.fixed_factor", factor=k,
                                      target_index=i, out_size=out_size)) for i, k in enumerate(FACTORS))
            elif method == "rabn":  # scored by its metrics hook (oracle and routed); this view: mixed factors
                evaluate = (view(f"{te} (cyclic factors)", te),)
                hooks += (hook("p5.rabn_grid", factors=list(FACTORS), split=te, router=f"rrn_s{seed}",
                               router_kw={"factors": list(FACTORS)}, size=size, out_size=out_size),)
            else:
                shown = TABLE3_FACTORS if method == "joint" else FACTORS
                evaluate = tuple(view(f"{te} {factor_name(k)}", te, hook("resolution.fixed_factor", factor=k,
                                      out_size=out_size)) for k in shown)
            if method in ("single", "joint"):
                # the validation grid that picks a block per factor; a block's ×12-×16 test columns without
                # probabilities (its record stays small)
                grid = [["val", list(FACTORS)]]
                if method == "single":
                    grid.append([te, [k for k in TABLE3_FACTORS if k not in FACTORS]])
                hooks += (hook("p5.accuracy_grid", grid=grid, size=size, out_size=out_size),)
            specs.append(RunSpec(
                notebook=NOTEBOOK, paper=PAPER, arm=a["arm"], model=a["model"], model_kw=a["model_kw"],
                dataset=s["dataset"], data_kw=s["data_kw"], cap=s["cap"], train=(tr,), val=(va,),
                evaluate=evaluate, config=cfg, seed=seed, hooks=hooks, keep=a["keep"],
                name=f"{a['name']}_s{seed}" if a.get("name") else "",
                needs=tuple(f"{n}_s{seed}" for n in a.get("needs", ())),
                tags={**a["tags"], "method": method, "factors": fac, "input_size": int(s["input_size"]),
                      "net_size": out_size, "pretrained": str(s["pretrained"])}))
    return specs


# ------------------------------------------------------------------------------------------------- assembly
def table2_from_records(records: list[dict], seed: int) -> "pd.DataFrame":
    """Tables 1-2 (accuracy, rows ×1…×8 + Mean) of one seed from the plan's stored records, without a network:
    DRGFER routes each image to the block its stored RRN decision names (per image, so Assign/Gather need not
    run again), the oracle to the block of the true factor; Mean/Max fuse the blocks' stored probabilities;
    RA-BN's columns come from its metrics hook. The paper's columns first, then ours (labelled)."""
    import numpy as np
    import pandas as pd

    from ..resolution import fuse
    from ..runs.store import decode_labels, predictions
    by_arm = {r["spec"]["arm"]: r for r in records if r["spec"]["seed"] == seed and r["spec"]["notebook"] == NOTEBOOK}
    test = by_arm["RRN"]["spec"]["evaluate"][0]["split"]

    def at(arm, k):
        return predictions(by_arm[arm], f"{test} {factor_name(k)}")

    def acc(arm, k):
        return by_arm[arm]["metrics"][f"{test} {factor_name(k)}"]["accuracy"]

    rows = {}
    for i, k in enumerate(FACTORS):
        blocks = [at(f"Table 3 · {factor_name(b)}", k) for b in FACTORS]
        route = decode_labels(by_arm["RRN"]["predictions"][f"{test} {factor_name(k)}"]["pred"])
        y = blocks[0].y_true
        routed = np.stack([b.y_pred for b in blocks])[route, np.arange(len(y))]
        rabn = by_arm["RA-BN"]["metrics"]["p5.rabn_grid"]
        row = {"Mean": fuse(blocks, "mean").accuracy, "Max": fuse(blocks, "max").accuracy,
               "RA-BN": rabn[f"router {factor_name(k)}"], "DA": acc("DA", k),
               "MSTrain": acc(f"Table 3 · {factor_name(FACTORS)}", k), "DRGFER": float((routed == y).mean()),
               "DRGFER (oracle router)": blocks[i].accuracy, "RA-BN (oracle)": rabn[f"oracle {factor_name(k)}"]}
        if "DA (5 domains)" in by_arm:
            row["DA (5 domains)"] = acc("DA (5 domains)", k)
        rows[factor_name(k)] = row
    t = pd.DataFrame(rows).T
    t.loc["Mean"] = t.mean(axis=0)
    return t
