"""Super-resolution through the study's one training loop: paper 1 (Wu & Finch), §3.2 and §4.2.

Paper 1 trains an EDSR (B = 16, F = 128, L1 loss), the x2 model first and the x4 model initialised from it, and
says L1 beats L2. It never says which image pairs the SR network learns from; the natural reading, used here, is
bicubic-downsampled faces: the high-resolution (HR) target is the face itself, the low-resolution (LR) input its
antialiased bicubic downsampling by the scale (`fer_lib.core.degrade.downsample`).

- `lr_hr_batch(scale)`: a `batch_fn` for `fit` / `evaluate` turning a batch of faces into (LR, HR) pairs;
- `sr_loss("l1" | "l2")`: a `loss_fn` returning (pixel loss, None);
- `fit_sr(model, ...)`: one EDSR training run (optionally initialised from a trained lower-scale EDSR);
  `fit_sr_ladder(...)` chains x2 -> x4 as the paper describes;
- `super_resolve(...)` and `psnr_ssim(...)`: held-out evaluation beside bicubic upsampling (scikit-image metrics);
- `stage_outputs(...)`, `CachedStage(...)`: a frozen pre-processing stage (EDSR or bicubic) run once per image and
  per flip, then reused by every arm, seed and epoch (issue 19 item 4), with the same classifier input as the live
  pipeline (see `CachedStage`);
- `save_weights` / `load_weights`: a trained EDSR stored compactly (bf16) under its run key, for the runs that need it.

Everything works in the engine's normalised space ((x/255 - mean) / std), so a trained EDSR can be dropped in
front of a classifier trained with the same normalisation (`fer_lib.models.pipeline`).
"""
from __future__ import annotations

from typing import Callable

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..core.degrade import downsample, upsample
from ..core.io import atomic_write_bytes
from ..models.edsr import load_from_lower_scale
from ..core.augment import get_augment
from ..core.train import FitResult, TrainConfig, _autocast, fit, resolve_device

__all__ = ["lr_hr_batch", "sr_loss", "fit_sr", "fit_sr_ladder", "super_resolve", "psnr_ssim", "LOSSES",
           "stage_outputs", "CachedStage", "save_weights", "load_weights"]

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



# --------------------------------------------------------------------------------------------- frozen-stage cache
def _flip_only(augment) -> bool:
    a = get_augment(augment)
    return a.rotate == 0 and a.translate == 0 and a.scale == (1.0, 1.0) and a.erase == 0


