"""Batched augmentation on the model's device: one affine warp per batch, no per-sample PIL.

Flip, rotation, translation, scale and crop-by-shift are folded into one per-sample 2×3 matrix and applied
with a single `grid_sample`; random erasing is a per-sample rectangle mask. Every random draw comes from an
explicit `torch.Generator`, so the engine can seed it per epoch and a resumed run replays the same
augmentations bit for bit (kornia draws from the global RNG, which a resume cannot restore cheaply).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class Augment:
    flip: float = 0.5          # probability of a horizontal flip
    rotate: float = 0.0        # max rotation, degrees (uniform ±)
    translate: float = 0.0     # max shift, fraction of the image side (uniform ±); "crop" in the papers
    scale: tuple[float, float] = (1.0, 1.0)   # zoom range
    erase: float = 0.0         # probability of one random erased rectangle (Zhong et al. 2017)
    erase_area: tuple[float, float] = (0.02, 0.2)
    padding_mode: str = "border"   # "zeros" = pad with black, as torchvision's RandomAffine

    def __post_init__(self):
        for name in ("flip", "erase"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"Augment.{name} must be a probability in [0, 1], got {v!r}")
        if self.rotate < 0 or self.translate < 0:
            raise ValueError("Augment.rotate and Augment.translate must be >= 0")
        if not (0 < self.scale[0] <= self.scale[1]):
            raise ValueError(f"Augment.scale must be (low, high) with 0 < low <= high, got {self.scale!r}")
        if self.padding_mode not in ("zeros", "border", "reflection"):
            raise ValueError(f"Augment.padding_mode must be zeros|border|reflection, got {self.padding_mode!r}")

    @property
    def warps(self) -> bool:
        return self.flip > 0 or self.rotate > 0 or self.translate > 0 or self.scale != (1.0, 1.0)

    def to_dict(self) -> dict:
        return asdict(self)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """x: float (B, C, H, W). Returns an augmented batch of the same shape."""
        b, dev = x.shape[0], x.device
        u = lambda *shape: torch.rand(*shape, generator=gen, device=gen.device if gen else "cpu").to(dev)
        if self.warps:
            ang = (u(b) * 2 - 1) * math.radians(self.rotate)
            lo, hi = self.scale
            s = torch.exp(math.log(lo) + u(b) * (math.log(hi) - math.log(lo)))
            flip = torch.where(u(b) < self.flip, -1.0, 1.0)
            t = (u(b, 2) * 2 - 1) * self.translate * 2  # affine_grid coordinates span 2 per side
            cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
            theta = torch.stack([torch.stack([cos * flip, -sin, t[:, 0]], 1),
                                 torch.stack([sin * flip, cos, t[:, 1]], 1)], 1)
            grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode=self.padding_mode, align_corners=False)
        if self.erase > 0:
            h, w = x.shape[-2:]
            area = self.erase_area[0] + u(b) * (self.erase_area[1] - self.erase_area[0])
            aspect = torch.exp((u(b) * 2 - 1) * math.log(3))
            eh = (area * aspect).sqrt().clamp(max=1) * h
            ew = (area / aspect).sqrt().clamp(max=1) * w
            cy, cx = u(b) * h, u(b) * w
            ys = torch.arange(h, device=dev).view(1, h, 1)
            xs = torch.arange(w, device=dev).view(1, 1, w)
            box = ((ys - cy.view(-1, 1, 1)).abs() < eh.view(-1, 1, 1) / 2) & \
                  ((xs - cx.view(-1, 1, 1)).abs() < ew.view(-1, 1, 1) / 2)
            box &= (u(b) < self.erase).view(-1, 1, 1)
            x = x.masked_fill(box.unsqueeze(1), 0.0)
        return x


# Named presets the papers' notebooks start from; each notebook states which it uses.
PRESETS = {
    "none": Augment(flip=0.0),
    "flip": Augment(flip=0.5),
    # Paper 2: rotation, translation, cropping, scaling, flipping, padding.
    "standard": Augment(flip=0.5, rotate=10, translate=0.1, scale=(0.9, 1.1), padding_mode="zeros"),
    # Paper 4: flip, small rotation, small distortion.
    "light": Augment(flip=0.5, rotate=5, translate=0.05, scale=(0.95, 1.05)),
    "strong": Augment(flip=0.5, rotate=15, translate=0.1, scale=(0.85, 1.15), erase=0.5),
}


def get_augment(spec) -> Augment:
    """An Augment from a preset name, a dict of fields, an Augment, or None (= no augmentation)."""
    if spec is None:
        return PRESETS["none"]
    if isinstance(spec, Augment):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"augment: unknown preset {spec!r}; choose one of {sorted(PRESETS)} or pass a dict")
        return PRESETS[spec]
    if isinstance(spec, dict):
        unknown = set(spec) - set(Augment.__dataclass_fields__)
        if unknown:
            raise ValueError(f"augment: unknown field(s) {sorted(unknown)}; fields are {sorted(Augment.__dataclass_fields__)}")
        return Augment(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    raise ValueError(f"augment: expected a preset name, dict or Augment, got {type(spec).__name__}")
