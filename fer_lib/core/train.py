"""The one training loop of the study: `fit()` and `evaluate()`, read top to bottom.

Every paper's training goes through here; what differs between papers is a `TrainConfig` value (optimizer,
step decay, class weights, L2 on chosen layers, frozen layers, oversampling, augmentation) or one of two
small hooks: `batch_fn` rewrites a batch after augmentation (degrade resolution, build LR/HR pairs, route to
a resolution group) and `loss_fn` replaces the loss (domain-adversarial training, regression). The recipe
itself, validated when built, is fer_lib/core/train_config.py; K seeds of one recipe at once: fer_lib/core/packed.py.

Determinism. A run depends on its spec alone: `fit()` takes a model *factory* (or `build_seeded` is used
before it), so initial weights are drawn under `torch.manual_seed(config.seed)` in a forked RNG scope —
never from whatever state the process was in (torch starts every process from a random seed). Each epoch
draws its shuffling and augmentation from a generator seeded by (seed, epoch) — on the training device
when it is a GPU — and the global RNG (dropout) is reseeded the same way, so resuming from the checkpoint
written after an epoch continues bit for bit. A checkpoint carries the recipe hash and the caller's
`run_key`; one of another run, or a truncated one, is refused with an error naming the file.

Speed (airbench's systems tricks). Data sit in memory as one uint8 tensor on the training device; batches
are sliced by index and augmented there (fer_lib.core.augment): no DataLoader or PIL in the hot path. The step
never waits for the device: loss sums and correct counts accumulate as device tensors read once per epoch,
and the non-finite check runs at the epoch's end (naming the epoch) instead of after every step. On CUDA,
`cuda_graph=True` replays the whole step (forward, backward, clipping, optimizer) as one CUDA graph
(capturable Adam with a tensor learning rate; the last partial batch and any odd-shaped batch on the eager
path); `channels_last` and `cudnn_benchmark` are switches. All three are off by default until measured on
a GPU (bench/gpu_throughput.py), and none of them is part of the recipe hash: they change how, not what.

Collapse. `detect_collapse` flags a run whose validation predictions fall >= 95 % in one class or whose
training accuracy stays at chance; fit() records it per epoch (history column "collapse") and in
`FitResult.collapsed`, and never stops the run for it.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .augment import get_augment
from .io import atomic_torch_save
from .metrics import Predictions
from .train_config import TrainConfig

__all__ = ["TrainConfig", "FitResult", "fit", "evaluate", "build_seeded", "detect_collapse", "load_checkpoint",
           "resolve_device", "as_tensors", "normalise", "class_weights", "freeze", "l2_penalty", "make_optimizer",
           "make_scheduler"]


@dataclass
class FitResult:
    model: nn.Module
    history: pd.DataFrame
    best_epoch: int
    config: TrainConfig
    seconds: float
    resumed_from: int | None = None
    epochs_run: int = 0                # epochs trained by this call (0 when a finished checkpoint was resumed)
    collapsed: str | None = None       # detect_collapse's message for the returned weights, or None


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
def build_seeded(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """`factory()` with the global RNG seeded by `seed` in a forked scope: the initial weights depend on the
    seed alone, never on what ran before in the process, and the caller's RNG state is left untouched."""
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        model = factory()
    if not isinstance(model, nn.Module):
        raise TypeError(f"build_seeded: the factory returned {type(model).__name__}, not an nn.Module")
    return model


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
    return _penalty(_l2_groups(model, l2))


def _penalty(groups) -> torch.Tensor | float:
    total = 0.0
    for ws, lam in groups:
        total = total + 0.5 * lam * sum((w ** 2).sum() for w in ws)
    return total


def _l2_groups(model: nn.Module, l2: dict[str, float]) -> list[tuple[list[torch.Tensor], float]]:
    groups = []
    for prefix, lam in l2.items():
        ws = [p for n, p in model.named_parameters() if n.startswith(prefix) and n.endswith("weight")]
        if not ws:
            raise ValueError(f"TrainConfig.l2: no weight parameter name starts with {prefix!r}")
        groups.append((ws, lam))
    return groups


def make_optimizer(params, cfg: TrainConfig, device: torch.device, capturable: bool = False):
    # Fused Adam: one kernel for the whole update; on this CPU it cut paper 3's CNN step from ~188 to ~22 ms.
    # A CUDA graph needs it capturable, with the learning rate a device tensor the schedulers fill in place.
    if cfg.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        lr = torch.tensor(float(cfg.lr), device=device) if capturable else cfg.lr
        return cls(params, lr=lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, fused=True,
                   capturable=capturable)
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


