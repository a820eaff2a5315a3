"""Paper 5: factor batch_fns (core/degrade.py), RA-BN / DA losses, evaluation at every factor (papers/p5_resolution)."""
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from fer_lib.core.degrade import CyclicFactor, FixedFactor, RandomFactor, degrade
from fer_lib.core.train import TrainConfig, evaluate, fit
from fer_lib.models.drg import DRGFER, MRAFER, RABN, Ensemble, make_dann
from fer_lib.papers.p5_resolution import (
    DA_PAPER_FACTORS, AtIndex, ClassHead, DALoss, Oracle, Routed, accuracy_table, best_by_val, crossing_factor,
    factor_name, feature_distances, fuse, predict_grid, rabn_loss, resize_dataset, rrn_predictions,
    steps_per_epoch, train_hooks,
)


class Tiny(nn.Module):
    """A small conv net with an `avgpool` like torchvision's ResNet (feature hook target)."""

    def __init__(self, n_out=3, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, n_out)

    def forward(self, x):
        return self.fc(self.avgpool(torch.relu(self.conv(x))).flatten(1))


def _data(n=24, size=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), rng.integers(0, classes, n)


def test_factor_names():
    assert factor_name(4) == "x4" and factor_name((1, 2, 4)) == "x1&x2&x4" and factor_name(1.5) == "x1.5"


def test_random_factor_balanced_deterministic_and_targets():
    x, y = torch.rand(20, 1, 16, 16), torch.arange(20)
    fn = RandomFactor((1, 2, 4, 6, 8), target="both")
    out1, t1 = fn(x, y, torch.Generator().manual_seed(3))
    out2, t2 = fn(x, y, torch.Generator().manual_seed(3))
    assert torch.equal(out1, out2) and torch.equal(t1, t2)            # same generator, same batch
    assert t1.shape == (20, 2) and torch.equal(t1[:, 0], y)
    assert torch.bincount(t1[:, 1], minlength=5).tolist() == [4] * 5   # balanced: 4 images per factor
    for i in range(20):                                               # each image degraded by its own factor
        k = (1, 2, 4, 6, 8)[int(t1[i, 1])]
        torch.testing.assert_close(out1[i], degrade(x[i:i + 1], k)[0])
    _, ids = RandomFactor((1, 2), target="factor")(x, y, torch.Generator().manual_seed(0))
    assert set(ids.tolist()) == {0, 1}
    _, lab = RandomFactor((1, 2))(x, y, torch.Generator().manual_seed(0))
    assert torch.equal(lab, y)
    # weights: half of every batch at the first factor (the DA source)
    _, t = RandomFactor((1, 2, 4), "both", weights=[2, 1, 1])(x, y, torch.Generator().manual_seed(1))
    assert int((t[:, 1] == 0).sum()) == 10
    with pytest.raises(ValueError, match="weights"):
        RandomFactor((1, 2), weights=[1, 2, 3])


def test_fixed_and_cyclic_factor():
    x, y = torch.rand(7, 1, 16, 16), torch.arange(7)
    out, t = FixedFactor(4)(x, y)
    assert torch.equal(t, y) and torch.allclose(out, degrade(x, 4))
    _, t = FixedFactor(4, target_index=2)(x, y)
    assert torch.equal(t, torch.full((7,), 2))
    out, t = CyclicFactor((1, 8))(x, y)
    assert torch.equal(out[0], x[0]) and torch.allclose(out[1], degrade(x[1:2], 8)[0]) and torch.equal(t, y)
    _, t = CyclicFactor((1, 2, 4), target="factor")(x, y)
    assert t.tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_rabn_loss_uses_each_images_bn():
    torch.manual_seed(0)
    m = RABN(num_classes=3, num_resolutions=2).eval()
    x, labels = torch.randn(6, 1, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2])
    idx = torch.tensor([0, 1, 1, 0, 0, 1])
    loss, logits = rabn_loss(m, x, torch.stack([labels, idx], 1))
    torch.testing.assert_close(logits, m(x, idx))
    torch.testing.assert_close(loss, nn.functional.cross_entropy(logits, labels))
    _, val_logits = rabn_loss(m, x, labels)                            # validation: CyclicFactor's indices
    torch.testing.assert_close(val_logits, m(x, torch.tensor([0, 1, 0, 1, 0, 1])))


