"""Paper 1's SR helpers: (LR, HR) pairs, pixel losses, the x2 -> x4 flow, PSNR/SSIM beside bicubic."""
import numpy as np
import pytest
import torch

from fer_lib.data.synthetic import make_synthetic
from fer_lib.models.edsr import EDSR
from fer_lib.papers.p1_superres import fit_sr, fit_sr_ladder, lr_hr_batch, psnr_ssim, sr_loss, super_resolve
from fer_lib.core.train import TrainConfig

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


# ---------------------------------------------------------------- the frozen stage, cached once per image and flip
class _Recorder(torch.nn.Module):
    """A classifier that keeps every input it is given (to compare the live and the cached path)."""

    def __init__(self, n_classes=4):
        super().__init__()
        self.head = torch.nn.Linear(1, n_classes)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.head(x.float().mean((1, 2, 3)).unsqueeze(1))


@pytest.mark.parametrize("stage_name", ["edsr", "bicubic"])
def test_cached_stage_gives_the_live_classifier_input(stage_name):
    from fer_lib.models.pipeline import Bicubic, STNSRClassifier
    from fer_lib.papers.p1_superres import CachedStage, stage_outputs
    from fer_lib.core.train import evaluate, fit

    ds = make_synthetic({"train": 40, "val": 12}, seed=4)
    tr, va = ds.take("train"), ds.take("val")
    torch.manual_seed(0)
    stage = tiny(2) if stage_name == "edsr" else Bicubic(2)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, augment="flip", progress=False, device="cpu", seed=3)
    runs = {}
    for path in ("live", "cached"):
        torch.manual_seed(1)
        clf = _Recorder(len(ds.classes))
        sr = stage if path == "live" else CachedStage(stage, np.concatenate([tr.images, va.images]), flips=True,
                                                      mean=cfg.mean, std=cfg.std, augment=cfg.augment, amp=cfg.amp)
        model = STNSRClassifier(clf, sr=sr, sr_frozen=True)
        fit(model, tr, None, cfg)
        seen = list(clf.seen)
        runs[path] = seen, evaluate(model, va, batch_size=8)
    (live_in, live_val), (cached_in, cached_val) = runs["live"], runs["cached"]
    assert len(live_in) == len(cached_in) == 2 * 5
    for a, b in zip(live_in, cached_in):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(cached_val.y_true, live_val.y_true)
    np.testing.assert_allclose(cached_val.probs, live_val.probs, atol=1e-5)
    out = stage_outputs(stage, tr.images, flips=True)
    assert out.shape == (40, 2, 1, 96, 96)
    if stage_name == "edsr":   # EDSR is not flip-equivariant: the reason both flips are cached
        assert not torch.allclose(out[:, 1], out[:, 0].flip(-1), atol=1e-4)


def test_cached_stage_refuses_unknown_inputs_and_warping_augmentation():
    from fer_lib.models.pipeline import Bicubic
    from fer_lib.papers.p1_superres import CachedStage
    faces = make_synthetic({"t": 5}, seed=2).images
    cache = CachedStage(Bicubic(2), np.concatenate([faces, faces[:2]]), flips=False)
    assert len(cache) == 5                      # identical images share one entry
    x = (torch.as_tensor(faces[:3]).unsqueeze(1).float() / 255 - 0.5) / 0.5
    assert cache(x).shape == (3, 1, 96, 96)
    with pytest.raises(ValueError, match="not in the cache"):
        cache(x.flip(-1))                       # flips=False: mirrored faces were not cached
    with pytest.raises(ValueError, match="warps more than a flip"):
        CachedStage(Bicubic(2), faces, augment="standard")
    assert "table" not in cache.state_dict()


def test_weights_round_trip_bf16_and_key(tmp_path):
    from fer_lib.papers.p1_superres import load_weights, save_weights
    src = tiny(2)
    path = save_weights(src, tmp_path / "edsr.pt", key="abc", meta={"scale": 2})
    dst = load_weights(tiny(2), path, key="abc")
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert b.dtype == torch.float32
        torch.testing.assert_close(a.to(torch.bfloat16).float(), b)
    with pytest.raises(ValueError, match="expected 'other'"):
        load_weights(tiny(2), path, key="other")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="bad.pt"):
        load_weights(tiny(2), bad)
