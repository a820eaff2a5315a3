"""The training engine: exact resume, determinism, config errors, freezing, penalties, oversampling."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from fer_lib.data.synthetic import make_synthetic
from fer_lib.models.small import SmallCNN
from fer_lib.train import TrainConfig, class_weights, evaluate, fit, l2_penalty


@pytest.fixture(scope="module")
def ds():
    return make_synthetic({"train": 96, "val": 32}, size=24, seed=3)


def tiny():
    return SmallCNN(num_classes=7, widths=(4, 8))


CFG = dict(epochs=3, batch_size=16, lr=3e-3, augment="strong", progress=False, device="cpu",
           scheduler="step", step_size=1, gamma=0.5)


def _weights(m):
    return torch.cat([p.detach().flatten() for p in m.state_dict().values() if p.dtype.is_floating_point])


def test_same_seed_same_result(ds):
    torch.manual_seed(0); a = fit(tiny(), ds.take("train"), ds.take("val"), CFG)
    torch.manual_seed(0); b = fit(tiny(), ds.take("train"), ds.take("val"), CFG)
    assert torch.equal(_weights(a.model), _weights(b.model))
    assert a.history.drop(columns=["seconds", "img_per_s"]).equals(b.history.drop(columns=["seconds", "img_per_s"]))


def test_resume_after_interrupt_is_identical(ds, tmp_path):
    torch.manual_seed(0)
    full = fit(tiny(), ds.take("train"), ds.take("val"), {**CFG, "select": "last"})

    def stop_after_first(epoch, row, model):
        if epoch == 0:
            raise KeyboardInterrupt

    ckpt = tmp_path / "run.pt"
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny(), ds.take("train"), ds.take("val"), {**CFG, "select": "last"}, checkpoint=ckpt,
            callback=stop_after_first)
    torch.manual_seed(123)  # a fresh process: different initial weights, overwritten by the checkpoint
    resumed = fit(tiny(), ds.take("train"), ds.take("val"), {**CFG, "select": "last"}, checkpoint=ckpt)
    assert resumed.resumed_from == 1
    assert torch.equal(_weights(full.model), _weights(resumed.model))
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]
    assert np.allclose(full.history[cols].to_numpy(), resumed.history[cols].to_numpy())


def test_checkpoint_of_another_recipe_is_refused(ds, tmp_path):
    ckpt = tmp_path / "run.pt"
    fit(tiny(), ds.take("train"), None, {**CFG, "epochs": 1}, checkpoint=ckpt)
    with pytest.raises(ValueError, match="another training recipe"):
        fit(tiny(), ds.take("train"), None, {**CFG, "epochs": 1, "lr": 0.1}, checkpoint=ckpt)


def test_best_epoch_weights_are_returned(ds):
    seen = {}
    r = fit(tiny(), ds.take("train"), ds.take("val"), CFG,
            callback=lambda e, row, m: seen.__setitem__(e, _weights(m).clone()))
    assert r.best_epoch == int(r.history.val_acc.idxmax())
    assert torch.equal(_weights(r.model), seen[r.best_epoch])


@pytest.mark.parametrize("bad, match", [
    ({"epochs": 0}, "epochs"), ({"lr": -1}, "lr"), ({"optimizer": "adagrad"}, "optimizer"),
    ({"scheduler": "poly"}, "scheduler"), ({"class_weights": "balanced"}, "class_weights"),
    ({"augment": "wild"}, "augment"), ({"augment": {"rotat": 3}}, "rotat"), ({"batchsize": 3}, "batchsize"),
    ({"augment": {"flip": 2}}, "flip"),
])
def test_bad_config_values_name_the_parameter(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.from_dict(bad)


def test_wrong_number_of_class_weights(ds):
    with pytest.raises(ValueError, match="class_weights has 3 values for 7 classes"):
        fit(tiny(), ds.take("train"), None, {**CFG, "class_weights": [1, 2, 3]})


def test_inverse_class_weights():
    w = class_weights(torch.tensor([0, 0, 0, 1]), "inverse", 2)
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))


def test_freeze_keeps_layers_fixed(ds):
    m = tiny()
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    fit(m, ds.take("train"), None, {**CFG, "epochs": 1, "freeze": ["features"]})
    for n, p in m.named_parameters():
        assert torch.equal(p, before[n]) == n.startswith("features"), n
    with pytest.raises(ValueError, match="no parameter name starts with 'nope'"):
        fit(tiny(), ds.take("train"), None, {**CFG, "freeze": ["nope"]})


def test_l2_penalty_on_named_layers():
    m = nn.Sequential()
    m.add_module("fc1", nn.Linear(2, 2)); m.add_module("fc2", nn.Linear(2, 1))
    with torch.no_grad():
        m.fc1.weight.fill_(1.0); m.fc2.weight.fill_(2.0)
    # 0.5 * (0.001 * 4 * 1 + 0.01 * 2 * 4) = 0.042 (biases excluded)
    assert l2_penalty(m, {"fc1": 0.001, "fc2": 0.01}).item() == pytest.approx(0.042)


def test_oversampling_balances_classes(ds):
    # Keep one class rare; with oversampling each epoch should draw it about as often as the others.
    keep = np.flatnonzero((ds.labels != 0) | (np.arange(len(ds)) % 4 == 0))
    imb = ds.subset(keep).take("train")
    seen = []
    import fer_lib.train as T
    real = T.torch.multinomial
    T.torch.multinomial = lambda *a, **k: seen.append(real(*a, **k)) or seen[-1]
    try:
        fit(tiny(), imb, None, {**CFG, "epochs": 1, "oversample": True})
    finally:
        T.torch.multinomial = real
    drawn = np.bincount(imb.labels[seen[0].numpy()], minlength=7) / len(seen[0])
    assert drawn.min() > 0.05 and abs(drawn[0] - 1 / 7) < 0.1


def test_evaluate_keeps_order_and_probabilities(ds):
    m = tiny().eval()
    p = evaluate(m, ds.take("val"), batch_size=7)
    assert p.probs.shape == (32, 7) and np.allclose(p.probs.sum(1), 1, atol=1e-5)
    assert np.array_equal(p.y_true, ds.take("val").labels)
    assert p.classes == ds.classes


def test_batch_and_loss_hooks(ds):
    calls = {"batch": 0}

    def batch_fn(x, y, gen):
        calls["batch"] += 1
        return x, y

    def loss_fn(model, x, y):
        out = model(x)
        return nn.functional.cross_entropy(out, y), out
    r = fit(tiny(), ds.take("train"), ds.take("val"), {**CFG, "epochs": 1}, batch_fn=batch_fn, loss_fn=loss_fn)
    assert calls["batch"] == 6 and not np.isnan(r.history.train_acc[0])