def test_da_loss_source_only_class_term_and_schedule():
    torch.manual_seed(0)
    dann = make_dann(num_classes=3, num_domains=2).train()
    x = torch.randn(4, 1, 32, 32)
    y = torch.tensor([[0, 0], [1, 1], [2, 0], [0, 1]])                 # images 0 and 2 are source (×1)
    crit = DALoss(lambd=1.0)
    loss, cls = crit(dann, x, y)
    torch.manual_seed(0)
    c, d = dann(x)
    # BN in train mode: recompute with the same batch gives the same outputs
    expect = nn.functional.cross_entropy(c[[0, 2]], y[[0, 2], 0]) + nn.functional.cross_entropy(d, y[:, 1])
    torch.testing.assert_close(loss, expect)
    assert cls.shape == (4, 3)
    sched = DALoss(total_steps=100)
    assert sched.current_lambda() == 0.0
    sched.step = 100
    assert 0.99 < sched.current_lambda() < 1.0
    with pytest.raises(ValueError, match="total_steps"):
        DALoss()
    dann.eval()
    vloss, vcls = crit(dann, x, y[:, 0])                               # validation: labels only
    torch.testing.assert_close(vcls, dann(x)[0])


def test_train_hooks_fit_every_method():
    """Every recipe runs through the engine (one tiny epoch) and validates with a 1-D accuracy."""
    train, val = _data(16, 32), _data(8, 32, seed=1)
    cfg = TrainConfig(epochs=1, batch_size=8, progress=False, augment=None)
    for method, model, factors in [("single", Tiny(), 2), ("joint", Tiny(), (1, 2)), ("rrn", Tiny(2), (1, 4)),
                                   ("rabn", RABN(3, 2), (1, 4)), ("da", make_dann(3, 2), (1, 4))]:
        hooks = train_hooks(method, factors, total_steps=steps_per_epoch(16, 8, None))
        r = fit(model, train, val, cfg, **hooks)
        assert 0 <= r.history.val_acc.iloc[0] <= 1, method
    with pytest.raises(ValueError, match="method"):
        train_hooks("nope")
    with pytest.raises(ValueError, match="one factor"):
        train_hooks("single", (1, 2))
    assert steps_per_epoch(100, 32, None) == 4 and steps_per_epoch(100, 32, 2) == 2


def test_predict_grid_table_and_fuse_equals_ensemble():
    data = _data(20)
    nets = [Tiny(seed=s).eval() for s in range(3)]
    preds = predict_grid({f"n{i}": m for i, m in enumerate(nets)}, data, (1, 4), batch_size=8)
    t = accuracy_table(preds)
    assert list(t.index) == ["x1", "x4", "Mean"] and list(t.columns) == ["n0", "n1", "n2"]
    assert t.loc["Mean", "n1"] == pytest.approx((t.loc["x1", "n1"] + t.loc["x4", "n1"]) / 2)
    for how in ("mean", "max"):
        fused = fuse([preds[(f"n{i}", 4)] for i in range(3)], how)
        direct = evaluate(Ensemble(nets, how), data, batch_fn=FixedFactor(4, mean=0.5, std=0.5), batch_size=8)
        assert np.array_equal(fused.y_pred, direct.y_pred)
    # a spec may depend on the factor and skip one
    grid = predict_grid({"f": lambda k: nets[0] if k == 1 else None}, data, (1, 4))
    assert list(grid) == [("f", 1)]
    assert np.isnan(accuracy_table(grid, factors=(1, 4)).loc["Mean", "f"])


def test_wrappers_route_like_the_models():
    torch.manual_seed(0)
    blocks = [Tiny(seed=s).eval() for s in range(2)]
    router = Tiny(2, seed=5).eval()
    drg = DRGFER(router, MRAFER(2, lambda k: blocks[k])).eval()
    x = torch.randn(5, 1, 16, 16)
    torch.testing.assert_close(Oracle(drg, 1)(x), blocks[1](x))
    rabn = RABN(3, 2).eval()
    x32 = torch.randn(5, 1, 32, 32)
    torch.testing.assert_close(AtIndex(rabn, 1)(x32), rabn(x32, 1))
    router32 = Tiny(2, seed=7).eval()
    torch.testing.assert_close(Routed(rabn, router32)(x32), rabn(x32, router32(x32).argmax(1)))
    dann = make_dann(3, 2).eval()
    torch.testing.assert_close(ClassHead(dann)(x32), dann(x32)[0])


