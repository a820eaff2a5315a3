"""Paper 5 (Wang et al., "Dynamic Resolution Guidance for FER"): the engine hooks its methods need, and the
evaluation of every method at every down-sampling factor.

Training (hooks for `fer_lib.core.train.fit`, §3 and §5.1-5.2). The factor batch_fns `FixedFactor`, `RandomFactor`
(target "label" / "factor": the RRN, eqs. 1-2 / "both": [label, factor index] for RA-BN and DA) and `CyclicFactor`
live in fer_lib/core/degrade.py (the common protocol uses them too); here, what only paper 5 needs:
- `rabn_loss`, `DALoss`  loss_fns of the RA-BN and domain-adaptive (DANN) baselines;
- `train_hooks(method, factors)` returns the batch_fn / val_batch_fn / loss_fn of a method by name.
Degradation (fer_lib.core.degrade.degrade_image) is bicubic down by ×k and bicubic back up to the input size, then
rounded to the 8-bit grid (a degraded face is an image: floats would give the router a cue no saved image has),
then, when `out_size` is set, bicubic-resized to the network's input size and rounded again (paper 5 §5.2's
"resizing to 224" read as a step after the degradation, never a loader resize). Every hook takes the batch's
normalisation (`mean`, `std`: the TrainConfig's) for the rounding; `mean=None` keeps the float result (the old
behaviour, kept for callers outside paper 5).

Evaluation: `predict_grid` runs models on a test set degraded by each factor, `accuracy_table` lays the
accuracies out method × factor with the mean row (Tables 1-3), `fuse` gives the Mean/Max baselines from the
resolution-specific networks' softmax outputs, `rrn_predictions` the router's accuracy and confusion,
`feature_distances` the data of Fig 2, `best_by_val` the per-factor choice of blocks by validation accuracy.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.degrade import CyclicFactor, FixedFactor, RandomFactor, cyclic_index, degrade_image, image_kwargs
from ..core.metrics import Predictions
from ..models.drg import FACTORS

TABLE3_FACTORS = (1, 2, 4, 6, 8, 12, 14, 16)  # Table 3 also tests ×12, ×14, ×16 (never trained on)
METHODS = ("single", "joint", "rrn", "rabn", "da")


def factor_name(k) -> str:
    """The paper's column/row label of a factor: 4 -> "x4"; a tuple of factors -> "x1&x2&x4" (Table 3)."""
    if isinstance(k, (tuple, list)):
        return "&".join(factor_name(f) for f in k)
    return f"x{k:g}"


# --------------------------------------------------------------------------------------------- loss_fns
def _split_target(y: torch.Tensor, num_factors: int):
    """(labels, factor index): from RandomFactor(target="both") in training, from CyclicFactor in validation."""
    if y.ndim == 2:
        return y[:, 0], y[:, 1]
    return y, cyclic_index(len(y), num_factors, y.device)


def rabn_loss(model, x, y):
    """loss_fn of the RA-BN baseline (paper 5 §3, Zhu et al. 2021): every image normalised by the BatchNorm of
    its own resolution (`drg.RABN.forward(x, res_idx)`), cross entropy on the class."""
    labels, idx = _split_target(y, model.num_resolutions)
    logits = model(x, idx)
    return F.cross_entropy(logits.float(), labels), logits


class DALoss:
    """loss_fn of the domain-adaptive baseline (paper 5 §3; DANN, Ganin & Lempitsky 2015) for `drg.DANN`.

    Training: class cross entropy on the source images (factor index `source_index`, ×1) — or on every image
    with `class_on="all"` — plus domain cross entropy over all images (each factor a domain; the gradient
    reversal layer inside DANN turns it into a resolution-invariance pressure on the features).
    lambd: the reversal weight, a number or "schedule" = Ganin's 2 / (1 + exp(-gamma p)) - 1, p = step /
        total_steps (needs total_steps; the counter advances on training calls only).
    Validation (1-D labels): class cross entropy on every image, class logits returned.
    """

    def __init__(self, source_index: int = 0, class_on: str = "source", lambd: float | str = "schedule",
                 total_steps: int | None = None, gamma: float = 10.0):
        if class_on not in ("source", "all"):
            raise ValueError(f"DALoss: class_on must be source or all, got {class_on!r}")
        if lambd == "schedule" and not total_steps:
            raise ValueError("DALoss: lambd='schedule' needs total_steps (epochs × batches per epoch)")
        self.source_index, self.class_on, self.lambd = source_index, class_on, lambd
        self.total_steps, self.gamma, self.step = total_steps, gamma, 0

    def current_lambda(self) -> float:
        if self.lambd != "schedule":
            return float(self.lambd)
        p = min(self.step / self.total_steps, 1.0)
        return 2.0 / (1.0 + math.exp(-self.gamma * p)) - 1.0

    def __call__(self, model, x, y):
        if y.ndim == 1:  # validation batch: labels only
            cls, _ = model(x)
            return F.cross_entropy(cls.float(), y), cls
        labels, dom = y[:, 0], y[:, 1]
        cls, dom_logits = model(x, self.current_lambda())
        if model.training:
            self.step += 1
        keep = dom == self.source_index if self.class_on == "source" else torch.ones_like(dom, dtype=torch.bool)
        # A batch without a source image contributes no class loss (still a graph: the step stays valid).
        cls_loss = F.cross_entropy(cls[keep].float(), labels[keep]) if keep.any() else cls.sum() * 0.0
        return cls_loss + F.cross_entropy(dom_logits.float(), dom), cls


