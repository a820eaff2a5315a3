"""Resolution degradation (papers 1 and 5): bicubic downsampling by ×k, then bicubic upsampling back.

Paper 5 trains and tests at ×1, ×2, ×4, ×6, ×8 (and ×12…×16 in its Table 3): an image of side S becomes side
round(S / k) and is resized back to S, so every network sees the same input size (the reading stated in
notebook 05). Paper 1's super-resolution stage learns the inverse map from pairs (low, high) built here.
Works batched on the device, on float tensors (B, C, H, W) in any normalisation.
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


def degrade_per_sample(x: torch.Tensor, factors: torch.Tensor, choices) -> torch.Tensor:
    """Degrade each image by its own factor: `factors` holds indices into `choices` (one per image)."""
    out = x.clone()
    for i, k in enumerate(choices):
        sel = factors == i
        if sel.any():
            out[sel] = degrade(x[sel], k)
    return out


def degrade_uint8(images: np.ndarray, factor: float) -> np.ndarray:
    """The same on a uint8 array (N, H, W): for figures and for building fixed low-resolution test sets."""
    x = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
    y = degrade(x, factor).squeeze(1).round().clamp(0, 255)
    return y.to(torch.uint8).numpy()