def test_rrn_predictions_targets_are_factor_indices():
    p = rrn_predictions(Tiny(3).eval(), _data(10), (1, 2, 4), batch_size=4)
    assert p.classes == ("x1", "x2", "x4") and p.y_true.tolist() == [0] * 10 + [1] * 10 + [2] * 10
    assert p.confusion().shape == (3, 3)


def test_feature_distances_and_crossing():
    d = feature_distances(Tiny(), _data(12, 32), (1, 2, 8), n_images=12)
    assert d.loc[1, "same image HR vs LR"] == pytest.approx(0.0, abs=1e-6)
    assert d["different images (HR)"].nunique() == 1 and (d["different images (HR)"] > 0).all()
    df = pd.DataFrame({"same image HR vs LR": [0.0, 1.0, 3.0, 5.0], "different images (HR)": [2.0] * 4},
                      index=pd.Index([1, 2, 7, 8], name="factor"))
    assert crossing_factor(df) == 7.0
    assert np.isnan(crossing_factor(df.assign(**{"different images (HR)": 9.0})))


def test_best_by_val():
    val = pd.DataFrame({"x1": [0.9, 0.8], "x8": [0.5, 0.6]}, index=["a", "b"])
    test = pd.DataFrame({"x1": [0.7, 0.95], "x8": [0.4, 0.3]}, index=["a", "b"])
    b = best_by_val(val, test)
    assert b.loc["x1", "block (best on val)"] == "a" and b.loc["x1", "test"] == 0.7
    assert b.loc["x8", "block (best on val)"] == "b" and b.loc["x8", "test"] == 0.3


def test_resize_dataset():
    from fer_lib.data.synthetic import make_synthetic
    ds = make_synthetic({"train": 4}, size=16)
    big = resize_dataset(ds, 40)
    assert big.images.shape == (4, 40, 40) and big.images.dtype == np.uint8 and big.meta["resized_to"] == 40
    assert resize_dataset(ds, 16) is ds
    assert np.array_equal(big.labels, ds.labels)


# ---------------------------------------------------------------------------- issue 19, items 6 and 8
def _on_8bit_grid(x, mean=0.5, std=0.5):
    p = (x * std + mean) * 255
    return bool(((p - p.round()).abs() < 1e-3).all()) and bool((p > -1e-3).all() and (p < 255 + 1e-3).all())


def test_every_hook_rounds_degraded_faces_to_8_bits_in_training_and_test():
    """A degraded face is an image: off-grid floats would tell the router ×1 (on the grid) from ×k (off it)."""
    u = torch.randint(0, 256, (20, 1, 20, 20), dtype=torch.uint8)
    x, y = (u.float() / 255 - 0.5) / 0.5, torch.arange(20) % 3
    gen = torch.Generator().manual_seed(0)
    assert not _on_8bit_grid(FixedFactor(2)(x, y)[0])                 # the float degradation is off the grid
    for k in (1, 2, 4, 6, 8, 12):
        assert _on_8bit_grid(FixedFactor(k, mean=0.5, std=0.5)(x, y)[0]), k
    for method, factors in [("single", 4), ("joint", (1, 2, 4, 6, 8)), ("rrn", (1, 2, 4, 6, 8)),
                            ("rabn", (1, 2, 4, 6, 8)), ("da", DA_PAPER_FACTORS)]:
        hooks = train_hooks(method, factors, total_steps=10)           # mean, std default to TrainConfig's 0.5
        assert _on_8bit_grid(hooks["batch_fn"](x, y, gen)[0]), method
        assert _on_8bit_grid(hooks["val_batch_fn"](x, y, gen)[0]), method
    # another normalisation: rounding happens in pixel space, not on the normalised values
    m, s = 0.449, 0.226
    xn = (u.float() / 255 - m) / s
    assert _on_8bit_grid(FixedFactor(4, mean=m, std=s)(xn, y)[0], m, s)
    # ×1 of a uint8 image is unchanged by the rounding
    torch.testing.assert_close(FixedFactor(1, mean=0.5, std=0.5)(x, y)[0], x)
    with pytest.raises(ValueError, match="both mean and std"):
        FixedFactor(2, mean=0.5)


