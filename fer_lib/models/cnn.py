"""Plain CNNs: paper 3's CNN and VGG-style network (Zhao, §III.B) and paper 2's two CNN baselines (§3)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

__all__ = ["ZhaoCNN", "ZhaoVGG", "VanillaCNN", "ResidualCNN", "gaussian_weights_init"]

# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
VERSIONS = {"ZhaoCNN": 1, "ZhaoVGG": 1, "VanillaCNN": 1, "ResidualCNN": 1}


def gaussian_weights_init(module: nn.Module, std: float = 0.04) -> nn.Module:
    """Paper 3 (§IV.B): draw every conv weight from N(0, std); std = 0.04 in the paper.

    Only `nn.Conv2d` weights are touched, as in the paper (which names only the convolutional layers): conv biases,
    BatchNorm (weight 1, bias 0) and Linear layers (PyTorch's default Kaiming-uniform) keep their default init.
    Use as `model.apply(partial(gaussian_weights_init, std=...))` or call it on a whole model (it recurses).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, mean=0.0, std=std)
    return module


def _conv_bn_relu(cin: int, cout: int, batch_norm: bool = True) -> list[nn.Module]:
    # Without BN the conv needs its own bias; with BN the bias is redundant (BN's beta does the job).
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


def _plain_blocks(cin: int, channels: Sequence[int], convs_per_block: int, batch_norm: bool) -> tuple[list[nn.Module], int]:
    """Paper 2's CNN blocks: [conv3x3-(BN)-ReLU] x convs_per_block then maxpool2, per width; returns (layers, out channels)."""
    layers: list[nn.Module] = []
    for c in channels:
        for _ in range(convs_per_block):
            layers += _conv_bn_relu(cin, c, batch_norm)
            cin = c
        layers.append(nn.MaxPool2d(2, 2))
    return layers, cin


def _pooled_size(image_size: int, n_pools: int) -> int:
    for _ in range(n_pools):
        image_size //= 2  # MaxPool2d(2, 2) floors
    return image_size