def _autocast(device: torch.device, amp: bool, cache: bool = True):
    # A CUDA graph needs the autocast cache off (its casts must be recorded, not reused from before capture).
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda", cache_enabled=cache)


# --------------------------------------------------------------------------------------------- checkpoints
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "history", "best_state", "best_epoch",
                   "best_score", "config_hash")


def load_checkpoint(path: Path, device, config_hash: str, run_key: str | None) -> dict:
    """A checkpoint written by fit() for this recipe and run, or a ValueError naming the file."""
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as e:  # truncated zip, garbage bytes, unpickling error: one message naming the file
        raise ValueError(f"checkpoint {path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                         "it is truncated or corrupt: delete it to train this run from the start") from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"checkpoint {path} is not a fer_lib.core.train checkpoint (missing {missing}); delete it "
                         "or use another path")
    if state["config_hash"] != config_hash:
        raise ValueError(f"checkpoint {path} was written by another training recipe "
                         f"({state['config_hash']} != {config_hash}); delete it or use another path")
    if state.get("run_key") != run_key:
        raise ValueError(f"checkpoint {path} belongs to run {state.get('run_key')!r}, not {run_key!r}; "
                         "delete it or use another path")
    return state


def _restore_optimizer(opt, state: dict, path: Path, device: torch.device, capturable: bool):
    try:
        opt.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as e:
        raise ValueError(f"checkpoint {path}: optimizer state does not fit this model ({e})") from None
    # load_state_dict takes the saved group options; keep the ones this run executes with (graph or not).
    for g in opt.param_groups:
        if "capturable" in g:
            g["capturable"] = capturable
            lr = float(g["lr"])
            g["lr"] = torch.tensor(lr, device=device) if capturable else lr


# --------------------------------------------------------------------------------------------- collapse
def detect_collapse(obs, *, top_share: float = 0.95, chance_margin: float = 0.02) -> str | None:
    """Why a run looks collapsed, or None.

    obs: a Predictions (validation), one history row (dict / Series) or a whole history (DataFrame / list of
    rows). Flags (1) predictions falling >= `top_share` in one class, (2) training accuracy at chance —
    within `chance_margin` of the majority-class share — in the row, or in *every* row of a history
    ("stays at chance"). Rows use the columns fit() writes: val_top_share, val_top_class, train_acc,
    train_chance.
    """
    if isinstance(obs, Predictions):
        if len(obs.y_true) == 0:
            return None
        counts = np.bincount(obs.y_pred, minlength=obs.probs.shape[1])
        k = int(counts.argmax())
        obs = {"val_top_share": counts[k] / counts.sum(), "val_top_class": obs._names()[k]}
    if isinstance(obs, (pd.DataFrame, list)):
        rows = obs.to_dict("records") if isinstance(obs, pd.DataFrame) else list(obs)
        if not rows:
            return None
        last = detect_collapse({k: v for k, v in rows[-1].items() if k != "train_acc"}, top_share=top_share)
        if last:
            return last
        chance = [_at_chance(r, chance_margin) for r in rows]
        if all(chance):
            r = rows[-1]
            return (f"training accuracy stayed at chance for all {len(rows)} epochs "
                    f"(last {r['train_acc']:.3f}, majority-class share {r['train_chance']:.3f})")
        return None
    share = obs.get("val_top_share")
    if share is not None and not pd.isna(share) and share >= top_share:
        return (f"validation predictions collapsed: {100 * share:.1f} % in class {obs.get('val_top_class')!r} "
                f"(threshold {100 * top_share:.0f} %)")
    if _at_chance(obs, chance_margin):
        return (f"training accuracy at chance ({obs['train_acc']:.3f}, majority-class share "
                f"{obs['train_chance']:.3f})")
    return None


def _at_chance(row, margin: float) -> bool:
    acc, chance = row.get("train_acc"), row.get("train_chance")
    if acc is None or chance is None or pd.isna(acc) or pd.isna(chance):
        return False
    return acc <= chance + margin