def steps_per_epoch(n: int, batch_size: int, max_batches: int | None) -> int:
    """Batches fit() runs per epoch (for DALoss's schedule)."""
    steps = -(-n // batch_size)
    return min(steps, max_batches) if max_batches else steps


DA_PAPER_FACTORS = (1, 2)  # §3 "Domain Adaptive": source ×1, target ×2 — two domains


def train_hooks(method: str, factors: Sequence[float] | float = FACTORS, *, da_source_share: float = 0.5,
                da_class_on: str = "source", da_lambd: float | str = "schedule",
                total_steps: int | None = None, balanced: bool = True, mean: float | None = 0.5,
                std: float | None = 0.5, out_size: int | None = None) -> dict:
    """fit() keyword arguments (batch_fn, val_batch_fn, loss_fn) of one of paper 5's training recipes.

    "single": one factor (a resolution-specific FER block, Table 3 rows ×k);
    "joint": images degraded by factors drawn from `factors` (MSTrain = all five; Table 3 joint rows);
    "rrn": the Resolution Recognition Network, target = factor index;
    "rabn": RA-BN, mixed factors, BatchNorm chosen by the factor index;
    "da": DANN, ×1 (factors[0]) the source, the rest targets (one domain each); `da_source_share` of every batch
        is source. The paper's DA (§3) is `factors=DA_PAPER_FACTORS` = (1, 2): two domains; all five factors is
        our labelled extension.
    mean, std: the TrainConfig's normalisation — degraded images are rounded to 8 bits (None: float, no
    rounding); out_size: the network's input side when it differs from the images' (resized after degradation).
    """
    if method not in METHODS:
        raise ValueError(f"train_hooks: method must be one of {METHODS}, got {method!r}")
    img = dict(mean=mean, std=std, out_size=out_size)
    if method == "single":
        k = factors if np.isscalar(factors) else (factors[0] if len(factors) == 1 else None)
        if k is None:
            raise ValueError(f"train_hooks('single') takes one factor, got {factors!r}")
        return dict(batch_fn=FixedFactor(k, **img), val_batch_fn=FixedFactor(k, **img))
    factors = tuple(factors)
    if method == "joint":
        return dict(batch_fn=RandomFactor(factors, balanced=balanced, **img), val_batch_fn=CyclicFactor(factors, **img))
    if method == "rrn":
        return dict(batch_fn=RandomFactor(factors, "factor", balanced=balanced, **img),
                    val_batch_fn=CyclicFactor(factors, "factor", **img))
    if method == "rabn":
        return dict(batch_fn=RandomFactor(factors, "both", balanced=balanced, **img),
                    val_batch_fn=CyclicFactor(factors, **img), loss_fn=rabn_loss)
    if len(factors) < 2:
        raise ValueError(f"train_hooks('da') needs a source and at least one target factor, got {factors!r}")
    rest = (1 - da_source_share) / (len(factors) - 1)
    weights = [da_source_share] + [rest] * (len(factors) - 1)
    return dict(batch_fn=RandomFactor(factors, "both", weights=weights, balanced=balanced, **img),
                val_batch_fn=CyclicFactor(factors, **img),
                loss_fn=DALoss(0, da_class_on, da_lambd, total_steps))


# --------------------------------------------------------------------------------------------- evaluation wrappers
class AtIndex(nn.Module):
    """`model(x, index)` as a one-input module: RA-BN with the BatchNorm of a known factor (oracle)."""

    def __init__(self, model: nn.Module, index: int):
        super().__init__()
        self.model, self.index = model, index

    def forward(self, x):
        return self.model(x, self.index)


class Routed(nn.Module):
    """`model(x, router(x).argmax(1))`: RA-BN with the BatchNorm the RRN picks."""

    def __init__(self, model: nn.Module, router: nn.Module):
        super().__init__()
        self.model, self.router = model, router

    def forward(self, x):
        with torch.no_grad():
            g = self.router(x).argmax(1)
        return self.model(x, g)


class Oracle(nn.Module):
    """DRGFER with an error-free router: every image goes to the block of its true factor (`groups=index`)."""

    def __init__(self, drgfer: nn.Module, index: int):
        super().__init__()
        self.drgfer, self.index = drgfer, index

    def forward(self, x):
        return self.drgfer(x, groups=torch.full((len(x),), self.index, dtype=torch.long, device=x.device))


class ClassHead(nn.Module):
    """The class logits of a DANN (its forward returns (class, domain))."""

    def __init__(self, dann: nn.Module):
        super().__init__()
        self.dann = dann

    def forward(self, x):
        return self.dann(x)[0]


# --------------------------------------------------------------------------------------------- evaluation
def _test_factor(k, eval_kw, uint8: bool, out_size, target_index=None) -> FixedFactor:
    """The test-time batch_fn: the same image pipeline as training (8-bit rounding with evaluate's own
    normalisation, resize after degradation)."""
    mean, std = (eval_kw.get("mean", 0.5), eval_kw.get("std", 0.5)) if uint8 else (None, None)
    return FixedFactor(k, target_index, mean=mean, std=std, out_size=out_size)


def predict_grid(models: dict[str, nn.Module | Callable], data, factors: Sequence[float], *, uint8: bool = True,
                 out_size: int | None = None, **eval_kw) -> dict[tuple[str, float], Predictions]:
    """Predictions of every model on `data` degraded by each factor: {(name, factor): Predictions}.

    A model may be a function factor -> module (e.g. RA-BN with the true factor's BatchNorm) or -> None when it
    does not apply at that factor (skipped). eval_kw go to fer_lib.core.train.evaluate (batch_size, mean, std, ...).
    uint8: degraded test images rounded to 8 bits, as in training; out_size: resize after degradation.
    """
    from ..core.train import evaluate
    out = {}
    for name, spec in models.items():
        for k in factors:
            m = spec if isinstance(spec, nn.Module) else spec(k)
            if m is not None:
                out[(name, k)] = evaluate(m, data, batch_fn=_test_factor(k, eval_kw, uint8, out_size), **eval_kw)
    return out


def accuracy_table(preds: dict[tuple[str, float], Predictions], factors: Sequence[float] | None = None,
                   methods: Sequence[str] | None = None, mean_row: bool = True) -> pd.DataFrame:
    """Accuracy (fraction) with rows = factors ("x1", …) and columns = methods, as the paper's Tables 1-2;
    `mean_row` appends "Mean" = the average over the factor rows (NaN where a method misses a factor)."""
    factors = list(dict.fromkeys(k for _, k in preds)) if factors is None else list(factors)
    methods = list(dict.fromkeys(m for m, _ in preds)) if methods is None else list(methods)
    t = pd.DataFrame({m: [preds[(m, k)].accuracy if (m, k) in preds else np.nan for k in factors] for m in methods},
                     index=[factor_name(k) for k in factors])
    if mean_row:
        t.loc["Mean"] = t.mean(axis=0, skipna=False)
    return t


def fuse(preds: Sequence[Predictions], how: str = "mean") -> Predictions:
    """Paper 5 "Mean" / "Max" baselines from the resolution-specific networks' predictions on the same images:
    the average / element-wise maximum of their softmax outputs (the same as drg.ensemble_mean / ensemble_max
    with use_softmax=True, without running the networks again)."""
    if how not in ("mean", "max"):
        raise ValueError(f"fuse: how must be mean or max, got {how!r}")
    probs = np.stack([p.probs for p in preds])
    y = preds[0].y_true
    if any(not np.array_equal(p.y_true, y) for p in preds):
        raise ValueError("fuse: the predictions are not on the same images")
    return Predictions(y, probs.mean(0) if how == "mean" else probs.max(0), preds[0].classes)


def rrn_predictions(rrn: nn.Module, data, factors: Sequence[float] = FACTORS, *, uint8: bool = True,
                    out_size: int | None = None, **eval_kw) -> Predictions:
    """The RRN on `data` degraded by each factor in turn; y_true = the factor index, classes "x1", "x2", …
    (accuracy and confusion over factors — paper 5 never reports them). uint8, out_size: as `predict_grid`."""
    from ..core.train import evaluate
    ps = [evaluate(rrn, data, batch_fn=_test_factor(k, eval_kw, uint8, out_size, target_index=i), **eval_kw)
          for i, k in enumerate(factors)]
    return Predictions(np.concatenate([p.y_true for p in ps]), np.concatenate([p.probs for p in ps]),
                       tuple(factor_name(k) for k in factors))


@torch.no_grad()
def layer_features(model: nn.Module, x: torch.Tensor, layer: str = "avgpool") -> torch.Tensor:
    """The flattened output of `layer` (a ResNet's global average pooling: the 512-d feature) for a batch."""
    out = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: out.update(f=o))
    was = model.training
    model.eval()
    try:
        model(x)
    finally:
        handle.remove()
        model.train(was)
    return out["f"].flatten(1).float()


