"""EDSR super-resolution network (Lim et al. 2017), the SR stage of paper 1 (§3.2, Figs 1-2)."""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["EDSR", "ResBlock", "Upsampler", "load_from_lower_scale"]

# Bump a model's number whenever its parameters or its forward change: run keys (fer_lib.runs) include it,
# so stored runs and checkpoints of the old code are never reused. tests/test_models.py checks the shapes.
VERSIONS = {"EDSR": 1}


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=True)


class ResBlock(nn.Module):
    """EDSR residual block: conv-ReLU-conv, no BatchNorm, output = x + res_scale * body(x)."""

    def __init__(self, n_feats: int, kernel_size: int = 3, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(_conv(n_feats, n_feats, kernel_size), nn.ReLU(inplace=True),
                                  _conv(n_feats, n_feats, kernel_size))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class Upsampler(nn.Sequential):
    """Sub-pixel upsampler: x2 = conv(F->4F) + PixelShuffle(2); x4 = two x2 stages; x3 = conv(F->9F) + PixelShuffle(3).

    Stage i's conv is at index 2*i, so a x4 upsampler's first stage has the same key ("0") as a x2 upsampler's.
    """

    def __init__(self, scale: int, n_feats: int):
        if scale in (2, 4, 8):
            layers: list[nn.Module] = []
            for _ in range({2: 1, 4: 2, 8: 3}[scale]):
                layers += [_conv(n_feats, 4 * n_feats), nn.PixelShuffle(2)]
        elif scale == 3:
            layers = [_conv(n_feats, 9 * n_feats), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"EDSR scale must be 2, 3, 4 or 8, got {scale}")
        super().__init__(*layers)


class EDSR(nn.Module):
    """EDSR (Lim et al. 2017, "Enhanced Deep Residual Networks for Single Image Super-Resolution"), paper 1 §3.2.

    head conv(in_chans->F) -> body [B x ResBlock(conv-ReLU-conv, no BN, x res_scale), conv(F->F)] + global skip from
    the head output -> tail [pixel-shuffle upsampler (x2: one shuffle; x3: one x3 shuffle; x4: two x2 shuffles),
    conv(F->in_chans)]. Output is (B, in_chans, scale*H, scale*W). Paper 1's settings: B = 16, F = 128, L1 loss,
    and the x4 model initialised from the trained x2 one (`load_from_lower_scale`).

    Paper 1 calls EDSR a "Generative Adversarial Network": it is not. EDSR is a plain feed-forward residual CNN
    trained with a pixel-wise L1 loss; there is no discriminator or adversarial loss (paper 1's own §3.2 then says
    the L1 loss is used). We implement EDSR as published.

    Readings where paper 1 is vague:
    - res_scale: EDSR uses 0.1 for its wide model (F = 256, B = 32) and none (1.0) for its baseline (F = 64, B = 16).
      Paper 1 uses F = 128 and does not say; we keep 0.1. Lim et al. introduced the scaling because training becomes
      unstable as the width grows; F = 128 is twice the width that trains without it, and 0.1 costs nothing at
      initialisation (it only damps each residual branch), so we take the safe side. Switchable.
    - Normalisation: EDSR subtracts the DIV2K RGB mean (MeanShift) on [0, 255] data and adds it back. Our inputs are
      already normalised by the training engine, so there is no MeanShift: input and output live in the same
      normalised space, and the SR target (the HR image) must be normalised the same way.
    - Channels: paper 1 trains on 48x48 "RGB" images although FER2013 is grey; `in_chans` follows the data (1 by
      default), the SR stage reconstructs the same channels it receives.
    - Scale: paper 1 never states which scale feeds the classifier; x2 (48 -> 96) is our default in `pipeline.py`.
    """

    def __init__(
        self,
        scale: int = 2,
        n_resblocks: int = 16,
        n_feats: int = 128,
        res_scale: float = 0.1,
        in_chans: int = 1,
        kernel_size: int = 3,
    ):
        super().__init__()
        self.scale = scale
        self.head = nn.Sequential(_conv(in_chans, n_feats, kernel_size))
        self.body = nn.Sequential(*[ResBlock(n_feats, kernel_size, res_scale) for _ in range(n_resblocks)],
                                  _conv(n_feats, n_feats, kernel_size))
        self.tail = nn.Sequential(Upsampler(scale, n_feats), _conv(n_feats, in_chans, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        x = x + self.body(x)  # global residual connection
        return self.tail(x)


@torch.no_grad()
def load_from_lower_scale(model_high: EDSR, model_low: EDSR) -> list[str]:
    """Initialise a higher-scale EDSR (e.g. x4) from a trained lower-scale one (e.g. x2), in place.

    Copies every parameter/buffer whose name and shape match: head, body, the first upsampler stage
    (`tail.0.0`, conv F->4F in both x2 and x4) and the final conv (`tail.1`). The x4 model's second upsampler stage
    keeps its fresh init. This is paper 1's (and EDSR's) "train the low-multiple model first, then use its parameters
    to initialise the high-multiple model". Returns the copied names.
    """
    src = model_low.state_dict()
    copied = []
    for name, t in model_high.state_dict().items():
        if name in src and src[name].shape == t.shape:
            t.copy_(src[name])
            copied.append(name)
    return copied
