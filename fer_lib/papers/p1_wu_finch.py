"""Paper 1's runs: Wu & Finch, "Enhancing Facial Expression Recognition Accuracy Through Spatial Transformation
and Super-Resolution Preprocessing" — STN alignment and EDSR super-resolution in front of a classifier.

What the paper states (labelled "paper"): Adam with beta (0.9, 0.999), eps 1e-8, minibatch 16, lr 1e-4 "updated
after each 2x10^5 minibatch" (§4.2); EDSR with B = 16 residual blocks and F = 128 features, the x2 model trained
first and used to initialise the x4 one, L1 loss (§3.2, §4.2); the STN on MNIST (Figs 5-6); Table 2's four rows
Base, +STN, +SR, +STN+SR on CK+ and FER2013; CK+'s 327 labelled images used as train and test set alike (Table 1).
Readings where it is silent (labelled "reading"): the classifier (ResNet18: Fig. 2 draws a ResNet), the lr
factor (0.5, EDSR's), EDSR's training length (EDSR's 3x10^5 minibatches), the epochs of Table 2 (FER2013 60, CK+
100), CK+ folds (10 subject-grouped), the scale feeding the classifier (x2), SR frozen after its own training,
flip augmentation, the MNIST recipe (the PyTorch STN tutorial's), 3 seeds. The notebook's choices table gives the
why of each; every value here is a parameter (`plan(profile, **overrides)`, the notebook's `-p`).

Runs (`plan`): MNIST with and without STN (on the CPU: a tiny network, tag device="cpu"); the EDSR ladders
x2 -> x4 for L1 and for L2, each scale its own run (the x4 run needs the x2 run's weights; the L2 and x4 runs feed
only the L1-vs-L2 and x2 -> x4 claims); Table 2's six arms — the paper's four and two bicubic x2 controls
(`pipeline.CONTROLS`) — on FER2013 and on each CK+ subject-grouped fold, and the paper's CK+ protocol
(train = test on all labelled images) for the paper's four arms. Every +SR arm needs the trained EDSR x2 (L1)
weights (`needs`, artefact "weights"; its key enters theirs); without an STN in front, the frozen stage (EDSR or bicubic) is computed once
per image and per flip and looked up (`superres.CachedStage`, hook "p1.sr_stage", cache=True): the classifier's
input is the live pipeline's (tests/test_superres.py).

The learning-rate halving every 2x10^5 minibatches never fires in Table 2: a 60-epoch FER2013 classifier at batch
16 makes 60 x 1,795 = 107,700 minibatches (`schedule_note`). It fires once in the EDSR runs (3x10^5 minibatches).

What notebook 01 shows and records from these runs (Tables 1-2, Figs 5-6, EDSR's PSNR/SSIM, the stated gains) is in
`p1_analysis`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..models.pipeline import ARMS, VARIANTS
from ..runs.hooks import HookContext, register
from ..runs.plans import layered_settings
from ..runs.spec import RunSpec, hook

NOTEBOOK, PAPER = "01", "p1"
SR_ARMS = tuple(a for a in ARMS if a.endswith(("SR", "bicubic")))
SMOKE_DATA = {
    "mnist": {"counts": {"train": 224, "test": 112}, "size": 28, "seed": 3},
    "fer2013": {"counts": {"Training": 280, "PublicTest": 70, "PrivateTest": 70}, "seed": 1},
    "ckplus": {"counts": {"all": 140}, "seed": 2},
}
FER_SPLITS = {"train": ("Training",), "val": ("PublicTest",), "evaluate": ("PrivateTest",)}
FER2013_TRAINING = 28_709     # official Training rows: 1,795 minibatches of 16 per epoch

# The recipe: (value, where it comes from). The profile budgets below override some of it outside full.
RECIPE = {
    "batch_size": (16, "paper §4.2: minibatch 16"),
    "lr": (1e-4, "paper §4.2: initial learning rate 1e-4"),
    "betas": ([0.9, 0.999], "paper §4.2: Adam beta1 0.9, beta2 0.999"),
    "eps": (1e-8, "paper §4.2: Adam epsilon 1e-8"),
    "lr_step_minibatches": (200_000, "paper §4.2: the lr is updated after each 2x10^5 minibatches"),
    "lr_gamma": (0.5, "reading: the update factor is not given; EDSR's halving"),
    "sr_blocks": (16, "paper §3.2: B = 16 residual blocks"),
    "sr_feats": (128, "paper §3.2: F = 128 features"),
    "sr_res_scale": (0.1, "reading: not given; EDSR's 0.1 for wide models (F = 128 is twice its stable width)"),
    "sr_minibatches": (300_000, "reading: no SR training length given; EDSR's 3x10^5 minibatches of 16"),
    "sr_amp": (False, "reading: EDSR training and PSNR/SSIM scoring in fp32 (bf16 can blur a 0.04 dB L1-L2 gap)"),
    "classifier": ("resnet18", "reading: never named; Fig. 2 draws a ResNet (ResNet18, standard stem)"),
    "pipeline_scale": (2, "reading: the SR scale feeding the classifier is not given; x2 (48 -> 96 px)"),
    "sr_mode": ("frozen", "reading: SR trained on its own (§3.2), then a fixed pre-processing stage (§3.3)"),
    "augment": ("flip", "reading: augmentation not mentioned; random horizontal flip"),
    "epochs_fer": (60, "reading: Table 2 epochs not given; FER2013 60 (~1.1x10^5 minibatches)"),
    "epochs_ck": (100, "reading: Table 2 epochs not given; CK+ 100"),
    "ck_k": (10, "reading: 10-fold subject-grouped CV (the paper trains and tests on the same 327 images)"),
    "ck_val": (0.0, "reading: no CK+ validation split (last epoch kept)"),
    "ck_peak_frames": (1, "paper Table 1: 327 images = one peak frame per labelled sequence"),
    "ck_paper_protocol": (True, "paper Table 1: train = test = the 327 images, run as its own labelled row"),
    "controls": (True, "reading (ours, not the paper's): Base+bicubic and Base+STN+bicubic control arms, what EDSR "
                       "adds beyond input size"),
    "mnist_lr": (0.01, "reading: the PyTorch STN tutorial's SGD lr 0.01, no momentum"),
    "mnist_batch": (64, "reading: the PyTorch STN tutorial's batch 64"),
    "sr_cache": (True, "reading (a saving that keeps the recipe): the frozen stage once per image and flip, reused"),
}

# Budgets per profile. smoke: tiny models on embedded synthetic faces (seconds); cpu: real data cut to ~20 min
# on 2 CPU cores (notebook 01 gives the arithmetic); full: the paper's settings and the readings above.
BUDGETS = {
    "smoke": dict(seeds=[0], mnist_epochs=2, sr_blocks=1, sr_feats=8, sr_epochs=1, sr_max_batches=None,
                  sr_eval_max=None, classifier="small", epochs_ck=2, epochs_fer=1, max_batches=None, ck_folds=1,
                  val_max=None, test_max=None, sr_cache=True, sr_weights="float32"),
    "cpu": dict(seeds=[0], mnist_epochs=20, sr_blocks=4, sr_feats=32, sr_epochs=3, sr_max_batches=250,
                sr_eval_max=1000, classifier="resnet18", epochs_ck=10, epochs_fer=3, max_batches=250, ck_folds=2,
                val_max=1000, test_max=None, sr_cache=False, sr_weights="float32"),
    "full": dict(seeds=[0, 1, 2], mnist_epochs=20, sr_blocks=16, sr_feats=128, sr_epochs=None, sr_max_batches=None,
                 sr_eval_max=None, classifier="resnet18", epochs_ck=100, epochs_fer=60, max_batches=None,
                 ck_folds=10, val_max=None, test_max=None, sr_cache=True, sr_weights="float16"),
}
FULL_SOURCES = {
    "seeds": "reading: the paper reports single numbers; 3 seeds give the spread a verdict needs",
    "mnist_epochs": "reading: the PyTorch STN tutorial's 20 epochs",
    "sr_epochs": "reading: None = sr_minibatches / minibatches per epoch (EDSR's 3x10^5)",
    "sr_max_batches": "reading: full passes (None)", "max_batches": "reading: full passes (None)",
    "sr_eval_max": "reading: every PrivateTest face", "val_max": "reading: all of PublicTest",
    "test_max": "reading: all of PrivateTest", "ck_folds": "reading: all 10 folds",
    "sr_weights": "budget: the trained EDSR weights travel between GPU sessions as float16 (x2: 10.9 MB; float32 "
                  "would be 21.9 MB, over the 16 MiB a file may have coming back from a device)",
}
# cpu keeps the live stage: its budget trains on 12,000 faces per arm, fewer than the 57,000 cached forwards.
PARAMETERS = tuple(dict.fromkeys((*RECIPE, *BUDGETS["full"])))


def settings(profile: str, **overrides) -> dict[str, dict]:
    """{name: {"value", "source"}}: the recipe, then the profile's budget, then overrides (None = keep)."""
    if profile == "full":   # the full budget restates the paper's recipe: a contradiction is a bug here
        bad = {k: v for k, v in BUDGETS["full"].items() if k in RECIPE and RECIPE[k][0] != v}
        if bad:
            raise AssertionError(f"p1 full budget {bad} contradicts the recipe")
    out = layered_settings("p1_wu_finch", RECIPE, BUDGETS, profile, overrides,
                           full_sources={k: FULL_SOURCES.get(k, "reading") for k in BUDGETS["full"] if k not in RECIPE})
    s = {k: d["value"] for k, d in out.items()}
    if s["sr_mode"] not in ("frozen", "end2end"):
        raise ValueError(f"parameter sr_mode={s['sr_mode']!r}: choose frozen or end2end")
    if s["pipeline_scale"] not in (2, 4):
        raise ValueError(f"parameter pipeline_scale={s['pipeline_scale']!r}: choose 2 or 4")
    if s["classifier"] not in ("resnet18", "small"):
        raise ValueError(f"parameter classifier={s['classifier']!r}: choose resnet18 or small")
    return out


