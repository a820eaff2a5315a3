"""The one training loop of the study: `fit()` and `evaluate()`, read top to bottom.

Every paper's training goes through here; what differs between papers is a `TrainConfig` value (optimizer,
step decay, class weights, L2 on chosen layers, frozen layers, oversampling, augmentation) or one of two
small hooks: `batch_fn` rewrites a batch after augmentation (degrade resolution, build LR/HR pairs, route to
a resolution group) and `loss_fn` replaces the loss (domain-adversarial training, regression).

Data are held in memory as one uint8 tensor on the training device; batches are sliced by index and
augmented on that device (fer_lib.augment), so no DataLoader or PIL sits in the hot path. Each epoch draws
its shuffling and augmentation from a generator seeded by (seed, epoch), and the global torch RNG (dropout)
is reseeded the same way: resuming from the checkpoint written after an epoch continues bit for bit.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .augment import get_augment
from .metrics import Predictions


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
    augment: str | dict | None = "flip"  # a fer_lib.augment preset name or Augment fields
    mean: float = 0.5                  # input normalisation after /255
    std: float = 0.5
    amp: bool = True                   # bfloat16 autocast on CUDA; ignored on CPU
    seed: int = 0
    device: str = "auto"               # auto | cpu | cuda | cuda:N
    select: str = "val_acc"            # val_acc | val_loss | last: which epoch's weights fit() returns
    max_batches: int | None = None     # budget cap on batches per epoch (smoke and cpu profiles)
    grad_clip: float | None = None
    eval_batch_size: int = 512
    progress: bool = True

    def __post_init__(self):
        def bad(name, why):
            raise ValueError(f"TrainConfig.{name}={getattr(self, name)!r}: {why}")
        for name in ("epochs", "batch_size", "step_size", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                bad(name, "must be a positive integer")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            bad("lr", "must be a positive number")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            bad("optimizer", "choose adam, adamw or sgd")
        if self.scheduler not in ("none", "step", "cosine", "plateau"):
            bad("scheduler", "choose none, step, cosine or plateau")
        if self.select not in ("val_acc", "val_loss", "last"):
            bad("select", "choose val_acc, val_loss or last")
        if isinstance(self.class_weights, str) and self.class_weights != "inverse":
            bad("class_weights", 'use a list of numbers, "inverse" or None')
        if self.max_batches is not None and self.max_batches < 1:
            bad("max_batches", "must be None or >= 1")
        if not 0 <= self.label_smoothing < 1:
            bad("label_smoothing", "must be in [0, 1)")
        if self.std <= 0:
            bad("std", "must be > 0")
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

    def hash(self) -> str:
        """Identifies a training recipe (what a checkpoint must match to be resumed)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("progress", "device", "eval_batch_size")}
        return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class FitResult:
    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    config: TrainConfig
    seconds: float
    resumed_from: int | None = None


# --------------------------------------------------------------------------------------------- data
def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for, but no CUDA device is available here")
    return torch.device(device)