def feature_distances(model: nn.Module, data, factors: Sequence[float], n_images: int = 256, *,
                      layer: str = "avgpool", normalise: bool = False, mean: float = 0.5, std: float = 0.5,
                      batch_size: int = 256, seed: int = 0, uint8: bool = True,
                      out_size: int | None = None) -> pd.DataFrame:
    """Fig 2 of paper 5: for each factor k, the mean Euclidean distance between the features of an image and
    of its ×k version ("same image, HR vs LR") beside the mean distance between the features of different
    full-resolution images ("different images", the same for every k) and between different ×k images.
    "LR side (px)" is the side the ×k image had before it was resized back (two factors can share one).

    Features: `layer` of `model` (default the ResNet's pooled 512-d vector); `normalise` L2-normalises them.
    uint8, out_size: the image pipeline of training and test (8-bit rounding, resize after degradation).
    """
    from ..core.train import as_tensors, normalise as norm
    device = next(model.parameters()).device
    x_all, _ = as_tensors(data, device)
    pick = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(seed))[:n_images].to(device)
    x = norm(x_all[pick], mean, std)

    img = image_kwargs(mean if uint8 else None, std if uint8 else None, out_size)

    def feats(factor):
        f = torch.cat([layer_features(model, degrade_image(x[i:i + batch_size], factor, **img), layer)
                       for i in range(0, len(x), batch_size)])
        return F.normalize(f, dim=1) if normalise else f

    def mean_pairwise(f):
        d = torch.cdist(f, f)
        n = len(f)
        return float(d.sum() / (n * (n - 1))) if n > 1 else float("nan")

    hr = feats(1)
    between_hr = mean_pairwise(hr)
    rows = []
    for k in factors:
        lr = feats(k)
        rows.append({"factor": k, "LR side (px)": max(1, round(x.shape[-1] / k)),
                     "same image HR vs LR": float((hr - lr).norm(dim=1).mean()),
                     "different images (HR)": between_hr, "different images (LR)": mean_pairwise(lr)})
    return pd.DataFrame(rows).set_index("factor")