# --------------------------------------------------------------------------------------------- training
def fit(model: nn.Module | Callable[[], nn.Module], train, val=None, config: TrainConfig | dict | None = None, *,
        checkpoint: str | Path | None = None, run_key: str | None = None, batch_fn: Callable | None = None,
        val_batch_fn: Callable | None = None, loss_fn: Callable | None = None,
        callback: Callable | None = None, num_classes: int | None = None) -> FitResult:
    """Train `model` on `train` (a FaceDataset or (images, labels)), validating on `val` each epoch.

    model: a zero-argument factory (built by `build_seeded(model, config.seed)`: the run then depends on its
        spec alone) or an nn.Module built by the caller (its initial weights are the caller's business).
    checkpoint: file written after every epoch; when it exists, training resumes from it (it must come from
        the same TrainConfig recipe and the same `run_key`).
    run_key: the caller's identity of this run (fer_lib.runs' key), stored in the checkpoint and checked.
    batch_fn(x, y, gen) -> (x, y): applied to each normalised, augmented training batch (`gen` is a CPU
        generator seeded per epoch).
    val_batch_fn(x, y, gen) -> (x, y): the same for validation batches (deterministic generator).
    loss_fn(model, x, y) -> (loss, logits or None): replaces cross entropy (penalties are still added).
    callback(epoch, row: dict, model): called after each epoch, once its checkpoint is written.
    Returns the weights of the best validation epoch (config.select) loaded into the model.
    Raises FloatingPointError at the end of the first epoch whose loss (or weights) became non-finite.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config or {})
    device = resolve_device(cfg.device)
    if not isinstance(model, nn.Module):
        if not callable(model):
            raise TypeError(f"fit: model must be an nn.Module or a zero-argument factory, not {type(model).__name__}")
        model = build_seeded(model, cfg.seed)
    torch.manual_seed(cfg.seed)
    x_tr, y_tr = as_tensors(train, device)
    n_cls = num_classes or int(len(getattr(train, "classes", [])) or int(y_tr.max()) + 1)
    val_t = as_tensors(val, device) if val is not None else None
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if cfg.freeze:
        freeze(model, cfg.freeze)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("fit: the model has no trainable parameter (check TrainConfig.freeze)")
    graphed = cfg.cuda_graph and device.type == "cuda"
    if graphed and cfg.optimizer == "sgd":
        warnings.warn("fit: cuda_graph needs a capturable optimizer (adam, adamw); SGD runs eagerly")
        graphed = False
    opt = make_optimizer(params, cfg, device, capturable=graphed)
    sched = make_scheduler(opt, cfg)
    weights = class_weights(y_tr, cfg.class_weights, n_cls)
    weights = weights.to(device) if weights is not None else None
    l2_groups = _l2_groups(model, cfg.l2) if cfg.l2 else []
    aug = get_augment(cfg.augment)
    counts = torch.bincount(y_tr, minlength=n_cls).float()
    if cfg.oversample:
        sample_w = (1.0 / counts.clamp(min=1))[y_tr]
        if device.type == "cpu":
            sample_w = sample_w.cpu()
    # The accuracy a constant prediction of the most frequent class reaches (collapse detection).
    train_chance = float(1 / (counts > 0).sum()) if cfg.oversample else float(counts.max() / counts.sum())

    history, start, best_state, best_epoch, best_score = [], 0, None, -1, -float("inf")
    ckpt = Path(checkpoint) if checkpoint else None
    resumed_from = None
    if ckpt and ckpt.exists():
        state = load_checkpoint(ckpt, device, cfg.hash(), run_key)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:
            raise ValueError(f"checkpoint {ckpt}: its weights do not fit this model ({str(e)[:300]})") from None
        _restore_optimizer(opt, state["optimizer"], ckpt, device, graphed)
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
    # Running sums stay on the device and are read once per epoch: the step never waits for the GPU.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    n_correct = torch.zeros((), dtype=torch.int64, device=device)

    def step(x, y, n_rows: int, cache: bool = True) -> bool:
        """One optimizer step; adds to the running sums; says whether the batch had class logits."""
        with _autocast(device, cfg.amp, cache):
            if loss_fn is not None:
                loss, logits = loss_fn(model, x, y)
            else:
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, weight=weights, label_smoothing=cfg.label_smoothing)
        if l2_groups:
            loss = loss + _penalty(l2_groups)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        loss_sum.add_(loss.detach().double() * n_rows)
        counted = logits is not None and logits.ndim == 2 and y.ndim == 1
        if counted:
            n_correct.add_((logits.argmax(1) == y).sum())
        return counted

    graph = _GraphedStep(step, opt) if graphed else None
    t_start = time.perf_counter()
    # A terminal gets a live per-batch bar; a notebook, papermill or a log file (no TTY) gets nothing.
    bar = tqdm(total=(cfg.epochs - start) * steps, file=sys.stderr, mininterval=1.0, desc=f"fit seed={cfg.seed}",
               unit="batch", leave=False) if cfg.progress and sys.stderr.isatty() else None
    bench_before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = bench_before or (cfg.cudnn_benchmark and device.type == "cuda")
    try:
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            seed_e = _epoch_seed(cfg.seed, epoch)
            # Shuffles and augmentation drawn where the data are (a CUDA generator on a GPU); hooks get a CPU one.
            gen = torch.Generator(device=device).manual_seed(seed_e)
            hook_gen = gen if device.type == "cpu" else torch.Generator().manual_seed(seed_e)
            torch.manual_seed(seed_e + 1)  # dropout and other global-RNG users
            order = (torch.multinomial(sample_w, n, replacement=True, generator=gen) if cfg.oversample
                     else torch.randperm(n, generator=gen, device=device))
            model.train()
            loss_sum.zero_(), n_correct.zero_()
            seen, n_cls_seen = 0, 0
            for b in range(steps):
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                x = aug(x_tr[idx].float().div_(255), gen)
                x, y = (x - cfg.mean) / cfg.std, y_tr[idx]
                if batch_fn is not None:
                    x, y = batch_fn(x, y, hook_gen)
                if cfg.channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                full = len(idx) == cfg.batch_size
                counted = graph(x, y, len(idx)) if graph is not None and full else step(x, y, len(idx))
                seen += len(idx)
                n_cls_seen += len(y) if counted else 0
                if bar is not None:
                    bar.update(1)
            # The epoch's one read of the device: loss, correct count and a finite check of the weights.
            wnorm = torch.stack([torch.linalg.vector_norm(p.detach().float()) for p in params]).sum()
            tot_loss, tot_correct, wnorm = torch.stack([loss_sum, n_correct.double(), wnorm.double()]).tolist()
            if not (math.isfinite(tot_loss) and math.isfinite(wnorm)):
                what = f"training loss became {tot_loss / seen}" if not math.isfinite(tot_loss) else \
                    "weights became non-finite"
                raise FloatingPointError(
                    f"fit: the {what} in epoch {epoch} (lr={cfg.lr}); the run is stopped"
                    f"{' and its checkpoint of the last good epoch kept' if ckpt else ''}. "
                    "Lower the learning rate, set grad_clip, or check the inputs")
            row = {"epoch": epoch, "train_loss": tot_loss / seen,
                   "train_acc": tot_correct / n_cls_seen if n_cls_seen else float("nan"),
                   "lr": float(opt.param_groups[0]["lr"])}
            if val_t is not None:
                pred = evaluate(model, val_t, cfg.eval_batch_size, device, cfg.mean, cfg.std,
                                batch_fn=val_batch_fn, loss_fn=loss_fn, amp=cfg.amp, seed=cfg.seed,
                                classes=tuple(getattr(val, "classes", ()) or ()))
                row.update(val_loss=pred.loss, val_acc=pred.accuracy)
                if len(pred.y_true):
                    share = np.bincount(pred.y_pred, minlength=pred.probs.shape[1]) / len(pred.y_pred)
                    row.update(val_top_share=float(share.max()), val_top_class=pred._names()[int(share.argmax())])
            if n_cls_seen:
                row["train_chance"] = train_chance
            row["collapse"] = detect_collapse(row)
            row.update(seconds=time.perf_counter() - t0, img_per_s=seen / (time.perf_counter() - t0))
            history.append(row)
            if sched is not None:
                sched.step(row.get("val_acc", -row["train_loss"])) if cfg.scheduler == "plateau" else sched.step()
            score = {"val_acc": row.get("val_acc"), "val_loss": -row.get("val_loss", float("nan"))}.get(cfg.select)
            if cfg.select == "last" or val_t is None or score is None or np.isnan(score) or score > best_score:
                if cfg.select != "last" and val_t is not None and score is not None and not np.isnan(score):
                    best_score = score
                best_epoch = epoch
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            if bar is not None:
                bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in ("train_loss", "train_acc", "val_acc")})
            if ckpt:
                atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                                   "scheduler": sched.state_dict() if sched is not None else None,
                                   "epoch": epoch, "history": history, "best_state": best_state,
                                   "best_epoch": best_epoch, "best_score": best_score, "run_key": run_key,
                                   "config": cfg.to_dict(), "config_hash": cfg.hash()}, ckpt, fsync=False)
            if callback is not None:
                callback(epoch, row, model)
    finally:
        torch.backends.cudnn.benchmark = bench_before
        if bar is not None:
            bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    upto_best = [r for r in history if r["epoch"] <= best_epoch]
    return FitResult(model=model, history=pd.DataFrame(history), best_epoch=best_epoch, config=cfg,
                     seconds=time.perf_counter() - t_start, resumed_from=resumed_from,
                     epochs_run=cfg.epochs - start, collapsed=detect_collapse(upto_best))


class _GraphedStep:
    """The training step replayed as one CUDA graph (PyTorch's "whole network capture" recipe).

    Three real steps run eagerly on a side stream first (they create the optimizer state and cuBLAS/cuDNN
    workspaces), then the step is captured once on static input buffers and replayed for every full batch:
    each batch is copied into the buffers, and one launch runs forward, backward, clipping and the Adam
    update (capturable, learning rate a device tensor the scheduler fills in place). A batch of another shape
    runs eagerly. Dropout inside a graph draws from the CUDA generator's captured offsets: graphed runs are
    deterministic among themselves, not bit-equal to eager ones. If capture fails, training goes on eagerly.
    """

    WARMUP = 3

    def __init__(self, step: Callable, opt):
        self.step, self.opt = step, opt
        self.graph = self.static = None
        self.counted = False
        self.warm, self.failed = 0, False

    def __call__(self, x, y, n_rows: int) -> bool:
        if self.failed:
            return self.step(x, y, n_rows)
        if self.static is None:
            self.static = (x.clone(), y.clone())
        sx, sy = self.static
        if (x.shape, x.dtype, x.stride(), y.shape, y.dtype) != (sx.shape, sx.dtype, sx.stride(), sy.shape, sy.dtype):
            return self.step(x, y, n_rows)
        if self.graph is None and self.warm < self.WARMUP:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                counted = self.step(x, y, n_rows)
            torch.cuda.current_stream().wait_stream(side)
            self.warm += 1
            return counted
        sx.copy_(x)
        sy.copy_(y)
        if self.graph is None:
            try:
                graph = torch.cuda.CUDAGraph()
                self.opt.zero_grad(set_to_none=True)
                with torch.cuda.graph(graph):
                    self.counted = self.step(sx, sy, n_rows, cache=False)
                self.graph = graph
            except Exception as e:  # an op that cannot be captured (a host sync in the model, a CPU tensor)
                warnings.warn(f"fit: the training step cannot be captured as a CUDA graph "
                              f"({type(e).__name__}: {str(e)[:200]}); training on eagerly")
                self.failed = True
                self.opt.zero_grad(set_to_none=True)
                return self.step(x, y, n_rows)
        self.graph.replay()
        return self.counted


@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 512, device: str | torch.device | None = None,
             mean: float = 0.5, std: float = 0.5, *, batch_fn: Callable | None = None,
             loss_fn: Callable | None = None, amp: bool = True, seed: int = 0,
             classes: tuple[str, ...] | None = None) -> Predictions:
    """Predictions of `model` on `data` (FaceDataset or (images, labels)), in order, with loss and probabilities.

    Losses and probabilities stay on the device until the end: one transfer per call, not one per batch."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x_all, y_all = as_tensors(data, device)
    classes = classes or tuple(getattr(data, "classes", ()) or ())
    gen = torch.Generator().manual_seed(_epoch_seed(seed, 10**6))  # fixed: the same val batches every epoch
    was_training = model.training
    model.eval()
    probs, ys = [], []
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
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
        loss_sum += torch.as_tensor(loss, device=device).detach().double() * len(y)
        if logits is not None and logits.ndim == 2:
            probs.append(logits.float().softmax(1))
            ys.append(y)
    model.train(was_training)
    n = len(x_all)
    loss = float(loss_sum) / max(n, 1)
    if not probs:
        return Predictions(np.zeros(0, int), np.zeros((0, 0)), classes, loss=loss)
    return Predictions(torch.cat(ys).cpu().numpy(), torch.cat(probs).cpu().numpy(), classes, loss=loss)
