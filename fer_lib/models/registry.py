"""The model registry: every model a notebook trains, built by name (as timm's `create_model`).

    create_model("ZhaoVGG", num_classes=7)          -> nn.Module
    create_model("Pipeline:Base+STN", sr_scale=2)   -> paper 1's Table 2 row
    model_version("DRGFER")                         -> "DRGFER=1,MRAFER=1,RRN=1,resnet18=1"

A run spec (fer_lib.runs) names its model by registry name + JSON-able keyword arguments, and its key includes
`model_version(name)`: the `VERSIONS` numbers of every model class the entry builds, kept beside the classes in
fer_lib/models/*.py. Bump a class's number whenever its parameters or its forward change. tests/test_models.py
compares each entry's parameter shapes with tests/data/model_signatures.json and fails when the shapes moved
under an unchanged version; after a bump, refresh the snapshot with `registry.write_snapshot()`.

Weights that come from another run (paper 1's trained EDSR inside a pipeline, paper 5's trained FER blocks inside
DRGFER) are not the registry's business: it builds the architecture, the run plan's hooks load the weights.
"""
from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from ..core.io import atomic_write_text
from . import cnn, drg, edsr, pipeline, resnet, sdl, small, stn, transfer
from .cnn import ResidualCNN, VanillaCNN, ZhaoCNN, ZhaoVGG, gaussian_weights_init
from .drg import FACTORS, RABN, RRN, make_dann, make_drgfer
from .edsr import EDSR
from .sdl import SpatialDeepLearning
from .small import SmallCNN
from .stn import STNClassifier
from .transfer import ResNet50Transfer

__all__ = ["MODELS", "ALIASES", "ModelEntry", "create_model", "model_version", "param_signature", "snapshot",
           "snapshot_problems", "write_snapshot"]

# Every model class's version number, and the file that holds it (for the "bump" message).
_VERSIONS: dict[str, tuple[int, str]] = {
    cls: (v, f"fer_lib/models/{m.__name__.rsplit('.', 1)[-1]}.py")
    for m in (cnn, drg, edsr, pipeline, resnet, sdl, small, stn, transfer) for cls, v in m.VERSIONS.items()}


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[..., nn.Module]
    source: str                      # where the architecture comes from: paper, section
    parts: tuple[str, ...]           # the model classes it builds (keys of the modules' VERSIONS)
    probe: dict = field(default_factory=dict)   # kwargs of the shape snapshot (no download, default otherwise)


def _resnet18(num_classes: int = 7, in_chans: int = 1, small_input: bool = False,
              init_std: float | None = None) -> nn.Module:
    """torchvision ResNet18 (fer_lib.models.resnet); `init_std` gives its convs paper 3's N(0, std) init."""
    model = resnet.resnet18(num_classes=num_classes, in_chans=in_chans, small_input=small_input)
    return gaussian_weights_init(model, init_std) if init_std else model


def _pipeline(variant_name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int = 7, in_chans: int = 1, image_size: int = 48, classifier: str = "resnet18",
              classifier_kw: dict | None = None, sr_scale: int = 2, sr_kw: dict | None = None,
              sr_frozen: bool = False) -> nn.Module:
        """Paper 1's Table 2 row `variant_name`; the classifier by registry name, EDSR(sr_scale, **sr_kw) as SR
        (architecture only: a hook loads the trained SR weights)."""
        clf = create_model(classifier, num_classes=num_classes, in_chans=in_chans, **(classifier_kw or {}))
        sr = EDSR(scale=sr_scale, in_chans=in_chans, **(sr_kw or {})) if "SR" in variant_name else None
        return pipeline.variant(variant_name, num_classes=num_classes, in_chans=in_chans, image_size=image_size,
                                sr_scale=sr_scale, classifier=clf, sr=sr, sr_frozen=sr_frozen)
    build.__name__ = f"pipeline_{variant_name}"
    return build


def _rrn(factors=FACTORS, in_chans: int = 1, small_input: bool = False) -> nn.Module:
    return RRN(tuple(factors), in_chans=in_chans, small_input=small_input)


def _drgfer(num_classes: int = 7, factors=FACTORS, in_chans: int = 1, small_input: bool = False) -> nn.Module:
    return make_drgfer(num_classes, tuple(factors), in_chans=in_chans, small_input=small_input)


