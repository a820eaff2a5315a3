"""Resolution degradation (papers 1 and 5): bicubic downsampling by ×k, then bicubic upsampling back.

Paper 5 trains and tests at ×1, ×2, ×4, ×6, ×8 (and ×12…×16 in its Table 3): an image of side S becomes side
round(S / k) and is resized back to S, so every network sees the same input size (the reading stated in
notebook 05). Paper 1's super-resolution stage learns the inverse map from pairs (low, high) built here.
Works batched on the device, on float tensors (B, C, H, W) in any normalisation.

`degrade_image` is the version paper 5's hooks use: a degraded face is an *image*, so it is rounded to the 8-bit
grid (a float result would give a cue no saved image has: at 100 px every ×1 pixel sits on the grid and only ~1 %
of ×2 pixels do, which a resolution router can learn), and an optional resize to the network's input size
(e.g. 100 -> 224, paper 5 §5.2 "resizing to 224") comes *after* the degradation, then is rounded again.
"""
from __future__ import annotations

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
