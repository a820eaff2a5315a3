"""The training engine: exact resume, determinism, config errors, freezing, penalties, oversampling."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn

from fer_lib.data.synthetic import make_synthetic
from fer_lib.models.small import SmallCNN
from fer_lib.core.train import TrainConfig, build_seeded, class_weights, evaluate, fit, l2_penalty


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
    import fer_lib.core.train as T
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


# ------------------------------------------------------------------ a run depends on its spec alone (issue 18.11)
def test_factory_is_built_in_the_seeded_scope(ds):
    torch.manual_seed(123)  # whatever ran before in the process must not matter
    a = fit(tiny, ds.take("train"), None, {**CFG, "epochs": 1})
    torch.rand(1000)
    b = fit(tiny, ds.take("train"), None, {**CFG, "epochs": 1})
    assert torch.equal(_weights(a.model), _weights(b.model))
    assert a.epochs_run == 1 and a.resumed_from is None
    # and the same as a model built by build_seeded with the run's seed, then passed in
    c = fit(build_seeded(tiny, CFG["seed"] if "seed" in CFG else 0), ds.take("train"), None, {**CFG, "epochs": 1})
    assert torch.equal(_weights(a.model), _weights(c.model))


def test_build_seeded_leaves_the_callers_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    m1 = build_seeded(tiny, 0)
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(_weights(m1), _weights(build_seeded(tiny, 0)))
    assert not torch.equal(_weights(m1), _weights(build_seeded(tiny, 1)))
    with pytest.raises(TypeError, match="not an nn.Module"):
        build_seeded(lambda: 3, 0)


ZHAO_RUN = textwrap.dedent("""
    import torch
    from fer_lib.data.synthetic import make_synthetic
    from fer_lib.models.cnn import ZhaoCNN
    from fer_lib.core.train import fit
    start = torch.initial_seed()
    ds = make_synthetic({"train": 192}, size=48, seed=0)
    r = fit(lambda: ZhaoCNN(num_classes=7), ds, None, dict(epochs=1, batch_size=16, max_batches=12, lr=1e-3,
            seed=0, device="cpu", progress=False))
    print(start, repr(float(r.history.train_loss.iloc[-1])))
