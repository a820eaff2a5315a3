"""Paper 2's transfer model: ImageNet ResNet50 adapted to 48x48 grey faces plus an appended head (§2, eqs. 1-6)."""
from __future__ import annotations

import socket
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

__all__ = ["ResNet50Transfer", "L2NormAffine", "grey_conv_from_rgb", "DOWNSAMPLERS", "imagenet_weights_file"]

# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
VERSIONS = {"ResNet50Transfer": 1}

# The five places where torchvision's ResNet50 halves the resolution before the final average pool.
DOWNSAMPLERS = ("conv1", "maxpool", "layer2", "layer3", "layer4")


IMAGENET_FILE = "resnet50-0676ba61.pth"   # torchvision's IMAGENET1K_V1 file name (in the torch hub cache)


def imagenet_weights_file(pretrained: str | None = "imagenet") -> Path | None:
    """Where ImageNet ResNet50 weights can be read WITHOUT the network, or None: a user-supplied file
    (`pretrained` = a path to a torchvision ResNet50 state dict) or torchvision's file in the torch hub cache
    (`pretrained="imagenet"`; $TORCH_HOME/hub/checkpoints/resnet50-0676ba61.pth). Run plans use it to decide
    whether the transfer arms can run (a frozen random backbone is no transfer learning)."""
    if pretrained in (None, False, "none"):
        return None
    if pretrained == "imagenet":
        f = Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE
        return f if f.is_file() else None
    f = Path(pretrained).expanduser()
    return f if f.is_file() else None


