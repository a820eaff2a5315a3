"""Paper 1's SR helpers: (LR, HR) pairs, pixel losses, the x2 -> x4 flow, PSNR/SSIM beside bicubic."""
import numpy as np
import pytest
import torch

from fer_lib.data.synthetic import make_synthetic
from fer_lib.models.edsr import EDSR
from fer_lib.superres import fit_sr, fit_sr_ladder, lr_hr_batch, psnr_ssim, sr_loss, super_resolve
from fer_lib.train import TrainConfig

CFG = TrainConfig(epochs=2, batch_size=16, lr=1e-3, augment="none", progress=False, device="cpu")


def tiny(scale):
    return EDSR(scale=scale, n_resblocks=1, n_feats=8)


def test_pairs_and_losses():
    x = torch.rand(3, 1, 48, 48)
    lr, hr = lr_hr_batch(4)(x, torch.zeros(3, dtype=torch.long))
    assert lr.shape == (3, 1, 12, 12) and hr is x
    model = tiny(4)
    l1, logits = sr_loss("l1")(model, lr, hr)
    l2, _ = sr_loss("l2")(model, lr, hr)
    out = model(lr)
    assert logits is None
    assert torch.isclose(l1, (out - hr).abs().mean()) and torch.isclose(l2, ((out - hr) ** 2).mean())
    with pytest.raises(ValueError, match="kind"):
        sr_loss("l3")


def test_fit_lowers_loss_and_ladder_initialises_x4_from_x2():
    ds = make_synthetic({"train": 64, "val": 32}, seed=0)
    r = fit_sr(tiny(2), ds.take("train"), ds.take("val"), CFG, loss="l1")
    assert r.config.select == "val_loss" and r.copied == []
    assert r.history.val_loss.iloc[-1] < r.history.val_loss.iloc[0]
    ladder = fit_sr_ladder(tiny, ds.take("train"), None, CFG.replace(epochs=1), loss="l2")
    assert set(ladder) == {2, 4} and ladder[4].config.select == "last"
    # The x4 model started from the x2 weights: head and body were copied, the second upsampler stage was not.
    assert "head.0.weight" in ladder[4].copied and "tail.0.0.weight" in ladder[4].copied
    assert not any(n.startswith("tail.0.2") for n in ladder[4].copied)


def test_super_resolve_and_metrics():
    faces = make_synthetic({"t": 6}, seed=1).images
    out = super_resolve(tiny(2), faces, 2)
    assert out["lr"].shape == (6, 24, 24) and out["sr"].shape == out["bicubic"].shape == (6, 48, 48)
    assert all(v.dtype == np.uint8 for v in out.values())
    assert "sr" not in super_resolve(None, faces, 2)
    psnr, ssim = psnr_ssim(out["bicubic"], faces, shave=2)
    assert psnr.shape == ssim.shape == (6,) and (psnr > 15).all() and (ssim <= 1).all()
    # Bicubic loses more at x4 than at x2.
    p4, _ = psnr_ssim(super_resolve(None, faces, 4)["bicubic"], faces)
    p2, _ = psnr_ssim(out["bicubic"], faces)
    assert p4.mean() < p2.mean()
    with pytest.raises(ValueError, match="shape"):
        psnr_ssim(out["lr"], faces)
