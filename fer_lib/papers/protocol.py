"""One protocol for every paper's main FER2013 model: the study's leaderboard, clean-test accuracy and
resolution robustness (the summary's sections 2-4; notebook 06).

The five papers cannot be ranked from their own numbers: each used its own split (official, random 80/20,
80/10/10), budget, augmentation and test set. Here each paper's main FER2013 model is trained by the one engine
(`fer_lib.core.train.fit`) under one recipe — same optimiser, epochs, batch, augmentation, seeds, official split
(Training / PublicTest for the epoch choice / PrivateTest) — and every model is then tested three ways:
on PrivateTest, on the PrivateTest images that have no byte-identical copy in Training (`clean`), and on
PrivateTest degraded by paper 5's factors ×1…×8 (bicubic down, bicubic back up, `fer_lib.core.degrade`).

Which model stands for each paper (a reading; `MAIN_MODELS` is switchable by name, each a registry model):
- p1 Wu & Finch: Base+STN (ResNet18 behind the identity-initialised STN). Their best rows add EDSR ×2, which
  needs its own pre-training on faces and ~10 GFLOPs per image: left out of the common budget (notebook 01
  measures it);
- p2: ResNet50 + CNN (grey first conv, frozen backbone, L2-normalised head), ImageNet weights when they can be had;
- p3 Zhao: ResNet18, the paper's final model (§V);
- p4 Khan et al.: the spatial-deep-learning model (baseline branch + SDL-1 + SDL-2);
- p5 Wang et al.: ResNet18 trained on a mix of ×1…×8 (MSTrain, the paper's joint-training baseline). Paper 5
  never uses FER2013 (it uses FERPlus, FER2013's images relabelled); DRGFER itself is several networks and a
  router, not one model under one budget — notebook 05 measures it.

The recipe (Adam, lr 1e-3, batch 64, `standard` augmentation) is the study's own reading — one common, standard
recipe that gives no model its own tuning; `plan(profile, **overrides)` lists the runs (one per model and seed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch.nn as nn

from ..core.metrics import Predictions
from ..models.drg import FACTORS
from ..models.registry import create_model
from ..core.degrade import FixedFactor, RandomFactor
from ..runs.hooks import register
from ..runs.plans import layered_settings
from ..runs.spec import RunSpec, hook, view

NOTEBOOK = "06"


@dataclass(frozen=True)
class MainModel:
    paper: str
    model: str                   # registry name (fer_lib.models.create_model)
    reading: str
    model_kw: dict = field(default_factory=dict)
    train_factors: tuple = ()    # paper 5's MSTrain: each training image degraded by a factor drawn from these

    @property
    def batch_fn(self):
        """The training-batch hook as a callable (paper 5's multi-resolution mix), or None."""
        return RandomFactor(self.train_factors) if self.train_factors else None


MAIN_MODELS: dict[str, MainModel] = {
    "p1 ResNet18+STN": MainModel("p1", "Pipeline:Base+STN",
                                 "Base+STN of Table 2; EDSR stage left out (own pre-training, ~10 GFLOPs/image)"),
    "p2 ResNet50+CNN": MainModel("p2", "ResNet50Transfer", "§2: grey conv1, frozen backbone, refinement + "
                                 "L2-normalised head", {"pretrained": "imagenet"}),
    "p3 ResNet18": MainModel("p3", "resnet18", "§V: the final model"),
    "p4 SDL": MainModel("p4", "SpatialDeepLearning", "§3-4: baseline branch + SDL-1 + SDL-2"),
    "p5 ResNet18 MSTrain": MainModel("p5", "resnet18", "§3 MSTrain: each training image degraded by a factor "
                                     "drawn from x1...x8", train_factors=tuple(FACTORS)),
}

RECIPE = {
    "optimizer": ("adam", "reading: one common recipe (the papers: Adam 1e-4 p1/p2, unstated p3, AdamW p4, Adam p5)"),
    "lr": (1e-3, "reading: Adam's standard rate, constant"),
    "batch_size": (64, "reading: the usual FER2013 batch"),
    "augment": ("standard", "reading: flip, ±10° rotation, ±10 % shift, zoom 0.9-1.1"),
    "p2_weights": ("imagenet", "paper 2: ImageNet weights ('none': random init)"),
    "factors": (list(FACTORS), "paper 5 §5.1: the down-sampling factors of the robustness test"),
    "models": (list(MAIN_MODELS), "reading: each paper's main FER2013 model (see MAIN_MODELS)"),
}
# smoke: seconds on synthetic faces. cpu: about 30 min on 2 CPU cores for 5 models x 2 seeds: 2 epochs of 150
# batches (19,200 images, 2/3 of one pass over Training) per model and seed. full: 30 epochs, 3 seeds, a GPU.
BUDGETS = {"smoke": dict(seeds=[0], epochs=1, max_batches=2), "cpu": dict(seeds=[0, 1], epochs=2, max_batches=150),
           "full": dict(seeds=[0, 1, 2], epochs=30, max_batches=None)}
PARAMETERS = tuple(RECIPE) + tuple(BUDGETS["full"])
SMOKE_DATA = {"counts": {"Training": 192, "PublicTest": 70, "PrivateTest": 70}, "seed": 0}


def build(name: str, pretrained: str | None = "imagenet") -> nn.Module:
    """The model `name` of MAIN_MODELS; `pretrained` matters to p2 only (None: random init)."""
    if name not in MAIN_MODELS:
        raise ValueError(f"unknown protocol model {name!r}; expected one of {list(MAIN_MODELS)}")
    m = MAIN_MODELS[name]
    kw = {**m.model_kw, "pretrained": pretrained} if "pretrained" in m.model_kw else m.model_kw
    return create_model(m.model, **kw)


def pretrained_flag(model: nn.Module) -> bool:
    """True only when a model says it loaded pretrained weights (ResNet50Transfer does); False otherwise."""
    return bool(getattr(model, "pretrained", False))


def values(profile: str, **overrides) -> dict:
    """{name: value}: the recipe and the profile's budget, overrides applied (None = keep; unknown raises)."""
    out = {k: d["value"] for k, d in layered_settings("protocol", RECIPE, BUDGETS, profile, overrides).items()}
    bad = [m for m in out["models"] if m not in MAIN_MODELS]
    if bad:
        raise ValueError(f"protocol: models={bad}: unknown; choose among {list(MAIN_MODELS)}")
    return out


def plan(profile: str, **overrides) -> list[RunSpec]:
    """One run per model and seed, the one recipe: train on Training, the epoch chosen on PublicTest, then
    PrivateTest as is and degraded by each factor (views "PrivateTest x2", ...; x1 is PrivateTest itself)."""
    s = values(profile, **overrides)
    dataset, data_kw = ("synthetic", SMOKE_DATA) if profile == "smoke" else ("fer2013", {})
    config = {"optimizer": s["optimizer"], "lr": float(s["lr"]), "batch_size": int(s["batch_size"]),
              "augment": s["augment"], "epochs": int(s["epochs"]), "max_batches": s["max_batches"]}
    views = ["PrivateTest"] + [view(f"PrivateTest x{k:g}", "PrivateTest",
                                    hook("resolution.fixed_factor", factor=k)) for k in s["factors"] if k != 1]
    weights = None if s["p2_weights"] == "none" else s["p2_weights"]
    specs = []
    for name in s["models"]:
        m = MAIN_MODELS[name]
        kw = {**m.model_kw, "pretrained": weights} if "pretrained" in m.model_kw else dict(m.model_kw)
        hooks = [hook("resolution.random_factor", factors=list(m.train_factors))] if m.train_factors else []
        if "pretrained" in kw:
            hooks.append(hook("protocol.pretrained"))
        specs += [RunSpec(notebook=NOTEBOOK, paper=m.paper, arm=name, model=m.model, model_kw=kw, dataset=dataset,
                          data_kw=data_kw, config=config, seed=seed, train=("Training",), val=("PublicTest",),
                          evaluate=views, hooks=hooks, tags={"claim": "leaderboard · clean test · resolution"})
                  for seed in s["seeds"]]
    return specs


@register("protocol.pretrained", "metrics")
def _pretrained_metric(ctx):
    """Records whether the model really loaded pretrained weights (1) or fell back to random init (0)."""
    return lambda model, data: {"pretrained": float(pretrained_flag(model))}


def test_views(model: nn.Module, test, clean: np.ndarray, factors: Sequence[float] = FACTORS,
               **eval_kw) -> dict[str, Predictions]:
    """Predictions of `model` on PrivateTest, its clean and duplicated parts, and each degraded copy.

    clean: boolean mask over `test`, True where the image has no byte-identical copy in Training.
    Keys: "PrivateTest", "PrivateTest clean", "PrivateTest duplicates", "PrivateTest x1", "PrivateTest x2", ...
    eval_kw go to fer_lib.core.train.evaluate (mean, std, batch_size, device, amp)."""
    from ..core.train import evaluate

    clean = np.asarray(clean, dtype=bool)
    if clean.shape != (len(test),):
        raise ValueError(f"test_views: clean mask has shape {clean.shape}, expected ({len(test)},)")
    full = evaluate(model, test, **eval_kw)
    out = {"PrivateTest": full, "PrivateTest clean": full.subset(clean),
           "PrivateTest duplicates": full.subset(~clean)}
    for k in factors:
        out[f"PrivateTest x{k:g}"] = full if k == 1 else evaluate(model, test, batch_fn=FixedFactor(k), **eval_kw)
    return out


def accuracies(runs, clean: np.ndarray, factors: Sequence[float]) -> dict[tuple[str, str], list[float]]:
    """{(model, view): [accuracy per stored seed]} for the views of `test_views` ("PrivateTest", "PrivateTest
    clean", "PrivateTest duplicates", "PrivateTest x1", ...), from the runs' records (notebook 06)."""
    out = {}
    for name in runs.arms:
        preds = [p for p in runs.predictions(name, "PrivateTest") if p is not None]
        out[name, "PrivateTest"] = out[name, "PrivateTest x1"] = [p.accuracy for p in preds]
        out[name, "PrivateTest clean"] = [p.subset(clean).accuracy for p in preds]
        out[name, "PrivateTest duplicates"] = [p.subset(~clean).accuracy for p in preds]
        for k in factors:
            if k != 1:
                out[name, f"PrivateTest x{k:g}"] = runs.metric(f"PrivateTest x{k:g}")[name]
    return out


def pretrained_in_runs(runs, name: str) -> bool:
    """Whether every stored run of `name` really loaded pretrained weights (the "protocol.pretrained" metric);
    False for models that load none, and while no run is stored."""
    recs = [r for p, r in zip(runs.planned, runs.records) if p.spec.arm == name and r is not None]
    return bool(recs) and all(r["metrics"].get("protocol.pretrained", {}).get("pretrained") == 1 for r in recs)