def _mirror(x: torch.Tensor, sign: float, padding_mode: str) -> torch.Tensor:
    # The engine's flip is a grid_sample with theta [[±1, 0, 0], [0, 1, 0]] (fer_lib.core.augment); replay the very op.
    theta = torch.tensor([[sign, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=x.dtype, device=x.device).expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


@torch.no_grad()
def stage_outputs(stage: nn.Module, images, *, flips: bool = True, mean: float = 0.5, std: float = 0.5,
                  augment="flip", device: str | torch.device = "cpu", amp: bool = True,
                  batch_size: int = 256) -> torch.Tensor:
    """A frozen stage's output for every uint8 face (N, H, W) or (N, C, H, W): (N, 1 or 2, C, sH, sW) on `device`.

    Slot 0 is the face as is, slot 1 (flips=True) the face mirrored *before* the stage: EDSR is not exactly
    flip-equivariant, so stage(flip(x)) is computed rather than taken as flip(stage(x)). Each input is built with
    the engine's own ops in the engine's order (x/255 -> the augmentation's grid_sample -> normalise), and the stage
    runs in eval mode under the same autocast as `fit(amp=...)`, so the output is kept in the dtype the live path
    gives (bf16 on CUDA with amp, fp32 otherwise)."""
    device = resolve_device(device) if isinstance(device, str) else device
    x_all = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    x_all = x_all.unsqueeze(1) if x_all.ndim == 3 else x_all
    pad = get_augment(augment).padding_mode
    was_training = stage.training
    stage.eval().to(device)
    out = []
    for i in range(0, len(x_all), batch_size):
        x = x_all[i:i + batch_size].to(device).float().div_(255)
        views = []
        for sign in ((1.0, -1.0) if flips else (1.0,)):
            v = _mirror(x, sign, pad) if get_augment(augment).warps else x
            with _autocast(device, amp):
                views.append(stage((v - mean) / std))
        out.append(torch.stack(views, 1))
    stage.train(was_training)
    return torch.cat(out)


def _image_keys(p: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Two hash keys per image of 8-bit pixel values p (B, ...): dot products with random integer weights in
    float64, exact because every partial sum stays below 2^53 (the weights are drawn small enough), so equal
    images give equal keys on any device and in any summation order."""
    return p.reshape(len(p), -1).double() @ w.T


class CachedStage(nn.Module):
    """A frozen stage (EDSR or bicubic) answered from a table of its outputs instead of being run.

    The table holds the stage's output for every face given, as is and (flips=True) mirrored (`stage_outputs`),
    keyed by the face's 8-bit pixels. `forward` rounds its normalised input back to 8-bit values, looks each image
    up (a sorted-key search on the device, no Python loop) and returns the stored output; an image that is not in
    the table raises (so an STN in front of it, whose output is not an 8-bit image, can never hit it by accident).
    Inside `STNSRClassifier(classifier, sr=CachedStage(...), sr_frozen=True)` the classifier receives what the live
    stage would give, batch for batch, up to the floating-point differences of batching (tests/test_superres.py); one
    output per image and flip serves every arm, seed and epoch. The table is not part of the state_dict.
    """

    def __init__(self, stage: nn.Module, images, *, flips: bool = True, mean: float = 0.5, std: float = 0.5,
                 augment="flip", device: str | torch.device = "cpu", amp: bool = True, batch_size: int = 256):
        super().__init__()
        if flips and not _flip_only(augment):
            raise ValueError(f"CachedStage: augmentation {augment!r} warps more than a flip; a cached stage output "
                             "cannot replay it (use the live stage)")
        self.mean, self.std, self.scale = mean, std, getattr(stage, "scale", None)
        device = resolve_device(device) if isinstance(device, str) else device
        x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
        x = x.unsqueeze(1) if x.ndim == 3 else x
        out = stage_outputs(stage, x, flips=flips, mean=mean, std=std, augment=augment, device=device, amp=amp,
                            batch_size=batch_size)                      # (N, F, C, sH, sW)
        faces = torch.stack([x, x.flip(-1)], 1)[:, :out.shape[1]]      # the 8-bit input of each slot
        faces, out = faces.flatten(0, 1).to(device), out.flatten(0, 1)
        limit = 2 ** 53 // (255 * faces[0].numel())
        for attempt in range(8):    # two keys per image; redraw in the (rare) case of a first-key collision
            w = torch.randint(0, limit, (2, faces[0].numel()), generator=torch.Generator().manual_seed(attempt))
            w = w.double().to(device)
            keys = _image_keys(faces, w)
            uniq, first = np.unique(keys.cpu().numpy(), axis=0, return_index=True)   # dedupe identical images
            if len(np.unique(uniq[:, 0])) == len(uniq):
                break
        else:
            raise RuntimeError("CachedStage: could not draw collision-free image keys")
        order = np.argsort(uniq[:, 0], kind="stable")
        rows = torch.as_tensor(first[order], device=device)
        self.register_buffer("w", w.to(device), persistent=False)
        self.register_buffer("keys", keys[rows], persistent=False)
        self.register_buffer("table", out[rows], persistent=False)

    def __len__(self) -> int:
        return len(self.keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = ((x.float() * self.std + self.mean) * 255).round_()
        k = _image_keys(p, self.w)
        pos = torch.searchsorted(self.keys[:, 0].contiguous(), k[:, 0].contiguous()).clamp_(max=len(self.keys) - 1)
        if not bool((self.keys[pos] == k).all()):   # one host sync per batch (the engine's loss.item() is another)
            raise ValueError("CachedStage: an input image is not in the cache (cached faces only, before any STN; "
                             "a flip is the only augmentation it replays)")
        return self.table[pos]


# --------------------------------------------------------------------------------------------- weights between runs
def save_weights(model: nn.Module, path: str | Path, *, key: str, meta: dict | None = None) -> Path:
    """Store a trained model's weights in bf16 (EDSR x2 B16 F128: ~11 MB) with its run key, atomically."""
    state = {k: (v.detach().to("cpu", torch.bfloat16) if v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"key": key, "meta": meta or {}, "state": state}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_weights(model: nn.Module, path: str | Path, *, key: str | None = None) -> nn.Module:
    """Load weights written by `save_weights` (or a plain state_dict file) into `model`, cast to its dtypes; with
    `key`, refuse another run's."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated or foreign file
        raise ValueError(f"{path}: not a weights file written by save_weights ({type(e).__name__}: {e})") from None
    if not (isinstance(blob, dict) and "state" in blob):   # a plain state_dict (the run store's weights.pt)
        blob = {"key": None, "state": blob}
    if key is not None and blob.get("key") != key:
        raise ValueError(f"{path}: weights of run {blob.get('key')!r}, expected {key!r}")
    ref = model.state_dict()
    model.load_state_dict({k: v.to(ref[k].dtype) if k in ref else v for k, v in blob["state"].items()})
    return model