class ZhaoCNN(nn.Module):
    """Paper 3 (Zhao), §III.B "CNN": three conv blocks and a four-layer FC classifier (Fig. 2 shows its training).

    conv3x3(64)-BN-ReLU-maxpool2 -> conv3x3(128)-BN-ReLU-maxpool2 -> conv3x3(256)-BN-ReLU-maxpool2 ->
    flatten (256*6*6 = 9216 at 48x48) -> dropout 0.2 -> FC 4096-ReLU -> dropout 0.5 -> FC 1024-ReLU -> FC 256-ReLU
    -> FC num_classes.

    Readings where the paper is vague:
    - "Dropout of 0.5 is applied before subsequent linear transformations": one dropout(0.5) after the 4096 layer
      (before the 4096->1024 FC), not one before every later FC. This matches the widely circulated FER2013
      "FaceCNN" code the description (and `gaussian_weights_init`) appears to come from.
    - ReLU after every hidden FC layer (the paper names ReLU only for the 4096 layer); that code uses RReLU, the
      paper says ReLU, we use ReLU.
    - Weight init: conv weights N(0, 0.04) (§III.B item 2 and §IV.B), applied at construction when `init_std` is
      not None; BN and FC layers keep PyTorch defaults (see `gaussian_weights_init`).
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        image_size: int = 48,
        channels: Sequence[int] = (64, 128, 256),
        fc_dims: Sequence[int] = (4096, 1024, 256),
        input_dropout: float = 0.2,
        hidden_dropout: float = 0.5,
        init_std: float | None = 0.04,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for c in channels:
            layers += _conv_bn_relu(cin, c) + [nn.MaxPool2d(2, 2)]
            cin = c
        self.features = nn.Sequential(*layers)
        flat = cin * _pooled_size(image_size, len(channels)) ** 2
        fc: list[nn.Module] = [nn.Flatten(), nn.Dropout(input_dropout)]
        for i, d in enumerate(fc_dims):
            fc += [nn.Linear(flat, d), nn.ReLU(inplace=True)]
            if i == 0:
                fc.append(nn.Dropout(hidden_dropout))
            flat = d
        fc.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*fc)
        if init_std is not None:
            gaussian_weights_init(self, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ZhaoVGG(nn.Module):
    """Paper 3 (Zhao), §III.B "VGG-Inspired CNN Architecture" (Fig. 3 shows its training).

    Block 1: 2 x [conv3x3(32)-BN-ReLU], maxpool2; block 2: 3 x [conv3x3(64)-BN-ReLU], maxpool2; block 3:
    3 x [conv3x3(128)-BN-ReLU], maxpool2 -> flatten (128*6*6 = 4608 at 48x48) -> dropout 0.5 -> FC 4096-ReLU ->
    FC 4096-ReLU -> FC 1024-ReLU -> FC 256-ReLU -> FC num_classes.

    Readings where the paper is vague:
    - "Block 2 and Block 3 ... increasing output channels from 32 to 64, and then to 128": block 2 has 64 channels,
      block 3 has 128 (the input of block 2 is block 1's 32 channels).
    - A single dropout(0.5) right before the first FC layer (the order in which the paper lists it); none between the
      FC layers. ReLU after every hidden FC layer (the paper names ReLU for the two 4096 layers only).
    - Weight init: the paper describes `gaussian_weights_init` (conv N(0, 0.04)) in §IV.B as the study's init, not
      only for the CNN, so we apply it here too by default; `init_std=None` keeps PyTorch defaults.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        image_size: int = 48,
        blocks: Sequence[tuple[int, int]] = ((2, 32), (3, 64), (3, 128)),  # (convs, channels) per block
        fc_dims: Sequence[int] = (4096, 4096, 1024, 256),
        dropout: float = 0.5,
        init_std: float | None = 0.04,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_chans
        for n_convs, c in blocks:
            for _ in range(n_convs):
                layers += _conv_bn_relu(cin, c)
                cin = c
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        flat = cin * _pooled_size(image_size, len(blocks)) ** 2
        fc: list[nn.Module] = [nn.Flatten(), nn.Dropout(dropout)]
        for d in fc_dims:
            fc += [nn.Linear(flat, d), nn.ReLU(inplace=True)]
            flat = d
        fc.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*fc)
        if init_std is not None:
            gaussian_weights_init(self, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class VanillaCNN(nn.Module):
    """Paper 2 (ResNet50 transfer), §3: the "Vanilla CNN" baseline. The paper gives no layers; all of this is ours.

    The paper only says the network "mainly consists [of] convolution layers, normalization layers, and max pooling
    layers". Our reading: four blocks of [conv3x3-BN-ReLU] x 2 + maxpool2 with 32, 64, 128, 256 channels
    (48 -> 24 -> 12 -> 6 -> 3), then flatten (256*3*3 = 2304) -> FC 256-ReLU -> dropout 0.5 -> FC num_classes.
    A standard small VGG-style FER2013 baseline; the FC head and its dropout are our choice (the paper's transfer
    model uses dropout in its head, so we keep one here too).

    `batch_norm=False` removes every BatchNorm (convs then get a bias), for the paper's claim that BN speeds
    convergence by 31 %.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        image_size: int = 48,
        channels: Sequence[int] = (32, 64, 128, 256),
        convs_per_block: int = 2,
        fc_hidden: int = 256,
        dropout: float = 0.5,
        batch_norm: bool = True,
    ):
        super().__init__()
        layers, cin = _plain_blocks(in_chans, channels, convs_per_block, batch_norm)
        self.features = nn.Sequential(*layers)
        flat = cin * _pooled_size(image_size, len(channels)) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, fc_hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class _ResidualBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv[-BN] projection when the width changes), then ReLU.

    torchvision's BasicBlock would do, except that its convs have no bias, which matters once BN is switched off.
    """

    def __init__(self, cin: int, cout: int, batch_norm: bool = True):
        super().__init__()
        norm = nn.BatchNorm2d if batch_norm else nn.Identity
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm)
        self.bn1 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=not batch_norm)
        self.bn2 = norm(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=not batch_norm), norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResidualCNN(nn.Module):
    """Paper 2 (ResNet50 transfer), §3: the "Residual block + CNN" baseline. The paper gives no layers; ours.

    The paper: built "on the base of Vanilla CNN ... by remov[ing] some convolution blocks to simplify the network
    and add[ing] some residual blocks to skip some blocks". Our reading: keep `VanillaCNN`'s first two plain blocks
    ([conv3x3-BN-ReLU] x 2 + maxpool2; 32, 64 channels), remove its blocks 3-4, and add two residual blocks
    (128, 128 channels; 1x1 projection shortcut on the first), each followed by maxpool2, so the map is 3x3 at 48x48
    as in `VanillaCNN`; same head (flatten 128*3*3 = 1152 -> FC 256-ReLU -> dropout 0.5 -> FC num_classes).
    It has about half of VanillaCNN's parameters ("simplify").

    `batch_norm=False` removes every BatchNorm (also inside the residual blocks).
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        image_size: int = 48,
        plain_channels: Sequence[int] = (32, 64),
        res_channels: Sequence[int] = (128, 128),
        convs_per_block: int = 2,
        fc_hidden: int = 256,
        dropout: float = 0.5,
        batch_norm: bool = True,
    ):
        super().__init__()
        layers, cin = _plain_blocks(in_chans, plain_channels, convs_per_block, batch_norm)
        for c in res_channels:
            layers += [_ResidualBlock(cin, c, batch_norm), nn.MaxPool2d(2, 2)]
            cin = c
        self.features = nn.Sequential(*layers)
        flat = cin * _pooled_size(image_size, len(plain_channels) + len(res_channels)) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, fc_hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