""")


def test_same_seed_same_run_across_fresh_processes():
    """Issue 18.11: a 12-step ZhaoCNN fit on synthetic data, twice in fresh processes (each with its own
    random initial torch seed), must end with the same loss."""
    outs = [subprocess.run([sys.executable, "-c", ZHAO_RUN], capture_output=True, text=True, check=True,
                           timeout=300).stdout.split() for _ in range(2)]
    assert outs[0][0] != outs[1][0], "the processes should start from different torch seeds"
    assert outs[0][1] == outs[1][1]


def test_checkpoint_of_another_run_key_is_refused(ds, tmp_path):
    ckpt = tmp_path / "run.pt"
    cfg = {**CFG, "epochs": 1}
    fit(tiny, ds.take("train"), None, cfg, checkpoint=ckpt, run_key="abc")
    r = fit(tiny, ds.take("train"), None, cfg, checkpoint=ckpt, run_key="abc")
    assert r.resumed_from == 1 and r.epochs_run == 0
    with pytest.raises(ValueError, match=f"checkpoint {ckpt} belongs to run 'abc', not 'xyz'"):
        fit(tiny, ds.take("train"), None, cfg, checkpoint=ckpt, run_key="xyz")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "not_ours"])
def test_damaged_checkpoint_names_the_file(ds, tmp_path, damage):
    ckpt = tmp_path / "run.pt"
    fit(tiny, ds.take("train"), None, {**CFG, "epochs": 1}, checkpoint=ckpt)
    raw = ckpt.read_bytes()
    if damage == "truncate":
        ckpt.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(b"\x00not a checkpoint" * 50)
    elif damage == "empty":
        ckpt.write_bytes(b"")
    else:
        torch.save({"weights": 1}, ckpt)
    with pytest.raises(ValueError, match=f"checkpoint {ckpt}"):
        fit(tiny, ds.take("train"), None, {**CFG, "epochs": 2}, checkpoint=ckpt)


# ------------------------------------------------------------------ values that silently broke training (issue 18.5)
@pytest.mark.parametrize("bad, match", [
    ({"grad_clip": -1}, r"grad_clip=-1: must be None .* or a finite number > 0"),
    ({"grad_clip": 0}, "grad_clip"),
    ({"gamma": -0.1}, r"gamma=-0.1: must be a finite number > 0"),
    ({"gamma": 0}, "gamma"),
    ({"max_batches": 2.5}, r"max_batches=2.5: must be None or an integer >= 1"),
    ({"max_batches": True}, "max_batches"),
    ({"lr": True}, r"lr=True: must be a finite number > 0"),
    ({"epochs": True}, r"epochs=True: must be a positive integer"),
    ({"batch_size": 16.0}, "batch_size"),
    ({"label_smoothing": "0.1"}, r"label_smoothing='0.1': must be a number in \[0, 1\)"),
    ({"label_smoothing": True}, "label_smoothing"),
    ({"device": "gpu"}, r"device='gpu': choose auto, cpu, cuda or cuda:N"),
    ({"device": "cuda:x"}, "device"),
    ({"lr": float("inf")}, r"lr=inf: must be a finite number > 0"),
    ({"lr": float("nan")}, "lr=nan"),
    ({"weight_decay": -1e-4}, "weight_decay"),
    ({"momentum": float("nan")}, "momentum"),
    ({"seed": 1.5}, "seed"),
    ({"amp": "yes"}, "amp"),
    ({"cuda_graph": 1}, "cuda_graph"),
    ({"betas": (0.9, 1.5)}, "betas"),
    ({"class_weights": [1, float("nan")]}, "class_weights"),
    ({"l2": {"fc": -1}}, "l2"),
])
def test_values_that_would_break_training_are_refused_up_front(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.from_dict(bad)


def test_good_values_still_pass():
    c = TrainConfig(lr=1, epochs=np.int64(3), grad_clip=5, gamma=0.5, max_batches=2, label_smoothing=0.1,
                    device="cuda:1", betas=[0.9, 0.99])
    assert c.betas == (0.9, 0.99) and c.hash() == TrainConfig.from_dict(c.to_dict()).hash()
    # execution switches are not part of the recipe: a checkpoint written with them resumes without them
    assert c.replace(cuda_graph=True, channels_last=True, cudnn_benchmark=True).hash() == c.hash()


@pytest.mark.parametrize("epochs", [1, 3])
def test_non_finite_loss_stops_the_run_at_the_end_of_its_epoch(ds, tmp_path, epochs):
    """Even the first epoch (issue 18.5: a one-epoch run with a huge lr 'succeeded' with NaN weights); the
    check runs once per epoch (no per-step host sync) and names the epoch; the last good checkpoint stays."""
    ckpt = tmp_path / "run.pt"
    blow_at = epochs - 1
    cb_epochs = []

    class Boom(nn.Module):  # finite until the epoch `blow_at`, then every loss is NaN
        def __init__(self):
            super().__init__()
            self.net, self.epoch = tiny(), 0

        def forward(self, x):
            out = self.net(x)
            return out * float("nan") if self.epoch >= blow_at else out

    m = Boom()

    def cb(epoch, row, model):
        cb_epochs.append(epoch)
        model.epoch = epoch + 1
    with pytest.raises(FloatingPointError, match=f"non-finite|became nan.*in epoch {blow_at}") as e:
        fit(m, ds.take("train"), None, {**CFG, "epochs": epochs}, checkpoint=ckpt, callback=cb)
    assert f"epoch {blow_at}" in str(e.value)
    assert cb_epochs == list(range(blow_at))
    if blow_at:
        assert torch.load(ckpt, weights_only=False)["epoch"] == blow_at - 1
    else:
        assert not ckpt.exists()


def test_huge_lr_is_caught_in_the_first_epoch(ds):
    with pytest.raises(FloatingPointError, match="epoch 0"):
        fit(tiny, ds.take("train"), None, {**CFG, "epochs": 1, "lr": 1e30, "optimizer": "sgd", "augment": None})


# ------------------------------------------------------------------ the engine without per-step host syncs (issue 15.1)
def _reference_losses(ds, cfg: TrainConfig):
    """The engine as it was before issue 15: the same recipe with a `.item()` and a finite check per step."""
    from fer_lib.core.augment import get_augment
    from fer_lib.core.train import _epoch_seed, _l2_groups, _penalty, make_optimizer, make_scheduler
    torch.manual_seed(cfg.seed)
    model = tiny()
    torch.manual_seed(cfg.seed)
    x_tr, y_tr = torch.as_tensor(ds.images).unsqueeze(1), torch.as_tensor(ds.labels).long()
    opt, aug = make_optimizer(list(model.parameters()), cfg, torch.device("cpu")), get_augment(cfg.augment)
    sched, groups, out = make_scheduler(opt, cfg), _l2_groups(model, cfg.l2), []
    for epoch in range(cfg.epochs):
        gen = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch))
        torch.manual_seed(_epoch_seed(cfg.seed, epoch) + 1)
        order, tot = torch.randperm(len(x_tr), generator=gen), 0.0
        for b in range(-(-len(x_tr) // cfg.batch_size)):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x = (aug(x_tr[idx].float().div_(255), gen) - cfg.mean) / cfg.std
            loss = nn.functional.cross_entropy(model(x).float(), y_tr[idx]) + _penalty(groups)
            assert torch.isfinite(loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(list(model.parameters()), cfg.grad_clip)
            opt.step()
            tot += loss.item() * len(idx)
        out.append(tot / len(x_tr))
        sched.step()
    return out


def test_engine_gives_the_losses_of_the_per_step_sync_loop(ds):
    cfg = TrainConfig(**{**CFG, "l2": {"features": 1e-3}, "grad_clip": 1.0})
    r = fit(tiny, ds.take("train"), None, cfg)
    assert np.allclose(r.history.train_loss.to_numpy(), _reference_losses(ds.take("train"), cfg), rtol=1e-6, atol=0)


def test_no_host_sync_per_step(ds, monkeypatch):
    """Host reads of device tensors (item, bool, float, tolist, cpu, numpy) happen per epoch, not per step:
    a run of 12 steps makes exactly as many as a run of 3."""
    calls = []
    for name in ("item", "__bool__", "__float__", "__int__", "tolist", "cpu", "numpy"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, (lambda real, name: lambda self, *a, **k:
                                                 (calls.append(name), real(self, *a, **k))[1])(real, name))
    counts = []
    for steps in (3, 12):
        calls.clear()
        data = ds.take("train").subset(np.arange(steps * 8))
        fit(tiny, data, None, {**CFG, "batch_size": 8, "epochs": 2, "l2": {"features": 1e-3}, "grad_clip": 1.0})
        counts.append(len(calls))
    assert counts[0] == counts[1], calls


def test_channels_last_switch_trains_the_same_recipe(ds):
    a = fit(tiny, ds.take("train"), ds.take("val"), {**CFG, "epochs": 2})
    b = fit(tiny, ds.take("train"), ds.take("val"), {**CFG, "epochs": 2, "channels_last": True,
                                                      "cudnn_benchmark": True, "cuda_graph": True})
    assert np.allclose(a.history.train_loss, b.history.train_loss, rtol=1e-4)
    convs = [p for p in b.model.parameters() if p.ndim == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)


def test_no_progress_output_without_a_terminal(ds, capfd):
    fit(tiny, ds.take("train"), ds.take("val"), {**CFG, "epochs": 2, "progress": True})
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ------------------------------------------------------------------ collapse detection (CONTRACTS D)
def _separable(n=210, seed=0):
    g = np.random.default_rng(seed)
    y = np.arange(n) % 7
    x = np.clip(y[:, None, None] * 35 + g.normal(0, 10, (n, 24, 24)), 0, 255).astype(np.uint8)
    return (x[: 2 * n // 3], y[: 2 * n // 3]), (x[2 * n // 3:], y[2 * n // 3:])


def test_forced_collapse_is_flagged_and_the_run_goes_on(ds):
    r = fit(tiny, ds.take("train"), ds.take("val"), {**CFG, "scheduler": "none", "lr": 100.0, "augment": None})
    assert len(r.history) == 3  # flagged, not stopped
    assert r.collapsed and r.collapsed.startswith("validation predictions collapsed")
    assert r.history.collapse.notna().any() and (r.history.val_top_share >= 0.95).any()


def test_training_stuck_at_chance_is_flagged(ds):
    def stuck():  # a huge bias on one class and no learning to speak of
        m = tiny()
        last = [mod for mod in m.modules() if isinstance(mod, nn.Linear)][-1]
        with torch.no_grad():
            last.bias.zero_()
            last.bias[0] = 50.0
        return m
    r = fit(stuck, ds.take("train"), None, {**CFG, "lr": 1e-7})
    assert r.collapsed.startswith("training accuracy stayed at chance for all 3 epochs")


def test_healthy_run_is_not_flagged():
    train, val = _separable()
    r = fit(tiny, train, val, {**CFG, "epochs": 4, "scheduler": "none", "augment": None})
    assert r.collapsed is None and r.history.collapse.isna().all()
    assert r.history.val_acc.iloc[-1] > 0.5


def test_detect_collapse_on_predictions_and_rows():
    from fer_lib.core.metrics import Predictions
    from fer_lib.core.train import detect_collapse
    probs = np.tile([0.9, 0.05, 0.05], (100, 1))
    probs[:3] = [0.1, 0.8, 0.1]
    p = Predictions(np.zeros(100, int), probs, ("angry", "happy", "sad"))
    assert "97.0 % in class 'angry'" in detect_collapse(p)
    probs[:6] = [0.1, 0.8, 0.1]
    assert detect_collapse(Predictions(np.zeros(100, int), probs, ())) is None
    assert "at chance" in detect_collapse({"train_acc": 0.25, "train_chance": 0.25})
    assert detect_collapse({"train_acc": 0.40, "train_chance": 0.25}) is None
    rows = [{"train_acc": 0.25, "train_chance": 0.25}, {"train_acc": 0.6, "train_chance": 0.25}]
    assert detect_collapse(rows) is None  # at chance once, not throughout


# ------------------------------------------------------------------ on a GPU (skipped here; run them on a lent one)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _nodrop():
    return SmallCNN(num_classes=7, widths=(4, 8), dropout=0.0)


@cuda
def test_cuda_graph_matches_eager_and_repeats(ds):
    # batch 20 over 96 images: 4 graphed full batches and a partial one on the eager path per epoch
    cfg = {**CFG, "device": "cuda", "amp": False, "batch_size": 20}
    eager = fit(_nodrop, ds.take("train"), ds.take("val"), cfg)
    g1 = fit(_nodrop, ds.take("train"), ds.take("val"), {**cfg, "cuda_graph": True})
    g2 = fit(_nodrop, ds.take("train"), ds.take("val"), {**cfg, "cuda_graph": True, "channels_last": True})
    assert np.allclose(eager.history.train_loss, g1.history.train_loss, rtol=1e-3)
    assert np.allclose(g1.history.train_loss, g2.history.train_loss, rtol=1e-3)
    assert float(g1.history.lr.iloc[-1]) == pytest.approx(CFG["lr"] * CFG["gamma"] ** 2)  # the scheduler reached the graph


@cuda
def test_cuda_graph_run_resumes(ds, tmp_path):
    cfg = {**CFG, "device": "cuda", "amp": True, "batch_size": 20, "cuda_graph": True, "select": "last"}
    full = fit(_nodrop, ds.take("train"), None, cfg)

    def stop(epoch, row, model):
        if epoch == 0:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        fit(_nodrop, ds.take("train"), None, cfg, checkpoint=tmp_path / "g.pt", callback=stop)
    resumed = fit(_nodrop, ds.take("train"), None, cfg, checkpoint=tmp_path / "g.pt")
    assert resumed.resumed_from == 1
    assert np.allclose(full.history.train_loss, resumed.history.train_loss, rtol=1e-3)


@cuda
def test_packed_matches_solo_on_cuda(ds):
    from fer_lib.core.packed import fit_packed
    cfgs = [TrainConfig(**{**CFG, "device": "cuda", "amp": False, "seed": s}) for s in (0, 1)]
    packed = fit_packed(_nodrop, ds.take("train"), ds.take("val"), cfgs)
    for c, p in zip(cfgs, packed):
        solo = fit(_nodrop, ds.take("train"), ds.take("val"), c)
        assert np.allclose(solo.history.train_loss, p.history.train_loss, rtol=1e-3)
