"""One protocol for every paper's main FER2013 model: the study's leaderboard, clean-test accuracy and
resolution robustness (the summary's sections 2-4).

The five papers cannot be ranked from their own numbers: each used its own split (official, random 80/20,
80/10/10), budget, augmentation and test set. Here each paper's main FER2013 model is trained by the one engine
(`fer_lib.train.fit`) under one recipe — same optimiser, epochs, batch, augmentation, seeds, official split
(Training / PublicTest for the epoch choice / PrivateTest) — and every model is then tested three ways:
on PrivateTest, on the PrivateTest images that have no byte-identical copy in Training (`clean`), and on
PrivateTest degraded by paper 5's factors ×1…×8 (bicubic down, bicubic back up, `fer_lib.degrade`).

Which model stands for each paper (a reading; `MAIN_MODELS` is switchable by name):
- p1 Wu & Finch: Base+STN (ResNet18 behind the identity-initialised STN). Their best rows add EDSR ×2, which
  needs its own pre-training on faces and ~10 GFLOPs per image: left out of the common budget (notebook 01
  measures it);
- p2: ResNet50 + CNN (grey first conv, frozen backbone, L2-normalised head), ImageNet weights when they can be had;
- p3 Zhao: ResNet18, the paper's final model (§V);
- p4 Khan et al.: the spatial-deep-learning model (baseline branch + SDL-1 + SDL-2);
- p5 Wang et al.: ResNet18 trained on a mix of ×1…×8 (MSTrain, the paper's joint-training baseline). Paper 5
  never uses FER2013 (it uses FERPlus, FER2013's images relabelled); DRGFER itself is several networks and a
  router, not one model under one budget — notebook 05 measures it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch.nn as nn

from .metrics import Predictions
from .models.drg import FACTORS
from .models.pipeline import variant
from .models.resnet import resnet18
from .models.sdl import SpatialDeepLearning
from .models.transfer import ResNet50Transfer
from .resolution import FixedFactor, RandomFactor


@dataclass(frozen=True)
class MainModel:
    paper: str
    build: Callable[..., nn.Module]      # build(pretrained) -> a 7-class model of 1x48x48 inputs
    reading: str
    batch_fn: Callable | None = None     # training-batch hook (paper 5's multi-resolution mix)


MAIN_MODELS: dict[str, MainModel] = {
    "p1 ResNet18+STN": MainModel("p1", lambda pretrained=None: variant("Base+STN", num_classes=7),
                                 "Base+STN of Table 2; EDSR stage left out (own pre-training, ~10 GFLOPs/image)"),
    "p2 ResNet50+CNN": MainModel("p2", lambda pretrained="imagenet": ResNet50Transfer(num_classes=7,
                                                                                      pretrained=pretrained),
                                 "§2: grey conv1, frozen backbone, refinement + L2-normalised head"),
    "p3 ResNet18": MainModel("p3", lambda pretrained=None: resnet18(num_classes=7),
                             "§V: the final model"),
    "p4 SDL": MainModel("p4", lambda pretrained=None: SpatialDeepLearning(num_classes=7),
                        "§3-4: baseline branch + SDL-1 + SDL-2"),
    "p5 ResNet18 MSTrain": MainModel("p5", lambda pretrained=None: resnet18(num_classes=7),
                                     "§3 MSTrain: each training image degraded by a factor drawn from x1...x8",
                                     batch_fn=RandomFactor(FACTORS)),
}


def build(name: str, pretrained: str | None = "imagenet") -> nn.Module:
    """The model `name` of MAIN_MODELS; `pretrained` matters to p2 only (None: random init)."""
    if name not in MAIN_MODELS:
        raise ValueError(f"unknown protocol model {name!r}; expected one of {list(MAIN_MODELS)}")
    return MAIN_MODELS[name].build(pretrained)  # the builders that load no weights ignore it


def pretrained_flag(model: nn.Module) -> bool:
    """True only when a model says it loaded pretrained weights (ResNet50Transfer does); False otherwise."""
    return bool(getattr(model, "pretrained", False))


def test_views(model: nn.Module, test, clean: np.ndarray, factors: Sequence[float] = FACTORS,
               **eval_kw) -> dict[str, Predictions]:
    """Predictions of `model` on PrivateTest, its clean and duplicated parts, and each degraded copy.

    clean: boolean mask over `test`, True where the image has no byte-identical copy in Training.
    Keys: "PrivateTest", "PrivateTest clean", "PrivateTest duplicates", "PrivateTest x1", "PrivateTest x2", ...
    eval_kw go to fer_lib.train.evaluate (mean, std, batch_size, device, amp)."""
    from .train import evaluate

    clean = np.asarray(clean, dtype=bool)
    if clean.shape != (len(test),):
        raise ValueError(f"test_views: clean mask has shape {clean.shape}, expected ({len(test)},)")
    full = evaluate(model, test, **eval_kw)
    out = {"PrivateTest": full, "PrivateTest clean": full.subset(clean),
           "PrivateTest duplicates": full.subset(~clean)}
    for k in factors:
        out[f"PrivateTest x{k:g}"] = full if k == 1 else evaluate(model, test, batch_fn=FixedFactor(k), **eval_kw)
    return out