def as_tensors(data, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (N, C, H, W), int64 labels (N,)) on `device`, from a FaceDataset or an (images, labels) pair.

    Images may be (N, H, W) grey, (N, H, W, C) or (N, C, H, W)."""
    images, labels = (data.images, data.labels) if hasattr(data, "images") else data
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, got {x.dtype}")
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.permute(0, 3, 1, 2)
    y = torch.as_tensor(np.asarray(labels) if not torch.is_tensor(labels) else labels, dtype=torch.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    return x.contiguous().to(device), y.to(device)


def normalise(x_uint8: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return (x_uint8.float() / 255.0 - mean) / std


def class_weights(labels: torch.Tensor, spec, num_classes: int) -> torch.Tensor | None:
    if spec is None:
        return None
    if spec == "inverse":
        n = torch.bincount(labels.cpu(), minlength=num_classes).float().clamp(min=1)
        return n.sum() / (num_classes * n)
    w = torch.as_tensor(spec, dtype=torch.float32)
    if w.shape != (num_classes,):
        raise ValueError(f"TrainConfig.class_weights has {len(w)} values for {num_classes} classes")
    return w


# --------------------------------------------------------------------------------------------- model setup
def freeze(model: nn.Module, prefixes: list[str]) -> int:
    """Turn off gradients of parameters whose name starts with a prefix; returns how many were frozen."""
    names = [n for n, _ in model.named_parameters()]
    for p in prefixes:
        if not any(n.startswith(p) for n in names):
            raise ValueError(f"TrainConfig.freeze: no parameter name starts with {p!r}")
    count = 0
    for n, param in model.named_parameters():
        if any(n.startswith(p) for p in prefixes):
            param.requires_grad_(False)
            count += param.numel()
    return count


def l2_penalty(model: nn.Module, l2: dict[str, float]) -> torch.Tensor | float:
    """Σ_prefix λ/2 · ΣW² over the weight matrices (not biases) of the named layers (paper 4, eqs. 4–6)."""
    total = 0.0
    for prefix, lam in l2.items():
        ws = [p for n, p in model.named_parameters() if n.startswith(prefix) and n.endswith("weight")]
        if not ws:
            raise ValueError(f"TrainConfig.l2: no weight parameter name starts with {prefix!r}")
        total = total + 0.5 * lam * sum((w ** 2).sum() for w in ws)
    return total


def make_optimizer(params, cfg: TrainConfig, device: torch.device):
    # Fused Adam: one kernel for the whole update; on this CPU it cut paper 3's CNN step from ~188 to ~22 ms.
    if cfg.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def make_scheduler(opt, cfg: TrainConfig):
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.gamma, patience=cfg.step_size)
    return None


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919) % (2 ** 63)


def _autocast(device: torch.device, amp: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


def _save_atomic(obj, path: Path):
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------- training
def fit(model: nn.Module, train, val=None, config: TrainConfig | dict | None = None, *,
        checkpoint: str | Path | None = None, batch_fn: Callable | None = None,
        val_batch_fn: Callable | None = None, loss_fn: Callable | None = None,
        callback: Callable | None = None, num_classes: int | None = None) -> FitResult:
    """Train `model` on `train` (a FaceDataset or (images, labels)), validating on `val` each epoch.

    checkpoint: file written after every epoch; when it exists, training resumes from it (it must come from
        the same TrainConfig recipe).
    batch_fn(x, y, gen) -> (x, y): applied to each normalised, augmented training batch.
    val_batch_fn(x, y, gen) -> (x, y): the same for validation batches (deterministic generator).
    loss_fn(model, x, y) -> (loss, logits or None): replaces cross entropy (penalties are still added).
    callback(epoch, row: dict, model): called after each epoch, once its checkpoint is written.
    Returns the weights of the best validation epoch (config.select) loaded into `model`.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config or {})
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    x_tr, y_tr = as_tensors(train, device)
    n_cls = num_classes or int(len(getattr(train, "classes", [])) or int(y_tr.max()) + 1)
    val_t = as_tensors(val, device) if val is not None else None
    model.to(device)
    if cfg.freeze:
        freeze(model, cfg.freeze)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("fit: the model has no trainable parameter (check TrainConfig.freeze)")
    opt = make_optimizer(params, cfg, device)
    sched = make_scheduler(opt, cfg)
    weights = class_weights(y_tr, cfg.class_weights, n_cls)
    weights = weights.to(device) if weights is not None else None
    aug = get_augment(cfg.augment)
    if cfg.oversample:
        counts = torch.bincount(y_tr, minlength=n_cls).float().clamp(min=1)
        sample_w = (1.0 / counts)[y_tr].cpu()

    history, start, best_state, best_epoch, best_score = [], 0, None, -1, -float("inf")
    ckpt = Path(checkpoint) if checkpoint else None
    resumed_from = None
    if ckpt and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state["config_hash"] != cfg.hash():
            raise ValueError(f"checkpoint {ckpt} was written by another training recipe "
                             f"({state['config_hash']} != {cfg.hash()}); delete it or use another path")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        history, best_state = state["history"], state["best_state"]
        best_epoch, best_score = state["best_epoch"], state["best_score"]
        start = resumed_from = state["epoch"] + 1
    elif ckpt:
        ckpt.parent.mkdir(parents=True, exist_ok=True)

    n = len(x_tr)
    steps = -(-n // cfg.batch_size)
    if cfg.max_batches:
        steps = min(steps, cfg.max_batches)
    t_start = time.perf_counter()
    # A terminal gets a per-batch bar; a notebook or log file (no TTY) one update per epoch, so saved
    # notebooks and HTML reports do not fill with hundreds of progress lines.
    per_batch = sys.stderr.isatty()
    bar = tqdm(total=(cfg.epochs - start) * (steps if per_batch else 1), disable=not cfg.progress,
               file=sys.stderr, mininterval=1.0 if per_batch else 0, desc=f"fit seed={cfg.seed}",
               unit="batch" if per_batch else "epoch", leave=False)
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch))
        torch.manual_seed(_epoch_seed(cfg.seed, epoch) + 1)  # dropout and other global-RNG users
        order = (torch.multinomial(sample_w, n, replacement=True, generator=gen) if cfg.oversample
                 else torch.randperm(n, generator=gen)).to(device)
        model.train()
        tot_loss, tot_correct, tot_seen, tot_cls = 0.0, 0, 0, 0
        for b in range(steps):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x = aug(x_tr[idx].float().div_(255), gen)
            x, y = (x - cfg.mean) / cfg.std, y_tr[idx]
            if batch_fn is not None:
                x, y = batch_fn(x, y, gen)
            with _autocast(device, cfg.amp):
                if loss_fn is not None:
                    loss, logits = loss_fn(model, x, y)
                else:
                    logits = model(x)
                    loss = F.cross_entropy(logits.float(), y, weight=weights, label_smoothing=cfg.label_smoothing)
            if cfg.l2:
                loss = loss + l2_penalty(model, cfg.l2)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"fit: loss became {loss.item()} at epoch {epoch}, batch {b} "
                                         f"(lr={cfg.lr}); lower the learning rate or check the inputs")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            tot_loss += loss.item() * len(idx)
            tot_seen += len(idx)
            if logits is not None and logits.ndim == 2 and y.ndim == 1:
                tot_correct += (logits.argmax(1) == y).sum().item()
                tot_cls += len(y)
            if per_batch:
                bar.update(1)
        row = {"epoch": epoch, "train_loss": tot_loss / tot_seen,
               "train_acc": tot_correct / tot_cls if tot_cls else float("nan"),
               "lr": opt.param_groups[0]["lr"]}
        if val_t is not None:
            pred = evaluate(model, val_t, cfg.eval_batch_size, device, cfg.mean, cfg.std,
                            batch_fn=val_batch_fn, loss_fn=loss_fn, amp=cfg.amp, seed=cfg.seed)
            row.update(val_loss=pred.loss, val_acc=pred.accuracy)
        row.update(seconds=time.perf_counter() - t0, img_per_s=tot_seen / (time.perf_counter() - t0))
        history.append(row)
        if sched is not None:
            sched.step(row.get("val_acc", -row["train_loss"])) if cfg.scheduler == "plateau" else sched.step()
        score = {"val_acc": row.get("val_acc"), "val_loss": -row.get("val_loss", float("nan"))}.get(cfg.select)
        if cfg.select == "last" or val_t is None or score is None or np.isnan(score) or score > best_score:
            if cfg.select != "last" and val_t is not None and score is not None and not np.isnan(score):
                best_score = score
            best_epoch = epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in ("train_loss", "train_acc", "val_acc")},
                        refresh=per_batch)
        if not per_batch:
            bar.update(1)
        if ckpt:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                          "scheduler": sched.state_dict() if sched is not None else None,
                          "epoch": epoch, "history": history, "best_state": best_state,
                          "best_epoch": best_epoch, "best_score": best_score,
                          "config": cfg.to_dict(), "config_hash": cfg.hash()}, ckpt)
        if callback is not None:
            callback(epoch, row, model)
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return FitResult(model=model, history=pd.DataFrame(history), best_epoch=best_epoch, config=cfg,
                     seconds=time.perf_counter() - t_start, resumed_from=resumed_from)


