"""Paper 1's composable pre-processing pipeline: STN -> SR -> classifier (§3.3, Fig. 4; Table 2 variants).

Beside the paper's four Table 2 rows, two control arms (`CONTROLS`, ours, not the paper's) put a plain bicubic x2
upsampling where EDSR goes: the classifier then sees the same 96 px input as in the +SR rows, so Table 2 can show
what EDSR adds beyond input size (after the stem a 24x24 map instead of 12x12; about 3.4x the FLOPs of Base).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .edsr import EDSR
from .resnet import resnet18
from .stn import STN

__all__ = ["STNSRClassifier", "Bicubic", "variant", "VARIANTS", "CONTROLS", "ARMS"]

# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
# "Pipeline" is STNSRClassifier's name from before the rename, kept here and in the registry's "Pipeline:<row>"
# names because run keys include it: renaming them would turn every stored paper-1 run stale.
VERSIONS = {"Pipeline": 1, "Bicubic": 1}

VARIANTS = ("Base", "Base+STN", "Base+SR", "Base+STN+SR")        # paper 1's Table 2 rows
CONTROLS = ("Base+bicubic", "Base+STN+bicubic")                  # ours: bicubic x2 where EDSR goes
ARMS = VARIANTS + CONTROLS


class Bicubic(nn.Module):
    """Plain bicubic upsampling by `scale` (no antialiasing, align_corners=False, as `fer_lib.core.degrade.upsample`):
    the control stage that stands where EDSR stands. No parameters."""

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)


class STNSRClassifier(nn.Module):
    """Paper 1 (Wu & Finch), §3.3 and Fig. 4: [STN alignment] -> [super-resolution] -> classification network.

    Any stage may be None. `sr_frozen=True` treats the SR network as a fixed pre-processor: its parameters get
    `requires_grad=False` and it stays in eval mode even when `.train()` is called. Gradients still flow *through* it
    to an STN placed before it (so the STN can be trained end-to-end behind a frozen SR). When nothing upstream
    needs a gradient, the frozen SR runs under `torch.no_grad()` to save memory.

    Readings where the paper is vague:
    - Order STN then SR (the paper: "First, use the STN ... Secondly, use SR"); SR output goes straight to the
      classifier, which therefore sees scale x the input size (96x96 for x2 on 48x48).
    - Whether SR is trained jointly with the classifier is not said; EDSR is trained on its own (L1) and then frozen
      is the usual reading (`sr_frozen=True`); joint fine-tuning is `sr_frozen=False`.
    """

    def __init__(self, classifier: nn.Module, stn: nn.Module | None = None, sr: nn.Module | None = None,
                 sr_frozen: bool = False):
        super().__init__()
        self.stn = stn
        self.sr = sr
        self.classifier = classifier
        self.sr_frozen = sr_frozen and sr is not None
        if self.sr_frozen:
            self.sr.requires_grad_(False)
            self.sr.eval()

    def train(self, mode: bool = True) -> "STNSRClassifier":
        super().train(mode)
        if self.sr_frozen:
            self.sr.eval()
        return self

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """The image the classifier sees (after STN and SR)."""
        if self.stn is not None:
            x = self.stn(x)
        if self.sr is not None:
            if self.sr_frozen and not x.requires_grad:
                with torch.no_grad():
                    x = self.sr(x)
            else:
                x = self.sr(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.preprocess(x))


Pipeline = STNSRClassifier  # the old name (before the real-time pipeline was renamed apart from it)


def variant(
    name: str,
    num_classes: int = 7,
    in_chans: int = 1,
    image_size: int = 48,
    sr_scale: int = 2,
    classifier: nn.Module | None = None,
    stn: nn.Module | None = None,
    sr: nn.Module | None = None,
    sr_frozen: bool = False,
) -> STNSRClassifier:
    """Build one of paper 1's Table 2 rows: "Base", "Base+STN", "Base+SR", "Base+STN+SR", or a control arm
    "Base+bicubic", "Base+STN+bicubic" (a `Bicubic(sr_scale)` stage in the SR slot; `sr` is ignored there).

    Defaults: classifier = `resnet18(num_classes, in_chans)` with the standard stem (paper 1's Fig. 2 draws a ResNet
    but never names the depth: ResNet18 is our reading); STN = `STN(in_chans, image_size)` (tutorial localisation
    net); SR = `EDSR(sr_scale, 16 blocks, 128 features)`. Pass `classifier`, `stn` or `sr` to swap any stage; a stage
    not named in `name` is left out even if passed.
    """
    if name not in ARMS:
        raise ValueError(f"unknown variant {name!r}; expected one of {ARMS}")
    use_stn, use_sr = "STN" in name, "SR" in name
    if name.endswith("bicubic"):
        use_sr, sr = True, Bicubic(sr_scale)
    if classifier is None:
        classifier = resnet18(num_classes=num_classes, in_chans=in_chans)
    if use_stn and stn is None:
        stn = STN(in_chans=in_chans, image_size=image_size)
    if use_sr and sr is None:
        sr = EDSR(scale=sr_scale, in_chans=in_chans)
    return STNSRClassifier(classifier, stn=stn if use_stn else None, sr=sr if use_sr else None, sr_frozen=sr_frozen)
