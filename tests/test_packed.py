"""Packed runs (fer_lib.core.packed): K seeds trained as one stacked ensemble are the runs they would be alone."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from fer_lib.data.synthetic import make_synthetic
from fer_lib.models.small import SmallCNN
from fer_lib.core.packed import fit_packed
from fer_lib.core.train import TrainConfig, fit

SEEDS = (0, 1, 2)
CFG = TrainConfig(epochs=2, batch_size=16, lr=3e-3, augment="standard", progress=False, device="cpu",
                  scheduler="step", step_size=1, gamma=0.5, l2={"head": 1e-3}, grad_clip=1.0)


@pytest.fixture(scope="module")
def ds():
    return make_synthetic({"train": 80, "val": 24}, size=24, seed=5)


def tiny():  # no dropout: packed members then match solo runs to float rounding (see fer_lib.core.packed)
    return SmallCNN(num_classes=7, widths=(4, 8), dropout=0.0)


@pytest.fixture(scope="module")
def runs(ds, tmp_path_factory):
    """Solo runs (with their last optimizer state from the checkpoint) and one pack of the same seeds."""
    solo, solo_opt = [], []
    for s in SEEDS:
        ckpt = tmp_path_factory.mktemp("solo") / "run.pt"
        solo.append(fit(tiny, ds.take("train"), ds.take("val"), CFG.replace(seed=s, select="last"), checkpoint=ckpt))
        solo_opt.append(torch.load(ckpt, weights_only=False)["optimizer"]["state"])
    seen = {}
    packed = fit_packed(tiny, ds.take("train"), ds.take("val"), [CFG.replace(seed=s, select="last") for s in SEEDS],
                        callback=lambda e, rows, pack: seen.update(
                            {j: pack.member_optimizer_state(j) for j in range(pack.k)}))
    return solo, solo_opt, packed, seen


def test_packed_losses_match_solo(runs):
    solo, _, packed, _ = runs
    for s, p in zip(solo, packed):
        assert (p.history.packed == len(SEEDS)).all()
        for col in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert np.allclose(s.history[col], p.history[col], rtol=1e-4, atol=1e-6), col
        assert p.epochs_run == s.epochs_run == 2 and p.best_epoch == s.best_epoch


def test_packed_weights_and_batchnorm_statistics_match_solo(runs):
    solo, _, packed, _ = runs
    for s, p in zip(solo, packed):
        ss, ps = s.model.state_dict(), p.model.state_dict()
        assert ss.keys() == ps.keys()
        for name in ss:
            assert torch.allclose(ss[name].float(), ps[name].float(), rtol=1e-4, atol=1e-5), name
        assert any("running_var" in n for n in ss)  # the model does have BatchNorm statistics
    # and members differ from each other (each has its own seed)
    assert not torch.allclose(packed[0].model.features[0].weight, packed[1].model.features[0].weight)


def test_packed_optimizer_state_matches_solo(runs):
    _, solo_opt, _, seen = runs
    for j in range(len(SEEDS)):
        for i, member in enumerate(seen[j]):
            solo_state = solo_opt[j][i]
            assert float(member["step"]) == float(solo_state["step"])
            for key in ("exp_avg", "exp_avg_sq"):
                assert torch.allclose(member[key], solo_state[key], rtol=1e-3, atol=1e-7), (i, key)


def bomb():
    """A model whose seed-13 member is broken from the start: its loss is NaN at the first step."""
    m = tiny()
    if torch.initial_seed() == 13:  # build_seeded seeds the factory's scope with the run's seed
        with torch.no_grad():
            m.head[-1].weight.fill_(float("nan"))
    return m


def test_a_diverging_member_is_flagged_and_retried_alone_without_disturbing_the_others(ds):
    cfgs = [CFG.replace(seed=s) for s in (0, 13, 2)]
    with pytest.warns(UserWarning, match="seed 13 became non-finite in epoch 0 of the pack; retrying it alone"):
        out = fit_packed(bomb, ds.take("train"), ds.take("val"), cfgs)
    assert isinstance(out[1], FloatingPointError) and "epoch 0" in str(out[1])  # it diverges alone too
    for i in (0, 2):
        solo = fit(bomb, ds.take("train"), ds.take("val"), cfgs[i])
        assert np.allclose(solo.history.train_loss, out[i].history.train_loss, rtol=1e-4)
        assert np.isfinite(out[i].history.train_loss).all()


def test_other_recipes_and_groups_of_one_run_solo(ds):
    cfgs = [CFG.replace(seed=0, epochs=1), CFG.replace(seed=1, epochs=1, scheduler="plateau"),
            CFG.replace(seed=2, epochs=1, scheduler="plateau")]
    with pytest.warns(UserWarning, match="plateau"):
        out = fit_packed(tiny, ds.take("train"), None, cfgs)
    assert [int(r.history.packed.iloc[0]) for r in out] == [1, 1, 1]
    assert [r.config.seed for r in out] == [0, 1, 2]


def test_a_model_vmap_cannot_run_falls_back_to_solo(ds):
    class Syncs(nn.Module):  # data-dependent control flow: vmap refuses it
        def __init__(self):
            super().__init__()
            self.net = tiny()

        def forward(self, x):
            return self.net(x) if x.sum() > -1e9 else -self.net(x)
    cfgs = [CFG.replace(seed=s, epochs=1, l2={"net.head": 1e-3}) for s in (0, 1)]
    with pytest.warns(UserWarning, match="vmap cannot run this model"):
        out = fit_packed(Syncs, ds.take("train"), None, cfgs)
    assert all(r.history.packed.iloc[0] == 1 for r in out)


def test_gpu_bench_runs_on_cpu(tmp_path, capsys):
    """bench/gpu_throughput.py runs end to end on a CPU (figures only; speed is never asserted)."""
    import importlib.util
    import json
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "bench" / "gpu_throughput.py"
    spec = importlib.util.spec_from_file_location("gpu_throughput", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    results, est = mod.main(["--device", "cpu", "--quick", "--models", "SpatialDeepLearning", "--notebooks", "04",
                             "--json", str(tmp_path / "g.json")])
    out = capsys.readouterr().out
    assert "SpatialDeepLearning" in out and "estimated full-profile time per notebook" in out
    r = results[("SpatialDeepLearning", 64, (48, 48))]
    assert r["flops_per_img"] > 1e6 and r["bytes_per_img"] > 0 and r["eager"] > 0 and r["packed"] > 0
    assert r["graphed"] is None  # CUDA only
    assert set(est) == {"04"} and est["04"]["eager"] > 0
    assert json.loads((tmp_path / "g.json").read_text())["models"]["SpatialDeepLearning@64@48px"]["batch"] == 64
    # paper 5 resizes its faces: its networks are timed at the plan's input size (100 px in full), not at 48
    from fer_lib.papers import p5_wang
    shapes = {k[2] for k in mod.workloads(p5_wang.plan("full"), ["05"], ["resnet18"])}
    assert shapes == {(100, 100)}
