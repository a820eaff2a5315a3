"""Resolution degradation (papers 1 and 5): bicubic downsampling by ×k, then bicubic upsampling back.

Paper 5 trains and tests at ×1, ×2, ×4, ×6, ×8 (and ×12…×16 in its Table 3): an image of side S becomes side
round(S / k) and is resized back to S, so every network sees the same input size (the reading stated in
notebook 05). Paper 1's super-resolution stage learns the inverse map from pairs (low, high) built here.
Works batched on the device, on float tensors (B, C, H, W) in any normalisation.

`degrade_image` is the version paper 5's hooks use: a degraded face is an *image*, so it is rounded to the 8-bit
grid (a float result would give a cue no saved image has: at 100 px every ×1 pixel sits on the grid and only ~1 %
of ×2 pixels do, which a resolution router can learn), and an optional resize to the network's input size
(e.g. 100 -> 224, paper 5 §5.2 "resizing to 224") comes *after* the degradation, then is rounded again.

The batch_fns (hooks for `fit` / `evaluate`) that apply it, shared by paper 5 and the common protocol (notebook 06;
the registered hooks "resolution.fixed_factor" / "resolution.random_factor" of fer_lib/runs/hooks.py):
- `FixedFactor(k)`    every image of a batch degraded by ×k (optionally the target replaced by a constant);
- `RandomFactor(fs)`  each image degraded by its own factor drawn from `fs` (paper 5's MSTrain and the joint rows
                      of its Table 3); target "factor" / "both" gives the factor index (paper 5's router);
- `CyclicFactor(fs)`  image i degraded by fs[i % K]: deterministic and balanced (validation).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def downsample(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bicubic (antialiased) downsampling of a float batch by `factor` (≥ 1)."""
    if factor < 1:
        raise ValueError(f"downsample: factor must be >= 1, got {factor}")
    if factor == 1:
        return x
    h, w = x.shape[-2:]
    size = (max(1, round(h / factor)), max(1, round(w / factor)))
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)


def upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def degrade(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Down by ×factor, then back up to the input size: same shape, less information."""
    return upsample(downsample(x, factor), tuple(x.shape[-2:])) if factor != 1 else x


def to_uint8_grid(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """A normalised float batch rounded to the values an 8-bit image can hold, normalised again:
    ((round(255 (x·std + mean)) clamped to 0..255) / 255 − mean) / std — the same numbers the engine's
    `normalise` gives for those uint8 pixels."""
    p = ((x * std + mean) * 255.0).round_().clamp_(0, 255)
    return (p / 255.0 - mean) / std


def degrade_image(x: torch.Tensor, factor: float, *, mean: float | None = None, std: float | None = None,
                  out_size: int | None = None) -> torch.Tensor:
    """`degrade` as an image pipeline would: down by ×factor and back up, rounded to the 8-bit grid when the
    batch's normalisation (mean, std) is given, then (out_size) bicubic-resized to out_size × out_size and rounded
    again. Every factor, ×1 included, goes through the same steps."""
    quantise = mean is not None and std is not None
    y = degrade(x, factor)
    if quantise:
        y = to_uint8_grid(y, mean, std)
    if out_size and tuple(y.shape[-2:]) != (out_size, out_size):
        y = F.interpolate(y, size=(out_size, out_size), mode="bicubic", align_corners=False,
                          antialias=out_size < y.shape[-1])
        if quantise:
            y = to_uint8_grid(y, mean, std)
    return y


def degrade_per_sample(x: torch.Tensor, factors: torch.Tensor, choices, **image_kw) -> torch.Tensor:
    """Degrade each image by its own factor: `factors` holds indices into `choices` (one per image).
    image_kw (mean, std, out_size) go to `degrade_image`; without them this is plain `degrade`."""
    size = image_kw.get("out_size") or None
    out = x.clone() if size is None else x.new_empty((*x.shape[:-2], size, size))
    for i, k in enumerate(choices):
        sel = factors == i
        if sel.any():
            out[sel] = degrade_image(x[sel], k, **image_kw) if image_kw else degrade(x[sel], k)
    return out


def degrade_uint8(images: np.ndarray, factor: float) -> np.ndarray:
    """The same on a uint8 array (N, H, W): for figures and for building fixed low-resolution test sets."""
    x = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
    y = degrade(x, factor).squeeze(1).round().clamp(0, 255)
    return y.to(torch.uint8).numpy()


# ------------------------------------------------------------------ batch_fns: a batch degraded by a factor
def _draw(batch_size: int, weights: torch.Tensor, gen: torch.Generator, balanced: bool) -> torch.Tensor:
    """Factor indices for a batch. balanced: counts proportional to `weights` (stratified), order shuffled."""
    p = weights / weights.sum()
    if not balanced:
        return torch.multinomial(p, batch_size, replacement=True, generator=gen)
    u = (torch.arange(batch_size, dtype=torch.float64) + 0.5) / batch_size
    ids = torch.searchsorted(p.double().cumsum(0), u).clamp(max=len(p) - 1)
    return ids[torch.randperm(batch_size, generator=gen)]


def image_kwargs(mean, std, out_size) -> dict:
    """degrade_image's keywords: rounding needs both mean and std; none of them: plain float `degrade`."""
    if (mean is None) != (std is None):
        raise ValueError(f"give both mean and std (the batch's normalisation) or neither, got {mean!r}, {std!r}")
    kw = {} if mean is None else dict(mean=float(mean), std=float(std))
    if out_size:
        kw["out_size"] = int(out_size)
    return kw


class FixedFactor:
    """batch_fn: degrade the whole batch by ×`factor`. `target_index` replaces the labels by that constant
    (the RRN's target when it is evaluated at one factor). mean/std: the batch's normalisation, to round the
    degraded images to 8 bits; out_size: resize after the degradation (see the module docstring)."""

    def __init__(self, factor: float, target_index: int | None = None, *, mean: float | None = None,
                 std: float | None = None, out_size: int | None = None):
        self.factor, self.target_index = factor, target_index
        self.image = image_kwargs(mean, std, out_size)

    def __call__(self, x, y, gen=None):
        if self.target_index is not None:
            y = torch.full_like(y, self.target_index)
        return (degrade_image(x, self.factor, **self.image) if self.image else degrade(x, self.factor)), y

    def __repr__(self):
        return f"FixedFactor({self.factor})"


class RandomFactor:
    """batch_fn: degrade each image by a factor drawn from `factors` (paper 5 §3 MSTrain; Table 3 joint rows).

    target: "label" keeps the class labels; "factor" returns the factor index (RRN, eqs. 1-2); "both" returns a
        (B, 2) int64 tensor [label, factor index] for `rabn_loss` and `DALoss`.
    weights: relative frequency of each factor (default uniform).
    balanced: each batch holds the factors in proportion to `weights` (stratified; every group gets ≥ 2 images
        when the batch has ≥ 2 per factor, so a resolution-specific BatchNorm never sees a single image);
        False draws each image independently.
    mean, std, out_size: 8-bit rounding and resize after the degradation, as in `FixedFactor`.
    """

    def __init__(self, factors: Sequence[float], target: str = "label",
                 weights: Sequence[float] | None = None, balanced: bool = True, *, mean: float | None = None,
                 std: float | None = None, out_size: int | None = None):
        if target not in ("label", "factor", "both"):
            raise ValueError(f"RandomFactor: target must be label, factor or both, got {target!r}")
        self.factors = tuple(factors)
        w = torch.ones(len(self.factors)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if w.shape != (len(self.factors),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"RandomFactor: need {len(self.factors)} non-negative weights, got {weights!r}")
        self.weights, self.target, self.balanced = w, target, balanced
        self.image = image_kwargs(mean, std, out_size)

    def __call__(self, x, y, gen):
        ids = _draw(len(x), self.weights, gen, self.balanced).to(x.device)
        x = degrade_per_sample(x, ids, self.factors, **self.image)
        if self.target == "factor":
            return x, ids
        if self.target == "both":
            return x, torch.stack([y, ids], dim=1)
        return x, y

    def __repr__(self):
        return f"RandomFactor({self.factors}, target={self.target!r})"


class CyclicFactor:
    """val_batch_fn: image i of every batch degraded by factors[i % K] — deterministic and balanced, and
    recoverable by `cyclic_index` (which is how `rabn_loss` knows the factor of a validation image).
    target: "label" or "factor" (the RRN's validation). mean, std, out_size: as in `FixedFactor`."""

    def __init__(self, factors: Sequence[float], target: str = "label", *, mean: float | None = None,
                 std: float | None = None, out_size: int | None = None):
        if target not in ("label", "factor"):
            raise ValueError(f"CyclicFactor: target must be label or factor, got {target!r}")
        self.factors, self.target = tuple(factors), target
        self.image = image_kwargs(mean, std, out_size)

    def __call__(self, x, y, gen=None):
        ids = cyclic_index(len(x), len(self.factors), x.device)
        x = degrade_per_sample(x, ids, self.factors, **self.image)
        return x, (ids if self.target == "factor" else y)


def cyclic_index(batch_size: int, num_factors: int, device=None) -> torch.Tensor:
    return torch.arange(batch_size, device=device) % num_factors
