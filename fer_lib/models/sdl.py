"""Paper 4 (Khan et al.): spatial deep learning model, a CNN baseline branch plus two STN-based SDL modules."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .stn import STN

__all__ = ["SpatialDeepLearning", "SDLModule", "sdl_weights_init"]

# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
VERSIONS = {"SpatialDeepLearning": 1}


def sdl_weights_init(module: nn.Module, std: float = 0.05) -> nn.Module:
    """Paper 4 §5: starting weights N(0, std), std = 0.05, for every Conv2d and Linear weight; biases set to 0.

    The spatial transformers' theta regressors are then reset to the identity transform (zero weight, identity bias):
    the paper's eq. (1) starts the SDL transform at the identity, and a random theta would scramble the input.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    for m in module.modules():
        if isinstance(m, STN):
            m.init_identity()
    return module


class SDLModule(nn.Module):
    """One spatial-deep-learning module (paper 4 §3.1, Figs 5-7): spatial transformer, then conv -> avgpool2 -> ReLU.

    Localisation net: three conv parts (conv3x3 pad 1 -> maxpool2 -> ReLU; 8, 10, 10 channels) and two FC layers
    (-> 32 -> 6), identity-initialised (eq. 1); affine grid + bilinear sampler (eqs. 2-3), from `stn.STN`.
    The transformed input of the last forward is kept (detached) on `last_transformed`.
    """

    def __init__(
        self,
        in_chans: int,
        image_size: int | Sequence[int],
        out_chans: int,
        loc_channels: Sequence[int] = (8, 10, 10),
        loc_hidden: int = 32,
        kernel_size: int = 3,
    ):
        super().__init__()
        self.stn = STN(in_chans, image_size, loc_channels=loc_channels, loc_kernels=3, loc_padding=1,
                       loc_hidden=loc_hidden)
        self.features = nn.Sequential(nn.Conv2d(in_chans, out_chans, kernel_size, padding=kernel_size // 2),
                                      nn.AvgPool2d(2, 2), nn.ReLU(inplace=True))
        self.last_transformed: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.stn(x)
        self.last_transformed = t.detach()
        return self.features(t)


class SpatialDeepLearning(nn.Module):
    """Paper 4 (Khan, Singh, Agrawal 2023), §3-3.1 and Figs 4-7: the spatial deep learning (SDL) model.

    Two parallel branches on the input image:
    - baseline: four conv layers, each conv3x3 (pad 1) -> maxpool2 -> ReLU; 32, 64, 128, 128 channels
      (48 -> 24 -> 12 -> 6 -> 3; 128*3*3 = 1152 features at 48x48);
    - SDL-1 -> SDL-2 in sequence (`SDLModule`): SDL-1 transforms the image and extracts 16 maps at 24x24; SDL-2
      transforms SDL-1's feature map ("takes input from the first SDL-1 module ... from the input feature map") and
      extracts 32 maps at 12x12 (4608 features);
    then the two flattened feature vectors are concatenated -> `fc1` (128) -> ReLU -> `fc2` (num_classes).
    `fc1` and `fc2` are the "final two completely linked layers" that carry the L2 penalty
    0.5 * (lambda1 * sum W1^2 + lambda2 * sum W2^2), lambda1 = 0.001, lambda2 = 0.01 (eqs. 4-6): the engine adds it
    from `model.fc1.weight` and `model.fc2.weight`.

    `sdl_modules` (0, 1 or 2) sets how many SDL modules run in sequence, for the ablation "baseline branch alone,
    + SDL-1, + SDL-1 + SDL-2": 0 is the "light CNN" (baseline branch + fc1 + fc2), 1 joins SDL-1's maps directly
    (16*24*24 = 9216 features at 48x48, so fc1 is wider than with both modules), 2 is the paper's model.
    `baseline_branch_only=True` is the older spelling of `sdl_modules=0`.
    After a forward, `last_stn_images` holds SDL-1's transformed input images and `last_stn_features` SDL-2's
    transformed feature maps (both detached), for saliency/attention plots.

    Readings where the paper is vague (it gives no channel counts, kernel sizes or FC widths):
    - Baseline "four convolutional layers (max-pooling and ReLU)": a max-pool and ReLU after each of the four convs,
      as the paper states for the localisation conv parts; widths 32/64/128/128 are ours.
    - SDL module = STN + one conv + average pooling + ReLU ("a convolutional layer and an average pooling layer");
      16 and 32 channels, 3x3 kernels are ours. Localisation net widths 8/10/10 and FC 32 follow the STN tutorial.
    - Branch join: concatenation of the flattened features ("linked and joined in parallel"); fc1 width 128 is ours.
    - No dropout (the paper names only the L2 penalty as regulariser); `dropout` > 0 puts one before fc1.
    - Init: N(0, 0.05) on all conv/linear weights, zero biases, identity theta (`sdl_weights_init`), applied at
      construction when `init_std` is not None.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        image_size: int = 48,
        baseline_channels: Sequence[int] = (32, 64, 128, 128),
        sdl_channels: Sequence[int] = (16, 32),
        loc_channels: Sequence[int] = (8, 10, 10),
        loc_hidden: int = 32,
        fc_hidden: int = 128,
        dropout: float = 0.0,
        baseline_branch_only: bool = False,
        init_std: float | None = 0.05,
        sdl_modules: int = 2,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        cin, size = in_chans, image_size
        for c in baseline_channels:
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.MaxPool2d(2, 2), nn.ReLU(inplace=True)]
            cin, size = c, size // 2
        self.baseline = nn.Sequential(*layers, nn.Flatten())
        n_feat = cin * size * size

        # bool is an int subclass: True would silently mean one module.
        if isinstance(sdl_modules, bool) or sdl_modules not in (0, 1, 2):
            raise ValueError(f"sdl_modules={sdl_modules!r}: choose 0, 1 or 2 (SDL modules in the spatial branch)")
        if baseline_branch_only:  # the old switch; only the default 2 is overridden, a contradiction raises
            if sdl_modules == 1:
                raise ValueError("sdl_modules=1 contradicts baseline_branch_only=True (which means sdl_modules=0)")
            sdl_modules = 0
        self.sdl_modules = sdl_modules
        self.baseline_branch_only = sdl_modules == 0
        self.sdl1: SDLModule | None = None
        self.sdl2: SDLModule | None = None
        c1, c2 = sdl_channels
        # sdl1 before sdl2, both before fc1: the registration order fixes the state_dict keys of saved checkpoints.
        if sdl_modules >= 1:
            self.sdl1 = SDLModule(in_chans, image_size, c1, loc_channels, loc_hidden)
        if sdl_modules == 2:
            self.sdl2 = SDLModule(c1, image_size // 2, c2, loc_channels, loc_hidden)
        # The last present module's maps join the baseline features: SDL-1 leaves 24x24, SDL-2 12x12 (at 48x48).
        n_feat += {0: 0, 1: c1 * (image_size // 2) ** 2, 2: c2 * (image_size // 4) ** 2}[sdl_modules]

        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc1 = nn.Linear(n_feat, fc_hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(fc_hidden, num_classes)
        if init_std is not None:
            sdl_weights_init(self, init_std)

    @property
    def last_stn_images(self) -> torch.Tensor | None:
        return None if self.sdl1 is None else self.sdl1.last_transformed

    @property
    def last_stn_features(self) -> torch.Tensor | None:
        return None if self.sdl2 is None else self.sdl2.last_transformed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.baseline(x)
        if self.sdl1 is not None:
            s = self.sdl1(x)
            if self.sdl2 is not None:
                s = self.sdl2(s)
            feats = torch.cat([feats, s.flatten(1)], dim=1)
        return self.fc2(self.relu(self.fc1(self.dropout(feats))))