def test_test_time_degradation_is_rounded_too():
    """predict_grid / rrn_predictions feed the network the same 8-bit images as training."""
    seen = []

    class Spy(Tiny):
        def forward(self, x):
            seen.append(x.clone())
            return super().forward(x)

    predict_grid({"spy": Spy().eval()}, _data(8), (2, 6), batch_size=8)
    rrn_predictions(Spy(3).eval(), _data(8), (1, 2, 4), batch_size=8)
    assert len(seen) == 5 and all(_on_8bit_grid(x) for x in seen)
    seen.clear()
    predict_grid({"spy": Spy().eval()}, _data(8), (2,), batch_size=8, uint8=False)
    assert not _on_8bit_grid(seen[0])


def test_resize_to_the_network_size_comes_after_the_degradation():
    """input 16 px, network 40 px: ×4 leaves 4 px of detail (16 / 4), not 10 (40 / 4)."""
    from fer_lib.core.degrade import downsample, to_uint8_grid
    u = torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8)
    x, y = (u.float() / 255 - 0.5) / 0.5, torch.zeros(3, dtype=torch.long)
    out, _ = FixedFactor(4, mean=0.5, std=0.5, out_size=40)(x, y)
    assert out.shape == (3, 1, 40, 40) and _on_8bit_grid(out)
    lr = to_uint8_grid(degrade(x, 4), 0.5, 0.5)
    expect = to_uint8_grid(nn.functional.interpolate(lr, size=(40, 40), mode="bicubic", align_corners=False), 0.5, 0.5)
    torch.testing.assert_close(out, expect)
    big = nn.functional.interpolate(x, size=(40, 40), mode="bicubic", align_corners=False)
    assert not torch.allclose(out, to_uint8_grid(degrade(big, 4), 0.5, 0.5))   # loader-resize first: another image
    # RandomFactor / CyclicFactor give the network size too, every factor (×1 included)
    xb, _ = RandomFactor((1, 4), mean=0.5, std=0.5, out_size=40)(x.repeat(4, 1, 1, 1), y.repeat(4),
                                                                    torch.Generator().manual_seed(0))
    assert xb.shape == (12, 1, 40, 40)
    assert CyclicFactor((1, 4), mean=0.5, std=0.5, out_size=40)(x, y)[0].shape == (3, 1, 40, 40)
    assert downsample(x, 4).shape[-1] == 4


def test_da_as_the_paper_describes_two_domains():
    """Paper 5 §3: source ×1, target ×2 — the DA batches hold only those two resolutions, half each."""
    assert DA_PAPER_FACTORS == (1, 2)
    hooks = train_hooks("da", DA_PAPER_FACTORS, total_steps=4)
    u = torch.randint(0, 256, (16, 1, 16, 16), dtype=torch.uint8)
    x, y = (u.float() / 255 - 0.5) / 0.5, torch.arange(16) % 3
    out, t = hooks["batch_fn"](x, y, torch.Generator().manual_seed(0))
    assert t.shape == (16, 2) and set(t[:, 1].tolist()) == {0, 1} and int((t[:, 1] == 0).sum()) == 8
    for i in range(16):                                                # each image at its own domain's factor
        k = DA_PAPER_FACTORS[int(t[i, 1])]
        torch.testing.assert_close(out[i], FixedFactor(k, mean=0.5, std=0.5)(x[i:i + 1], y[i:i + 1])[0][0])
    dann = make_dann(3, num_domains=len(DA_PAPER_FACTORS))
    assert dann.domain_head[-1].out_features == 2
    r = fit(dann, _data(16, 32), _data(8, 32, seed=1), TrainConfig(epochs=1, batch_size=8, progress=False,
                                                                    augment=None), **hooks)
    assert 0 <= r.history.val_acc.iloc[0] <= 1
    with pytest.raises(ValueError, match="source and at least one target"):
        train_hooks("da", (1,))