P1, P2 = "Wu & Finch, paper 1", "ResNet50 transfer for FER2013, paper 2"
P3, P4, P5 = "Zhao, paper 3", "Khan et al., paper 4", "Wang et al. (DRGFER), paper 5"
MODELS: dict[str, ModelEntry] = {
    "SmallCNN": ModelEntry(SmallCNN, "the study's own reference model (no paper)", ("SmallCNN",)),
    "ZhaoCNN": ModelEntry(ZhaoCNN, f"{P3} §III.B: the CNN", ("ZhaoCNN",)),
    "ZhaoVGG": ModelEntry(ZhaoVGG, f"{P3} §III.B: the VGG-style network", ("ZhaoVGG",)),
    "resnet18": ModelEntry(_resnet18, f"{P3} §III.B; {P5} §4.1 (FER blocks); {P1} classifier (a reading)",
                           ("resnet18",)),
    "VanillaCNN": ModelEntry(VanillaCNN, f"{P2} §3: the vanilla CNN baseline", ("VanillaCNN",)),
    "ResidualCNN": ModelEntry(ResidualCNN, f"{P2} §3: residual block + CNN", ("ResidualCNN",)),
    "ResNet50Transfer": ModelEntry(ResNet50Transfer, f"{P2} §2: ResNet50 + CNN", ("ResNet50Transfer",),
                                   probe={"pretrained": None}),
    "SpatialDeepLearning": ModelEntry(SpatialDeepLearning, f"{P4} §3-4: baseline branch + SDL-1 + SDL-2",
                                      ("SpatialDeepLearning", "STN")),
    "EDSR": ModelEntry(EDSR, f"{P1} §3.2 (Lim et al. 2017)", ("EDSR",)),
    "STNClassifier": ModelEntry(STNClassifier, f"{P1} §4.2: the STN tutorial's MNIST network", ("STNClassifier", "STN")),
    # paper 1's STNSRClassifier; "Pipeline" (its old class name) stays in these names and its VERSIONS key: run keys
    **{f"Pipeline:{v}": ModelEntry(_pipeline(v), f"{P1} §3.3, Table 2 row {v}" if v in pipeline.VARIANTS else
                                   f"{P1} §3.3: our control arm {v} (bicubic x2 where EDSR goes; not the paper's)",
                                   ("Pipeline", "resnet18") + (("STN",) if "STN" in v else ())
                                   + (("EDSR",) if "SR" in v else ()) + (("Bicubic",) if "bicubic" in v else ()))
       for v in pipeline.ARMS},
    "RRN": ModelEntry(_rrn, f"{P5} §4.1: resolution recognition network (ResNet18)", ("RRN", "resnet18")),
    "DRGFER": ModelEntry(_drgfer, f"{P5} §4: RRN + one FER block per resolution group",
                         ("DRGFER", "MRAFER", "RRN", "resnet18")),
    "RABN": ModelEntry(RABN, f"{P5} §3: resolution-aware BN baseline", ("RABN", "resnet18")),
    "DANN": ModelEntry(make_dann, f"{P5} §3: domain-adversarial baseline", ("DANN", "resnet18")),
}
ALIASES = {"STN-MNIST": "STNClassifier", "ResNet18": "resnet18", "SDL": "SpatialDeepLearning",
           **{v: f"Pipeline:{v}" for v in pipeline.ARMS}}


def _entry(name: str) -> tuple[str, ModelEntry]:
    key = ALIASES.get(name, name)
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODELS)} (aliases: {', '.join(ALIASES)})")
    return key, MODELS[key]


def create_model(name: str, **kw) -> nn.Module:
    """The registered model `name` built with keyword arguments `kw` (the class's own; see its docstring)."""
    key, entry = _entry(name)
    try:
        inspect.signature(entry.build).bind(**kw)
    except TypeError as e:
        params = ", ".join(inspect.signature(entry.build).parameters)
        raise TypeError(f"create_model({key!r}): {e}; it takes {params}") from None
    return entry.build(**kw)


def model_version(name: str) -> str:
    """The versions of the model classes `name` builds, e.g. "DRGFER=1,MRAFER=1,RRN=1,resnet18=1"."""
    _, entry = _entry(name)
    return ",".join(f"{p}={_VERSIONS[p][0]}" for p in entry.parts)


def param_signature(model: nn.Module) -> str:
    """A short hash of the names and shapes of every parameter and buffer of `model`."""
    text = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def snapshot(names=None) -> dict[str, dict]:
    """{name: {version, signature, params}} at each entry's probe kwargs (built on the meta device: no memory)."""
    out = {}
    for name in names or MODELS:
        with torch.device("meta"):
            model = create_model(name, **MODELS[name].probe)
        out[name] = {"version": model_version(name), "signature": param_signature(model),
                     "params": int(sum(p.numel() for p in model.parameters()))}
    return out


def snapshot_problems(stored: dict, current: dict) -> list[str]:
    """Why `current` (a snapshot) disagrees with `stored`: shapes changed under an unchanged version, etc."""
    problems = []
    refresh = "then refresh: python -c 'from fer_lib.models import registry; registry.write_snapshot()'"
    for name, now in current.items():
        was = stored.get(name)
        if was is None:
            problems.append(f"{name}: not in the snapshot; {refresh}")
        elif now["signature"] != was["signature"] and now["version"] == was["version"]:
            homes = "; ".join(f"VERSIONS[{p!r}] in {_VERSIONS[p][1]}" for p in MODELS[name].parts)
            problems.append(f"{name}: parameter shapes changed ({was['params']:,} -> {now['params']:,} parameters) "
                            f"under the unchanged version {now['version']}: bump VERSION of {name} "
                            f"(the changed class's number among: {homes}); {refresh}")
        elif now != was:
            problems.append(f"{name}: snapshot is stale ({was} -> {now}); {refresh}")
    problems += [f"{name}: in the snapshot but no longer registered; {refresh}" for name in stored
                 if name not in MODELS]
    return problems


def write_snapshot(path: str | Path = Path(__file__).parents[2] / "tests" / "data" / "model_signatures.json") -> Path:
    """Write `snapshot()` to `path` atomically (after a VERSIONS bump)."""
    return atomic_write_text(path, json.dumps(snapshot(), indent=1) + "\n")
