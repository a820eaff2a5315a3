"""Gradient saliency and Grad-CAM (via captum) for paper 4 §5.3, Fig. 15: which pixels drive a model's decision.

Paper 4 shows "saliency maps and heat maps" (citing Zeiler & Fergus [19]) without naming the method; the two
standard readings are used:
- `gradient_saliency`: |∂ score_target / ∂ input| (Simonyan et al. 2014; `captum.attr.Saliency`), max over channels;
- `grad_cam`: Grad-CAM (Selvaraju et al. 2017; `captum.attr.LayerGradCam`) on one conv layer, ReLU'd and
  upsampled bilinearly to the input size.
Both maps are scaled to [0, 1] per image. `explain` bundles them with the spatial transformer's view of the input
(`model.last_stn_images`, paper 4's SDL-1 output) for `fer_lib.study.plots.saliency_panel`.
"""
from __future__ import annotations

import base64

import numpy as np
import torch
import torch.nn as nn
from captum.attr import LayerAttribution, LayerGradCam, Saliency

from .core.metrics import Predictions

__all__ = ["last_conv", "gradient_saliency", "grad_cam", "pick_examples", "explain", "pack", "unpack"]


def last_conv(module: nn.Module) -> nn.Conv2d:
    """The last nn.Conv2d in `module` (registration order): the usual Grad-CAM layer."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"last_conv: {type(module).__name__} holds no Conv2d")
    return convs[-1]


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _targets(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """The class to explain per image: `target` (int or per-image sequence), or the model's prediction."""
    if target is None:
        with torch.no_grad():
            return model(x).argmax(1)
    t = torch.as_tensor(target, dtype=torch.int64, device=x.device)
    return t.expand(len(x)).clone() if t.ndim == 0 else t


def _unit_scale(a: torch.Tensor) -> np.ndarray:
    """(N, H, W) maps scaled to [0, 1] per image (an all-zero map stays zero)."""
    a = a.detach().float()
    peak = a.flatten(1).amax(1).clamp(min=1e-12).view(-1, 1, 1)
    return (a / peak).cpu().numpy()


def gradient_saliency(model: nn.Module, x: torch.Tensor, target=None) -> np.ndarray:
    """|gradient of the target logit w.r.t. each input pixel|, max over channels: (N, H, W) in [0, 1].

    x: normalised float input (N, C, H, W) as the model sees it. The model is put in eval mode."""
    model.eval()
    x = x.to(_device(model)).float()
    t = _targets(model, x, target)
    attr = Saliency(model).attribute(x.clone().requires_grad_(True), target=t, abs=True)
    return _unit_scale(attr.amax(1))


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target=None) -> np.ndarray:
    """Grad-CAM on `layer` (gradient-weighted channel sum, ReLU), upsampled to the input: (N, H, W) in [0, 1]."""
    model.eval()
    x = x.to(_device(model)).float()
    t = _targets(model, x, target)
    cam = LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)
    cam = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return _unit_scale(cam.sum(1).clamp(min=0))


def pick_examples(pred: Predictions, per_class: int = 1) -> list[int]:
    """Indices of up to `per_class` images per class, in class order: the most confident correct predictions
    first, then (when a class has too few correct ones) its other images by the probability given to it."""
    y_pred, out = pred.y_pred, []
    for c in range(pred.probs.shape[1]):
        idx = np.flatnonzero(pred.y_true == c)
        if not len(idx):
            continue
        correct = y_pred[idx] == c
        # sort key: correct before wrong, then by the probability of the true class, highest first
        order = np.lexsort((-pred.probs[idx, c], ~correct))
        out += idx[order[:per_class]].tolist()
    return out


def explain(model: nn.Module, images: np.ndarray | torch.Tensor, *, mean: float = 0.5, std: float = 0.5,
            target=None, layer: nn.Module | None = None) -> dict:
    """Saliency, Grad-CAM and the spatial transformer's view for uint8 images (N, H, W) or (N, C, H, W).

    Normalises as the training engine does ((x/255 - mean) / std). Returns a dict of numpy arrays:
    image (N, H, W) uint8, stn (N, H, W) uint8 or None (the model has no `last_stn_images`), saliency and cam
    (N, H, W) in [0, 1], pred and target (N,) int. `layer` defaults to the model's last conv layer."""
    x8 = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if x8.dtype != torch.uint8:
        raise ValueError(f"explain: images must be uint8, got {x8.dtype}")
    x8 = x8.unsqueeze(1) if x8.ndim == 3 else x8
    x = ((x8.float() / 255.0 - mean) / std).to(_device(model))
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(1)
        stn = getattr(model, "last_stn_images", None)
    t = pred if target is None else _targets(model, x, target)
    to_uint8 = lambda a: (a.float() * std + mean).mul(255).round().clamp(0, 255).to(torch.uint8)[:, 0].cpu().numpy()
    return {"image": x8[:, 0].cpu().numpy(), "stn": None if stn is None else to_uint8(stn),
            "saliency": gradient_saliency(model, x, t), "cam": grad_cam(model, layer or last_conv(model), x, t),
            "pred": pred.cpu().numpy(), "target": t.cpu().numpy()}


# A run record keeps Fig. 15's panels (fer_lib.papers.p4_khan's "p4.saliency" hook), so the figure is drawn from the
# store without the trained weights: four uint8 planes (image, STN view, saliency and Grad-CAM scaled to 0-255).
_PLANES = ("image", "stn", "saliency", "cam")


def pack(e: dict, index, split: str = "") -> dict:
    """`explain`'s output as a small JSON-able dict (~12 KB per 48×48 image, base64)."""
    img = np.asarray(e["image"], dtype=np.uint8)
    stn = img if e["stn"] is None else np.asarray(e["stn"], dtype=np.uint8)
    to8 = lambda a: np.clip(np.rint(np.asarray(a, dtype=np.float64) * 255), 0, 255).astype(np.uint8)
    planes = np.stack([img, stn, to8(e["saliency"]), to8(e["cam"])])
    return {"split": split, "index": [int(i) for i in index], "pred": [int(p) for p in e["pred"]],
            "target": [int(t) for t in e["target"]], "has_stn": e["stn"] is not None, "shape": list(planes.shape),
            "u8_base64": base64.b64encode(planes.tobytes()).decode(),
            "stn_moved": float(np.abs(stn.astype(int) - img.astype(int)).mean())}


def unpack(d: dict) -> dict:
    """The inverse of `pack`: explain-style dict (saliency and cam back in [0, 1], 8-bit steps)."""
    planes = np.frombuffer(base64.b64decode(d["u8_base64"]), dtype=np.uint8).reshape(d["shape"])
    out = dict(zip(_PLANES, planes))
    out["saliency"], out["cam"] = out["saliency"] / 255.0, out["cam"] / 255.0
    out["stn"] = out["stn"] if d.get("has_stn", True) else None
    out.update(pred=np.asarray(d["pred"]), target=np.asarray(d["target"]), index=np.asarray(d["index"]))
    return out
