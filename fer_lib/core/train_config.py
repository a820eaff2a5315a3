"""TrainConfig: one training recipe as data, validated when it is built (fer_lib.core.train runs it).

Every value is checked up front, so a bad one fails with the field's name before any training (issue 18):
bools are refused for numbers (`lr=True`), counts must be integers (`max_batches=2.5`), rates finite and
positive (`lr=inf`, `gamma<0`, `grad_clip<=0`), `label_smoothing` a number in [0, 1), `device` one of
auto|cpu|cuda|cuda:N. `hash()` names the recipe a checkpoint must match; the execution switches
(`EXECUTION`: device, progress, CUDA graphs, channels_last, cuDNN benchmark) are left out of it.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .augment import get_augment


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _finite(v) -> bool:
    return _is_real(v) and math.isfinite(float(v))


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"            # adam | adamw | sgd
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    momentum: float = 0.9              # sgd only
    weight_decay: float = 0.0
    scheduler: str = "none"            # none | step (× gamma every step_size epochs) | cosine | plateau
    step_size: int = 10
    gamma: float = 0.1
    class_weights: list[float] | str | None = None   # a list, "inverse" (N / (C·n_c)), or None
    label_smoothing: float = 0.0
    l2: dict[str, float] = field(default_factory=dict)  # param-name prefix -> λ: loss += λ/2 · ΣW² (weights)
    freeze: list[str] = field(default_factory=list)     # param-name prefixes that are not trained
    oversample: bool = False           # draw each epoch with probability ∝ 1 / class count
    augment: str | dict | None = "flip"  # a fer_lib.core.augment preset name or Augment fields
    mean: float = 0.5                  # input normalisation after /255
    std: float = 0.5
    amp: bool = True                   # bfloat16 autocast on CUDA; ignored on CPU
    seed: int = 0
    device: str = "auto"               # auto | cpu | cuda | cuda:N
    select: str = "val_acc"            # val_acc | val_loss | last: which epoch's weights fit() returns
    max_batches: int | None = None     # budget cap on batches per epoch (smoke and cpu profiles)
    grad_clip: float | None = None
    eval_batch_size: int = 512
    progress: bool = True              # a live bar on a terminal; nothing when stderr is not a TTY
    # Execution switches (off until measured on a GPU; not part of the recipe hash):
    cuda_graph: bool = False           # CUDA only: replay the full-batch training step as one CUDA graph
    channels_last: bool = False        # NHWC model and batches (tensor cores prefer it for convolutions)
    cudnn_benchmark: bool = False      # CUDA only: let cuDNN time its algorithms on the first batches

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: {why}")
        for name in ("epochs", "batch_size", "step_size", "eval_batch_size"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                bad(name, "must be a positive integer")
        if not _is_int(self.seed) or self.seed < 0:
            bad("seed", "must be an integer >= 0")
        if self.max_batches is not None and (not _is_int(self.max_batches) or self.max_batches < 1):
            bad("max_batches", "must be None or an integer >= 1")
        if not (_finite(self.lr) and self.lr > 0):
            bad("lr", "must be a finite number > 0")
        if not (_finite(self.gamma) and self.gamma > 0):
            bad("gamma", "must be a finite number > 0 (the learning-rate factor of the step/plateau scheduler)")
        if self.grad_clip is not None and not (_finite(self.grad_clip) and self.grad_clip > 0):
            bad("grad_clip", "must be None (no clipping) or a finite number > 0 (the max gradient norm)")
        if not (_finite(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            bad("label_smoothing", "must be a number in [0, 1)")
        for name in ("momentum", "weight_decay"):
            if not (_finite(getattr(self, name)) and getattr(self, name) >= 0):
                bad(name, "must be a finite number >= 0")
        if not (_finite(self.eps) and self.eps > 0):
            bad("eps", "must be a finite number > 0")
        if not _finite(self.mean):
            bad("mean", "must be a finite number")
        if not (_finite(self.std) and self.std > 0):
            bad("std", "must be > 0")
        if (not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2
                or not all(_finite(b) and 0 <= b < 1 for b in self.betas)):
            bad("betas", "must be two numbers in [0, 1)")
        for name in ("oversample", "amp", "progress", "cuda_graph", "channels_last", "cudnn_benchmark"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                bad(name, "must be True or False")
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            bad("device", "choose auto, cpu, cuda or cuda:N")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            bad("optimizer", "choose adam, adamw or sgd")
        if self.scheduler not in ("none", "step", "cosine", "plateau"):
            bad("scheduler", "choose none, step, cosine or plateau")
        if self.select not in ("val_acc", "val_loss", "last"):
            bad("select", "choose val_acc, val_loss or last")
        if isinstance(self.class_weights, str) and self.class_weights != "inverse":
            bad("class_weights", 'use a list of numbers, "inverse" or None')
        if isinstance(self.class_weights, (list, tuple)) and not all(_finite(w) and w >= 0 for w in self.class_weights):
            bad("class_weights", "must be finite numbers >= 0")
        if not isinstance(self.l2, dict) or not all(isinstance(k, str) and _finite(v) and v >= 0
                                                    for k, v in self.l2.items()):
            bad("l2", "must map parameter-name prefixes to finite numbers >= 0")
        if not isinstance(self.freeze, (list, tuple)) or not all(isinstance(p, str) for p in self.freeze):
            bad("freeze", "must be a list of parameter-name prefixes")
        self.betas = tuple(self.betas)
        get_augment(self.augment)  # validates the spec now, not mid-training

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"TrainConfig: unknown parameter(s) {sorted(unknown)}; "
                             f"known: {sorted(f.name for f in fields(cls))}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return TrainConfig.from_dict({**asdict(self), **changes})

    def to_dict(self) -> dict:
        return asdict(self)

    # How a run is executed, not what it computes: left out of the recipe hash (a checkpoint written on a
    # GPU with graphs resumes without them, and old checkpoints keep their hash).
    EXECUTION = ("progress", "device", "eval_batch_size", "cuda_graph", "channels_last", "cudnn_benchmark")

    def hash(self) -> str:
        """Identifies a training recipe (what a checkpoint must match to be resumed)."""
        d = {k: v for k, v in asdict(self).items() if k not in self.EXECUTION}
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]
