"""Super-resolution through the study's one training loop: paper 1 (Wu & Finch), §3.2 and §4.2.

Paper 1 trains an EDSR (B = 16, F = 128, L1 loss), the x2 model first and the x4 model initialised from it, and
says L1 beats L2. It never says which image pairs the SR network learns from; the natural reading, used here, is
bicubic-downsampled faces: the high-resolution (HR) target is the face itself, the low-resolution (LR) input its
antialiased bicubic downsampling by the scale (`fer_lib.degrade.downsample`).

- `lr_hr_batch(scale)`: a `batch_fn` for `fit` / `evaluate` turning a batch of faces into (LR, HR) pairs;
- `sr_loss("l1" | "l2")`: a `loss_fn` returning (pixel loss, None);
- `fit_sr(model, ...)`: one EDSR training run (optionally initialised from a trained lower-scale EDSR);
  `fit_sr_ladder(...)` chains x2 -> x4 as the paper describes;
- `super_resolve(...)` and `psnr_ssim(...)`: held-out evaluation beside bicubic upsampling (scikit-image metrics).

Everything works in the engine's normalised space ((x/255 - mean) / std), so a trained EDSR can be dropped in
front of a classifier trained with the same normalisation (`fer_lib.models.pipeline`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .degrade import downsample, upsample
from .models.edsr import load_from_lower_scale
from .train import FitResult, TrainConfig, fit

__all__ = ["lr_hr_batch", "sr_loss", "fit_sr", "fit_sr_ladder", "super_resolve", "psnr_ssim", "LOSSES"]

LOSSES = {"l1": F.l1_loss, "l2": F.mse_loss}


def lr_hr_batch(scale: int) -> Callable:
    """batch_fn(x, y, gen) -> (LR, HR): the labels are dropped, the face becomes the target."""
    if scale < 1:
        raise ValueError(f"lr_hr_batch: scale must be >= 1, got {scale}")

    def batch_fn(x: torch.Tensor, y: torch.Tensor, gen=None):
        return downsample(x, scale), x
    return batch_fn


def sr_loss(kind: str = "l1") -> Callable:
    """loss_fn(model, lr, hr) -> (loss, None): mean absolute (l1) or squared (l2) pixel error."""
    if kind not in LOSSES:
        raise ValueError(f"sr_loss: kind must be one of {sorted(LOSSES)}, got {kind!r}")
    pixel = LOSSES[kind]

    def loss_fn(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor):
        return pixel(model(lr).float(), hr.float()), None
    return loss_fn


def fit_sr(model: nn.Module, train, val=None, config: TrainConfig | dict | None = None, *, loss: str = "l1",
           init_from: nn.Module | None = None, checkpoint=None) -> FitResult:
    """Train an SR model (with a `.scale`) on (LR, HR) pairs built from the faces of `train`.

    init_from: a trained lower-scale EDSR whose matching weights initialise `model` first (paper 1 §3.2: "use the
    parameters obtained by training the low-multiple upsampling model to initialize the high-multiple model"); the
    names copied are kept on the result as `result.copied`. With `val`, the epoch of lowest validation loss is kept.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config or {})
    cfg = cfg.replace(select="val_loss" if val is not None else "last")
    copied = load_from_lower_scale(model, init_from) if init_from is not None else []
    pairs = lr_hr_batch(model.scale)
    result = fit(model, train, val, cfg, batch_fn=pairs, val_batch_fn=pairs, loss_fn=sr_loss(loss),
                 checkpoint=checkpoint)
    result.copied = copied
    return result


def fit_sr_ladder(make_model: Callable[[int], nn.Module], train, val=None, config: TrainConfig | dict | None = None,
                  *, scales=(2, 4), loss: str = "l1", checkpoints: dict | None = None) -> dict[int, FitResult]:
    """Train `make_model(scale)` for each scale in turn, each initialised from the one before (x2 -> x4)."""
    results: dict[int, FitResult] = {}
    previous = None
    for s in scales:
        results[s] = fit_sr(make_model(s), train, val, config, loss=loss, init_from=previous,
                            checkpoint=(checkpoints or {}).get(s))
        previous = results[s].model
    return results


def _to_uint8(x: torch.Tensor, mean: float, std: float) -> np.ndarray:
    return ((x.float() * std + mean) * 255).round().clamp(0, 255).to(torch.uint8).squeeze(1).cpu().numpy()


@torch.no_grad()
def super_resolve(model: nn.Module | None, images: np.ndarray, scale: int, *, mean: float = 0.5,
                  std: float = 0.5, batch_size: int = 256, device: str | torch.device | None = None
                  ) -> dict[str, np.ndarray]:
    """Downsample uint8 faces (N, H, W) by `scale` and bring them back: {"lr", "bicubic", "sr"} as uint8.

    "lr" is (N, H/scale, W/scale); "bicubic" and "sr" (the model's output; absent when model is None) are (N, H, W).
    The LR input is the same antialiased bicubic downsampling the model was trained on, in float (not re-quantised).
    """
    if device is None:
        device = next(model.parameters()).device if model is not None else torch.device("cpu")
    device = torch.device(device) if not isinstance(device, torch.device) else device
    if model is not None:
        was_training = model.training
        model.eval()
    out: dict[str, list] = {"lr": [], "bicubic": [], "sr": []}
    hr_all = torch.as_tensor(np.asarray(images))
    for i in range(0, len(hr_all), batch_size):
        hr = (hr_all[i:i + batch_size].unsqueeze(1).to(device).float() / 255 - mean) / std
        lr = downsample(hr, scale)
        out["lr"].append(_to_uint8(lr, mean, std))
        out["bicubic"].append(_to_uint8(upsample(lr, tuple(hr.shape[-2:])), mean, std))
        if model is not None:
            out["sr"].append(_to_uint8(model(lr), mean, std))
    if model is not None:
        model.train(was_training)
    return {k: np.concatenate(v) for k, v in out.items() if v}


def psnr_ssim(pred: np.ndarray, ref: np.ndarray, shave: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-image PSNR (dB) and SSIM of uint8 images (N, H, W) against references, data range 255.

    shave: pixels cropped from each border first (EDSR's benchmark convention crops `scale` pixels). An image
    identical to its reference has infinite PSNR (scikit-image's convention)."""
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"psnr_ssim: prediction {pred.shape} and reference {ref.shape} differ in shape")
    if shave:
        pred, ref = pred[:, shave:-shave, shave:-shave], ref[:, shave:-shave, shave:-shave]
    psnr = np.array([peak_signal_noise_ratio(r, p, data_range=255) for p, r in zip(pred, ref)])
    ssim = np.array([structural_similarity(r, p, data_range=255) for p, r in zip(pred, ref)])
    return psnr, ssim

