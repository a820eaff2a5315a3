"""Spatial transformer (Jaderberg et al. 2015) for paper 1 (§3.1, §4.2 MNIST check) and paper 4 (SDL modules)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["STN", "STNClassifier"]

# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
VERSIONS = {"STN": 1, "STNClassifier": 1}


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


class STN(nn.Module):
    """Spatial transformer network (Jaderberg et al. 2015): localisation net -> affine theta -> grid -> sampler.

    Follows the PyTorch STN tutorial (the version paper 1 §4.2 reproduces on MNIST): localisation =
    [conv(k) -> maxpool2 -> ReLU] per entry of `loc_channels` (tutorial: 8 ch k7, 10 ch k5), flatten,
    FC `loc_hidden` (32) -> ReLU -> FC 6 = theta (2x3). The last FC is initialised to the identity transform
    (zero weight, bias [1, 0, 0, 0, 1, 0]) so the module starts as a no-op. `F.affine_grid` + bilinear
    `F.grid_sample` (zeros padding, `align_corners=False`, so identity theta reproduces the input exactly) give an
    output of the input's size. Works on images or feature maps of any channel count.

    `forward(x)` returns the transformed input; the last theta (detached) is kept on `self.last_theta`, shape (B, 2, 3),
    for plotting.

    Readings: paper 1 §3.1 gives no localisation-net layers (its only equation is a 3x3 convolution), so the
    tutorial's net is used; for 48x48 input it flattens 10*8*8 = 640 features. Paper 4 asks for three conv parts:
    pass three entries in `loc_channels` (see `sdl.py`).
    """

    def __init__(
        self,
        in_chans: int = 1,
        image_size: int | Sequence[int] = 48,
        loc_channels: Sequence[int] = (8, 10),
        loc_kernels: int | Sequence[int] = (7, 5),
        loc_padding: int = 0,
        loc_hidden: int = 32,
        align_corners: bool = False,
        padding_mode: str = "zeros",
    ):
        super().__init__()
        kernels = [loc_kernels] * len(loc_channels) if isinstance(loc_kernels, int) else list(loc_kernels)
        if len(kernels) != len(loc_channels):
            raise ValueError(f"loc_kernels {kernels} must match loc_channels {tuple(loc_channels)}")
        layers: list[nn.Module] = []
        cin = in_chans
        for c, k in zip(loc_channels, kernels):
            layers += [nn.Conv2d(cin, c, k, padding=loc_padding), nn.MaxPool2d(2, 2), nn.ReLU(inplace=True)]
            cin = c
        self.localization = nn.Sequential(*layers, nn.Flatten())
        h, w = _pair(image_size)
        with torch.no_grad():  # flatten size of the localisation features for this input size
            n_flat = self.localization(torch.zeros(1, in_chans, h, w)).shape[1]
        self.fc_loc = nn.Sequential(nn.Linear(n_flat, loc_hidden), nn.ReLU(inplace=True), nn.Linear(loc_hidden, 6))
        self.align_corners = align_corners
        self.padding_mode = padding_mode
        self.last_theta: torch.Tensor | None = None
        self.init_identity()

    @property
    def fc_theta(self) -> nn.Linear:
        """The regression layer that outputs theta."""
        return self.fc_loc[-1]

    def init_identity(self) -> None:
        """Zero weight, identity bias: theta = [[1, 0, 0], [0, 1, 0]] for every input."""
        nn.init.zeros_(self.fc_theta.weight)
        with torch.no_grad():
            self.fc_theta.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def theta(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_loc(self.localization(x)).view(-1, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.theta(x)
        self.last_theta = theta.detach()
        grid = F.affine_grid(theta, list(x.shape), align_corners=self.align_corners)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=self.padding_mode, align_corners=self.align_corners)


class STNClassifier(nn.Module):
    """The PyTorch STN tutorial's MNIST network, used by paper 1 §4.2 (Figs 5-6: "STN on MNIST", 99 %).

    [STN] -> conv5x5(10) -> maxpool2 -> ReLU -> conv5x5(20) -> dropout2d -> maxpool2 -> ReLU -> flatten (320 at
    28x28) -> FC 50 -> ReLU -> dropout -> FC num_classes. The STN is the tutorial's (`STN` defaults).

    Differences from the tutorial: returns logits (the tutorial returns log_softmax; the engine applies
    cross-entropy), and `use_stn=False` gives the same network without the transformer for the comparison.
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        image_size: int = 28,
        use_stn: bool = True,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.stn = STN(in_chans, image_size) if use_stn else None
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 10, 5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(10, 20, 5), nn.Dropout2d(dropout), nn.MaxPool2d(2), nn.ReLU(inplace=True), nn.Flatten(),
        )
        h, w = _pair(image_size)
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, in_chans, h, w)).shape[1]
        self.classifier = nn.Sequential(
            nn.Linear(n_flat, 50), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(50, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stn is not None:
            x = self.stn(x)
        return self.classifier(self.features(x))