def crossing_factor(distances: pd.DataFrame, same: str = "same image HR vs LR",
                    different: str = "different images (HR)") -> float:
    """The smallest factor at which an image's HR-LR feature distance exceeds the mean distance between
    different images (paper 5 §1 puts it at ×7); NaN if it never does in the factors measured."""
    over = distances.index[distances[same] > distances[different]]
    return float(min(over)) if len(over) else float("nan")


def best_by_val(val_table: pd.DataFrame, test_table: pd.DataFrame) -> pd.DataFrame:
    """Per factor (column), the model (row) with the best validation accuracy, and its test accuracy: the
    blocks an oracle-routed DRGFER would use if every block were chosen among the trained models on validation.
    Tables: rows = models, columns = factor names (Table 3 layout)."""
    cols = [c for c in val_table.columns if c in test_table.columns]
    chosen = val_table[cols].idxmax(axis=0)
    return pd.DataFrame({"block (best on val)": chosen, "val": [val_table.loc[m, c] for c, m in chosen.items()],
                         "test": [test_table.loc[m, c] for c, m in chosen.items()]})


# --------------------------------------------------------------------------------------------- data
def resize_dataset(ds, size: int, chunk: int = 2048):
    """A copy of a FaceDataset with every image bicubic-resized to size × size (uint8), e.g. FERPlus 48 -> 100
    (paper 5 §5.1: "the original input size is 100×100"). Same object when the size already matches."""
    from dataclasses import replace
    if ds.images.shape[1] == size and ds.images.shape[2] == size:
        return ds
    out = []
    for i in range(0, len(ds), chunk):
        x = torch.as_tensor(ds.images[i:i + chunk], dtype=torch.float32)
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        y = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False,
                          antialias=size < x.shape[-1]).round().clamp(0, 255).to(torch.uint8)
        out.append((y.squeeze(1) if ds.images.ndim == 3 else y.permute(0, 2, 3, 1)).numpy())
    return replace(ds, images=np.concatenate(out), meta=dict(ds.meta, resized_to=size))