def _load_imagenet_state_dict(path: str | Path | None = None) -> dict:
    """torchvision's ImageNet ResNet50 weights: from `path` (a user-supplied state dict), else from the torch hub
    cache, or downloaded. Raises when unavailable.

    A module-level function so tests can monkeypatch it (they must never touch the network).
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ResNet50 weights file {path} does not exist")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict) or "conv1.weight" not in state:
            raise ValueError(f"{path} is not a torchvision ResNet50 state dict (no 'conv1.weight')")
        return state
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # fail rather than hang on a machine without internet
    try:
        return torchvision.models.ResNet50_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    finally:
        socket.setdefaulttimeout(old)


@torch.no_grad()
def grey_conv_from_rgb(conv: nn.Conv2d, reduce: str = "sum") -> nn.Conv2d:
    """Paper 2 eq. (1): a 1-channel conv whose kernel is the sum over the RGB kernels, W_grey = sum_c W_RGB,c.

    Summing makes the grey conv give exactly the RGB conv's response to the grey image replicated on three channels
    (conv(g, g, g) = sum_c W_c * g). `reduce="mean"` divides by 3 instead (the other possible reading of the
    garbled equation; it changes the scale of the first activations, which the following BN then sees).
    """
    w = conv.weight.sum(dim=1, keepdim=True)
    if reduce == "mean":
        w = w / conv.weight.shape[1]
    elif reduce != "sum":
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    grey = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
    grey.weight.copy_(w)
    if conv.bias is not None:
        grey.bias.copy_(conv.bias)
    return grey


class L2NormAffine(nn.Module):
    """Paper 2 eqs. (4)-(6): v_norm = v / ||v||_2, then o = gamma * v_norm + beta (gamma init 1, beta init 0).

    gamma and beta are per-dimension vectors (like BN/LayerNorm affine parameters); the paper does not say whether
    they are vectors or scalars.
    """

    def __init__(self, dim: int, eps: float = 1e-12):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.beta = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def normalize(self, v: torch.Tensor) -> torch.Tensor:
        return F.normalize(v, p=2.0, dim=1, eps=self.eps)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.gamma * self.normalize(v) + self.beta


class ResNet50Transfer(nn.Module):
    """Paper 2 (ResNet50 transfer for FER2013), §2.1-2.3 and §4.1: "ResNet50 + CNN".

    backbone: torchvision ResNet50 (ImageNet weights when available) without its avgpool/fc, first conv made grey
    (eq. 1), one downsampling step removed (see below), frozen (eq. 2) ->
    refinement: conv3x3(2048->256)-BN-ReLU-maxpool2-dropout -> conv1x1(256->128)-BN-ReLU-dropout ->
    GAP -> L2 normalisation + learnable gamma/beta (eqs. 3-6) ->
    FC 128-BN-ReLU-dropout -> FC 64-BN-ReLU-dropout -> FC num_classes (§2.3).

    Readings where the paper is vague:
    - Eq. (1) is garbled in the text; read as W_grey = sum_c W_RGB,c (`grey_reduce="sum"`; "mean" switchable). With
      `in_chans=3` the RGB conv is kept.
    - "Selected pooling layers are removed to preserve spatial resolution": ResNet50 has one pooling layer before its
      head, the stem max-pool; we remove it and keep every stride elsewhere (`keep_pools` lists the downsampling steps
      kept, out of `DOWNSAMPLERS` = conv1, maxpool, layer2, layer3, layer4; a stage left out gets stride 1). At 48x48
      the backbone then gives 2048x3x3 (instead of 2x2, or 1x1 in the last stage).
    - "New convolutional blocks with max pooling" + "1x1 convolutions reorganize channel information" (§4.1:
      "a two-stage refinement module"): one 3x3 conv block with max-pool, then a 1x1 conv to 128 channels; each with
      BN, ReLU, dropout (§4.1: "every layer is equipped with a block that contains BN, ReLU and Dropout"). Width 256
      of the 3x3 conv and dropout rates (0.2 in the refinement, 0.5 in the head) are ours. At 48x48 the max-pool
      takes 3x3 to 1x1, which matches the paper's "1x1x128 feature cube" entering GAP (eq. 3 with H = W = 1).
    - §2.3 "two fully connected layers and one output layer ... from 128 to 64 and finally 7": FC 128->128, FC 128->64,
      FC 64->num_classes, BN + ReLU + dropout after each hidden FC (`head_dims=(64,)` gives 128->64->classes).
    - Freezing (eq. 2): every backbone parameter gets `requires_grad=False` (the grey conv1 too: it is a pretrained
      layer); while frozen the backbone's BatchNorms stay in eval mode (running statistics are not updated by
      FER2013 batches either), even under `.train()`. `set_backbone_frozen(False)` unfreezes for a later phase
      ("during the initial phase of transfer learning").
    - `pretrained="imagenet"` tries torchvision's IMAGENET1K_V1 weights (works online or from the torch hub cache);
      `pretrained=PATH` loads a user-supplied torchvision ResNet50 state dict (`imagenet_weights_file` finds
      either without the network).
      When that fails (e.g. no internet) the backbone keeps its random init, `self.pretrained` is False and
      `self.pretrained_note` says why; a warning is emitted. The freeze setting is still honoured as asked (a frozen
      random backbone is then a random-feature baseline, which the note points out). On success `self.pretrained`
      is True. The engine must normalise grey inputs (the paper does not say how; ImageNet statistics do not apply
      to one channel directly).
    """

    def __init__(
        self,
        num_classes: int = 7,
        pretrained: str | Path | None = "imagenet",
        freeze_backbone: bool = True,
        keep_pools: Sequence[str] = ("conv1", "layer2", "layer3", "layer4"),
        in_chans: int = 1,
        grey_reduce: str = "sum",
        refine_channels: Sequence[int] = (256, 128),
        refine_dropout: float = 0.2,
        head_dims: Sequence[int] = (128, 64),
        head_dropout: float = 0.5,
    ):
        super().__init__()
        unknown = set(keep_pools) - set(DOWNSAMPLERS)
        if unknown:
            raise ValueError(f"keep_pools entries must be in {DOWNSAMPLERS}, got {sorted(unknown)}")
        if in_chans not in (1, 3):
            raise ValueError(f"in_chans must be 1 or 3, got {in_chans}")

        net = torchvision.models.resnet50(weights=None)
        self.pretrained = False
        self.pretrained_note = "random init (pretrained=None)"
        if pretrained not in (None, False, "none"):
            path = None if pretrained == "imagenet" else Path(pretrained)
            try:
                net.load_state_dict(_load_imagenet_state_dict() if path is None else _load_imagenet_state_dict(path))
                self.pretrained = True
                self.pretrained_note = ("ImageNet IMAGENET1K_V1 weights loaded" if path is None
                                        else f"ImageNet weights loaded from {path.name}")
            except Exception as e:  # no internet and no cached file, corrupt file, ...
                self.pretrained_note = (f"ImageNet weights unavailable ({type(e).__name__}: {e}); backbone randomly "
                                        f"initialised{' and frozen as requested' if freeze_backbone else ''}")
                import warnings
                warnings.warn(f"ResNet50Transfer: {self.pretrained_note}", RuntimeWarning, stacklevel=2)

        if in_chans == 1:
            net.conv1 = grey_conv_from_rgb(net.conv1, grey_reduce)
        # Remove the downsampling steps not kept (torchvision v1.5 Bottleneck strides in conv2 and the shortcut).
        if "conv1" not in keep_pools:
            net.conv1.stride = (1, 1)
        if "maxpool" not in keep_pools:
            net.maxpool = nn.Identity()
        for stage in ("layer2", "layer3", "layer4"):
            if stage not in keep_pools:
                block = getattr(net, stage)[0]
                block.conv2.stride = (1, 1)
                block.downsample[0].stride = (1, 1)
        self.keep_pools = tuple(keep_pools)
        self.backbone = nn.Sequential(OrderedDict(
            (n, getattr(net, n)) for n in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        ))

        c1, c2 = refine_channels
        self.refine = nn.Sequential(
            nn.Conv2d(2048, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2), nn.Dropout(refine_dropout),
            nn.Conv2d(c1, c2, 1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True), nn.Dropout(refine_dropout),
        )
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.norm = L2NormAffine(c2)
        layers: list[nn.Module] = []
        d = c2
        for h in head_dims:
            layers += [nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Dropout(head_dropout)]
            d = h
        layers.append(nn.Linear(d, num_classes))
        self.head = nn.Sequential(*layers)

        self.freeze_backbone = False
        self.set_backbone_frozen(freeze_backbone)

    def set_backbone_frozen(self, frozen: bool = True) -> None:
        self.freeze_backbone = frozen
        self.backbone.requires_grad_(not frozen)
        if frozen:
            self.backbone.eval()
        else:
            self.backbone.train(self.training)

    def train(self, mode: bool = True) -> "ResNet50Transfer":
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()  # frozen BN keeps the pretrained running statistics
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d vector after GAP, before L2 normalisation."""
        return self.gap(self.refine(self.backbone(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.features(x)))