def values(profile: str, **overrides) -> dict:
    return {k: d["value"] for k, d in settings(profile, **overrides).items()}


def choices(profile: str, **overrides) -> pd.DataFrame:
    """The settings as a table: value and source (paper / reading / budget / override)."""
    return pd.DataFrame(settings(profile, **overrides)).T.rename_axis("parameter")


# ------------------------------------------------------------------------------------------------ recipe -> config
def minibatches_per_epoch(n_train: int, batch_size: int, max_batches: int | None = None) -> int:
    steps = -(-n_train // batch_size)
    return min(steps, max_batches) if max_batches else steps


def train_config(s: dict, n_train: int, epochs: int, *, max_batches=None, **kw) -> dict:
    """TrainConfig fields of paper 1's recipe (§4.2): Adam, batch 16, lr 1e-4 x gamma every 2x10^5 minibatches.

    The engine steps its scheduler per epoch, so the interval becomes round(2e5 / minibatches per epoch) epochs
    (FER2013 at batch 16: 111 epochs; at 60 epochs it never fires)."""
    steps = minibatches_per_epoch(n_train, s["batch_size"], max_batches)
    return {"epochs": int(epochs), "batch_size": int(s["batch_size"]), "lr": float(s["lr"]), "optimizer": "adam",
            "betas": list(s["betas"]), "eps": float(s["eps"]), "scheduler": "step",
            "step_size": max(1, round(s["lr_step_minibatches"] / steps)), "gamma": float(s["lr_gamma"]),
            "augment": s["augment"], "max_batches": max_batches, "eval_batch_size": 128, **kw}


def sr_epochs(s: dict, n_train: int) -> int:
    """EDSR epochs: the budget's, or (None) the recipe's sr_minibatches over full passes."""
    return int(s["sr_epochs"] or math.ceil(s["sr_minibatches"] / minibatches_per_epoch(n_train, s["batch_size"])))


def schedule_note(s: dict, n_train: int, epochs: int, max_batches=None) -> str:
    """Whether the paper's lr step fires in a run of `epochs` epochs on `n_train` images."""
    steps = minibatches_per_epoch(n_train, s["batch_size"], max_batches)
    total, step = steps * epochs, s["lr_step_minibatches"]
    fires = total // step
    return (f"{epochs} epochs x {steps:,} minibatches of {s['batch_size']} = {total:,} minibatches: the lr step every "
            f"{step:,} minibatches " + ("never fires" if fires == 0 else f"fires {fires} time(s)"))


def sr_kw(s: dict) -> dict:
    return {"n_resblocks": int(s["sr_blocks"]), "n_feats": int(s["sr_feats"]), "res_scale": float(s["sr_res_scale"])}


def edsr_name(scale: int, loss: str) -> str:
    return f"edsr_x{scale}_{loss}"


# ------------------------------------------------------------------------------------------------ hooks
@register("p1.lr_hr", "batch_fn")
def _lr_hr(ctx: HookContext, scale: int):
    from .p1_superres import lr_hr_batch
    return lr_hr_batch(scale)


@register("p1.lr_hr_val", "val_batch_fn")
def _lr_hr_val(ctx: HookContext, scale: int):
    from .p1_superres import lr_hr_batch
    return lr_hr_batch(scale)


@register("p1.sr_loss", "loss_fn")
def _sr_loss(ctx: HookContext, kind: str = "l1"):
    from .p1_superres import sr_loss
    return sr_loss(kind)


def _load_edsr(ctx: HookContext, need: str, model):
    from .p1_superres import load_weights
    return load_weights(model, ctx.artefact(need, "weights"))


@register("p1.init_from_lower", "model")
def _init_from_lower(ctx: HookContext, need: str, scale: int, **kw):
    """The x4 EDSR initialised from the trained x2 run's weights (§3.2)."""
    from ..models.edsr import EDSR, load_from_lower_scale

    def apply(model):
        load_from_lower_scale(model, _load_edsr(ctx, need, EDSR(scale=scale, **kw)))
        return model
    return apply


@register("p1.psnr_ssim", "metrics")
def _psnr_ssim(ctx: HookContext, split: str = "PrivateTest"):
    """Held-out PSNR/SSIM (fp32, `scale` border pixels shaved) of EDSR and of bicubic, per image."""
    from .p1_superres import psnr_ssim, super_resolve

    def metrics(model, data):
        faces = data.views[split].images
        out = super_resolve(model, faces, model.scale, mean=ctx.mean, std=ctx.std, batch_size=128)
        p, q = psnr_ssim(out["sr"], faces, shave=model.scale)
        pb, qb = psnr_ssim(out["bicubic"], faces, shave=model.scale)
        return {"psnr": float(p.mean()), "ssim": float(q.mean()), "bicubic_psnr": float(pb.mean()),
                "bicubic_ssim": float(qb.mean()), "psnr_per_image": np.round(p, 3).tolist(),
                "ssim_per_image": np.round(q, 4).tolist()}
    return metrics


_CACHE: dict = {}   # the last CachedStage built in this process: consecutive SR runs on the same data share it


@register("p1.sr_stage", "model")
def _sr_stage(ctx: HookContext, need: str | None = None, cache: bool = False, augment="flip", amp: bool = True,
              batch_size: int = 16):
    """Load the needed EDSR run's weights into the pipeline's SR slot (bicubic arms: nothing to load); with
    `cache` (no STN in front, frozen stage), replace the stage by a `CachedStage` over every face of the run."""
    import torch
    from .p1_superres import CachedStage

    def apply(model):
        if need is not None:
            _load_edsr(ctx, need, model.sr)
        if cache and model.stn is None and model.sr_frozen:
            faces = np.concatenate([ctx.data.train.images, *([ctx.data.val.images] if ctx.data.val else []),
                                    *[v.images for v in ctx.data.views.values()]])
            mark = (need and str(ctx.artefact(need, "weights")), type(model.sr).__name__, ctx.data.fingerprint,
                    ctx.mean, ctx.std, augment, str(ctx.device), amp, batch_size)
            if _CACHE.get("mark") != mark:
                _CACHE.clear()
                with torch.random.fork_rng(devices=[]):
                    # batches of the training batch size: the same convolution shapes as the live stage
                    _CACHE.update(mark=mark, stage=CachedStage(model.sr, faces, flips=True, mean=ctx.mean,
                                                               std=ctx.std, augment=augment, device=ctx.device,
                                                               amp=amp, batch_size=batch_size))
            model.sr = _CACHE["stage"]
        return model
    return apply


# ------------------------------------------------------------------------------------------------ plan
def _cap(**caps) -> dict:
    caps = {k: int(v) for k, v in caps.items() if v}
    return {**caps, "seed": 0} if caps else {}


def _data(profile: str, name: str, **kw) -> tuple[str, dict]:
    return ("synthetic", SMOKE_DATA[name]) if profile == "smoke" else (name, kw)


def plan(profile: str, **overrides) -> list[RunSpec]:
    """Every run notebook 01's tables need, in dependency order (EDSR x2 before the runs that need it)."""
    s = values(profile, **overrides)
    seeds, specs = s["seeds"], []
    n_fer = SMOKE_DATA["fer2013"]["counts"]["Training"] if profile == "smoke" else FER2013_TRAINING
    fer_ds, fer_kw = _data(profile, "fer2013")
    sr_arch = sr_kw(s)

    # STN on MNIST (Figs 5-6): the tutorial's network with and without its STN; a CPU run.
    mn_ds, mn_kw = _data(profile, "mnist")
    mn_cfg = {"epochs": int(s["mnist_epochs"]), "batch_size": int(s["mnist_batch"]), "lr": float(s["mnist_lr"]),
              "optimizer": "sgd", "momentum": 0.0, "augment": "none", "mean": 0.1307, "std": 0.3081,
              "select": "last"}
    for use_stn in (True, False):
        for seed in seeds:
            specs.append(RunSpec(NOTEBOOK, PAPER, f"Figure 6 · {'with' if use_stn else 'without'} STN",
                                 "STNClassifier", mn_ds, config=mn_cfg, seed=seed, data_kw=mn_kw,
                                 model_kw={"num_classes": 10, "image_size": 28, "use_stn": use_stn},
                                 train=("train",), val=(), evaluate=("test",), tags={"device": "cpu"},
                                 keep=("weights",) if use_stn and seed == seeds[0] else ()))

    # EDSR ladders (§3.2, §4.2): x2 then x4 from x2, for L1 and L2; fp32; one training (the first seed).
    sr_cfg = train_config(s, n_fer, sr_epochs(s, n_fer), max_batches=s["sr_max_batches"], select="val_loss",
                          amp=bool(s["sr_amp"]))
    for loss in ("l1", "l2"):
        for scale in (2, 4):
            lower = edsr_name(2, loss) if scale == 4 else None
            hooks = [hook("p1.lr_hr", scale=scale), hook("p1.lr_hr_val", scale=scale), hook("p1.sr_loss", kind=loss),
                     hook("p1.psnr_ssim", split="PrivateTest")]
            if lower:
                hooks.insert(0, hook("p1.init_from_lower", need=lower, scale=2, **sr_arch))
            claim = "L1 vs L2 (§4.2)" if loss == "l2" else ("x2 -> x4 (§3.2)" if scale == 4 else "Table 2 SR stage")
            specs.append(RunSpec(NOTEBOOK, PAPER, f"EDSR x{scale} {loss.upper()}", "EDSR", fer_ds, config=sr_cfg,
                                 seed=seeds[0], data_kw=fer_kw, model_kw={"scale": scale, **sr_arch},
                                 cap=_cap(PublicTest=s["val_max"], PrivateTest=s["sr_eval_max"]), hooks=tuple(hooks),
                                 needs=(lower,) if lower else (), name=edsr_name(scale, loss),
                                 keep=("weights16",) if s["sr_weights"] == "float16" else ("weights",),
                                 tags={"claim": claim}, **FER_SPLITS))

    # Table 2: the paper's four arms and the bicubic controls, on FER2013 and CK+.
    arms = ARMS if s["controls"] else VARIANTS
    stage = edsr_name(s["pipeline_scale"], "l1")

    def t2(arm, dataset, data_kw, cfg, seed, *, split, train, val, evaluate, cap, label):
        frozen = s["sr_mode"] == "frozen"
        kw = {"num_classes": 7, "classifier": "resnet18" if s["classifier"] == "resnet18" else "SmallCNN", "sr_scale":
              int(s["pipeline_scale"]), "sr_frozen": frozen}
        if s["classifier"] == "small":
            kw["classifier_kw"] = {"widths": [8, 16, 32]}
        needs, hooks = (), ()
        if arm in SR_ARMS:
            edsr = arm.endswith("SR")
            if edsr:
                kw["sr_kw"] = sr_arch
            needs = (stage,) if edsr else ()
            hooks = (hook("p1.sr_stage", need=stage if edsr else None,
                          cache=bool(s["sr_cache"]) and frozen and "STN" not in arm, augment=s["augment"],
                          batch_size=int(s["batch_size"])),)
        return RunSpec(NOTEBOOK, PAPER, f"{label} · {arm}", f"Pipeline:{arm}", dataset, config=cfg, seed=seed,
                       data_kw=data_kw, model_kw=kw, split=split, train=train, val=val, evaluate=evaluate, cap=cap,
                       hooks=hooks, needs=needs, tags={"row": arm, "table": label, "paper_row": arm in VARIANTS})

    fer_cfg = train_config(s, n_fer, s["epochs_fer"], max_batches=s["max_batches"], select="val_acc")
    for arm in arms:
        for seed in seeds:
            specs.append(t2(arm, fer_ds, fer_kw, fer_cfg, seed, split={}, cap=_cap(PublicTest=s["val_max"],
                            PrivateTest=s["test_max"]), label="Table 2 FER2013", **FER_SPLITS))
    ck_ds, ck_kw = _data(profile, "ckplus", peak_frames=int(s["ck_peak_frames"]))
    n_ck = SMOKE_DATA["ckplus"]["counts"]["all"] if profile == "smoke" else 327
    ck_cfg = train_config(s, round(n_ck * (1 - 1 / s["ck_k"])), s["epochs_ck"], max_batches=s["max_batches"],
                          select="val_acc" if s["ck_val"] else "last")
    for arm in arms:
        for seed in seeds:
            for fold in range(min(int(s["ck_folds"]), int(s["ck_k"]))):
                split = {"kind": "group_kfold", "k": int(s["ck_k"]), "fold": fold, "seed": 0, "val": s["ck_val"]}
                specs.append(t2(arm, ck_ds, ck_kw, ck_cfg, seed, split=split, train=("train",),
                                val=("val",) if s["ck_val"] else (), evaluate=("test",), cap={},
                                label="Table 2 CK+ (subject-grouped folds)"))
    if s["ck_paper_protocol"]:
        cfg = train_config(s, n_ck, s["epochs_ck"], max_batches=s["max_batches"], select="last")
        for arm in VARIANTS:
            for seed in seeds:
                specs.append(t2(arm, ck_ds, ck_kw, cfg, seed, split={}, train=("all",), val=(), evaluate=("all",),
                                cap={}, label="Table 2 CK+ (paper's protocol: train = test)"))
    return specs