@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 512, device: str | torch.device | None = None,
             mean: float = 0.5, std: float = 0.5, *, batch_fn: Callable | None = None,
             loss_fn: Callable | None = None, amp: bool = True, seed: int = 0,
             classes: tuple[str, ...] | None = None) -> Predictions:
    """Predictions of `model` on `data` (FaceDataset or (images, labels)), in order, with loss and probabilities."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x_all, y_all = as_tensors(data, device)
    classes = classes or tuple(getattr(data, "classes", ()) or ())
    gen = torch.Generator().manual_seed(_epoch_seed(seed, 10**6))  # fixed: the same val batches every epoch
    was_training = model.training
    model.eval()
    probs, ys, loss_sum = [], [], 0.0
    for i in range(0, len(x_all), batch_size):
        x, y = normalise(x_all[i:i + batch_size], mean, std), y_all[i:i + batch_size]
        if batch_fn is not None:
            x, y = batch_fn(x, y, gen)
        with _autocast(device, amp):
            if loss_fn is not None:
                loss, logits = loss_fn(model, x, y)
            else:
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, reduction="mean")
        loss_sum += float(loss) * len(y)
        if logits is not None and logits.ndim == 2:
            probs.append(logits.float().softmax(1).cpu())
            ys.append(y.cpu())
    model.train(was_training)
    n = len(x_all)
    if not probs:
        return Predictions(np.zeros(0, int), np.zeros((0, 0)), classes, loss=loss_sum / max(n, 1))
    return Predictions(torch.cat(ys).numpy(), torch.cat(probs).numpy(), classes, loss=loss_sum / max(n, 1))
