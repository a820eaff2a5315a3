"""ResNet18 for papers 3 (Zhao, §III.B "ResNet Architecture") and 5 (Wang et al., §4.1 Fig 3-4: RRN and FER blocks)."""
from __future__ import annotations

from typing import Any

import torch.nn as nn
import torchvision
from torchvision.models.resnet import ResNet

__all__ = ["resnet18", "adapt_stem"]

# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
VERSIONS = {"resnet18": 1}


def adapt_stem(model: ResNet, in_chans: int = 1, small_input: bool = False) -> ResNet:
    """Replace the stem conv of a torchvision ResNet for `in_chans` channels (fresh init), optionally 3x3/s1 without maxpool."""
    out_ch = model.conv1.out_channels
    if small_input:
        model.conv1 = nn.Conv2d(in_chans, out_ch, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_chans != model.conv1.in_channels:
        model.conv1 = nn.Conv2d(in_chans, out_ch, kernel_size=7, stride=2, padding=3, bias=False)
    # Same init torchvision gives every conv (the replaced one would otherwise get PyTorch's default uniform init).
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def resnet18(num_classes: int = 7, in_chans: int = 1, small_input: bool = False, **kwargs: Any) -> ResNet:
    """torchvision ResNet18, randomly initialised, adapted to `in_chans` input channels.

    Follows paper 3 (Zhao, §III.B "ResNet Architecture"): 7x7/s2 conv stem + BN + ReLU + 3x3/s2 max-pool, four
    stages of two BasicBlocks (64, 128, 256, 512 channels; stride 2 at the start of stages 3-5), global average
    pooling, one FC layer to `num_classes`. Paper 5 (Wang et al., §4.1, Figs 3-4) uses the same network for both the
    Resolution Recognition Network (RRN, `num_classes` = number of resolution factors) and every FER block.

    Readings where the papers are vague:
    - Neither paper uses ImageNet weights explicitly; we start from random init (torchvision's: Kaiming-normal convs,
      BN weight 1 / bias 0).
    - Paper 3 says the residual units "maintain the output size while progressively increasing the channel count";
      taken as torchvision's standard stride-2 downsampling in stages 3-5 (otherwise it would not be ResNet18).
    - `small_input=False` (default) keeps the paper's standard stem. At 48x48 this leaves a 2x2 map before GAP.
      `small_input=True` swaps the stem for a 3x3/s1 conv without max-pool (a common CIFAR/FER2013 variant; not in
      either paper) and leaves a 6x6 map at 48x48.
    - A grey input (`in_chans=1`) gets a freshly initialised single-channel stem conv (no pretrained weights to adapt).

    Extra keyword arguments go to `torchvision.models.ResNet` (e.g. `norm_layer`, used by `drg.RABN`).
    """
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes, **kwargs)
    return adapt_stem(model, in_chans=in_chans, small_input=small_input)
