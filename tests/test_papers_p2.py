"""Paper 2's run plan (fer_lib.papers.p2_transfer): the full plan holds Table 1's recipe, ≥ 3 seeds for every arm
and ablation, and runs the ResNet50 arms only when ImageNet weights load (a user file or the torch hub cache); the
cpu plan resolves on the real data within its budget; assembling the smoke plan twice trains once."""
import types

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from fer_lib.study.claims import claim
from fer_lib.models import transfer
from fer_lib.models.transfer import ResNet50Transfer, imagenet_weights_file
from fer_lib.papers import p2_transfer as P


@pytest.fixture
def no_hub_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("w") / "my_resnet50.pth"
    torch.manual_seed(3)
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), f)
    return f


def test_full_plan_holds_table_1_and_three_seeds_everywhere(no_hub_weights):
    specs = P.plan("full")
    assert specs and all(s.notebook == "02" and s.paper == "p2" for s in specs)
    for s in specs:
        c = s.config
        assert c["lr"] == claim("p2", "Table 1", "Learning Rate", "Value") == 1e-4
        assert c["epochs"] == claim("p2", "Table 1", "Epoch", "Value") == 60
        assert c["batch_size"] == claim("p2", "Table 1", "Batch Size", "Value") == 32
        assert c["betas"] == [0.9, 0.999] and c["optimizer"] == "adam" and c["max_batches"] is None
        assert s.dataset == "fer2013" and s.cap == {}
        if s.arm.startswith("ablation: class weights"):
            assert c["class_weights"] in ("inverse", None)
        else:
            assert c["class_weights"] == [claim("p2", "text §3", "loss class weights", f"w[{i}]") for i in range(7)]
        if "random split" in s.arm or s.arm.startswith("ablation"):
            assert s.split == {"kind": "random", "fractions": [0.8, 0.2], "names": ["train", "test"], "seed": 0}
            assert s.val == ("test",) and s.evaluate[0]["split"] == "test"   # the 20 % is val and test
    arms = {}
    for s in specs:
        arms.setdefault(s.arm, set()).add(s.seed)
    assert all(len(seeds) >= 3 for seeds in arms.values()), arms
    assert {"ablation: class weights · inverse frequency", "ablation: class weights · none",
            "ablation: batch norm · Vanilla CNN without BN",
            "ablation: batch norm · Residual block + CNN without BN"} <= set(arms)
    nobn = next(s for s in specs if s.arm == "ablation: batch norm · Vanilla CNN without BN")
    assert nobn.model_kw["batch_norm"] is False


def test_no_imagenet_weights_no_resnet50_runs_in_full(no_hub_weights):
    assert not any(s.model == "ResNet50Transfer" for s in P.plan("full"))
    assert P.not_run("full") == {"Table 2 · ResNet50 + CNN · random split": P.NOT_RUN_NO_WEIGHTS,
                                 "Table 2 · ResNet50 + CNN · official split": P.NOT_RUN_NO_WEIGHTS}
    assert P.NOT_RUN_NO_WEIGHTS == "not run — no ImageNet weights"
    # smoke and cpu keep the random-backbone run as a pipeline check (recorded pretrained: false)
    assert any(s.model == "ResNet50Transfer" and s.model_kw["pretrained"] is None for s in P.plan("cpu"))


def test_user_supplied_or_cached_weights_plan_the_transfer_arms(no_hub_weights, weights_file):
    specs = [s for s in P.plan("full", resnet_weights=str(weights_file)) if s.model == "ResNet50Transfer"]
    assert len(specs) == 6 and P.not_run("full", resnet_weights=str(weights_file)) == {}
    assert all(s.model_kw["pretrained"] == str(weights_file) for s in specs)
    assert all({"name": "p2.require_pretrained", "kw": {}} in s.hooks for s in specs)
    assert all(s.config["mean"] == 0.449 and s.config["std"] == 0.226 for s in specs)
    # torchvision's file in the torch hub cache counts too
    (no_hub_weights / "checkpoints").mkdir(parents=True)
    (no_hub_weights / "checkpoints" / transfer.IMAGENET_FILE).symlink_to(weights_file)
    assert imagenet_weights_file("imagenet") is not None
    assert any(s.model_kw.get("pretrained") == "imagenet" for s in P.plan("full"))


def test_weights_path_loads_into_the_model_and_the_hook_refuses_random(weights_file):
    m = ResNet50Transfer(pretrained=str(weights_file))
    sd = torch.load(weights_file, weights_only=True)
    assert m.pretrained and weights_file.name in m.pretrained_note
    torch.testing.assert_close(m.backbone.conv1.weight, sd["conv1.weight"].sum(1, keepdim=True))
    with pytest.warns(RuntimeWarning):
        missing = ResNet50Transfer(pretrained="/nowhere/resnet50.pth")
    assert not missing.pretrained and "does not exist" in missing.pretrained_note
    ctx = types.SimpleNamespace(spec=types.SimpleNamespace(label="02 · x · seed 0"))
    check = P.require_pretrained(ctx)
    assert check(m) is m
    with pytest.raises(RuntimeError, match="did not load"):
        check(missing)


def test_readings_are_named():
    src = P.sources("full")
    for k in ("augment", "select", "resnet_norm", "split_seed", "seeds", "convergence_margin", "convergence_window"):
        assert src[k].startswith("reading"), k
    for k in ("lr", "epochs", "batch_size", "class_weights"):
        assert src[k].startswith("paper"), k
    assert P.sources("cpu")["epochs"] == "budget (cpu profile)"
    with pytest.raises(ValueError, match="unknown parameter"):
        P.plan("full", learning_rate=1)


# ---------------------------------------------------------------------------------------------- notebook 02's plan
def test_full_plan_names_paper_settings_and_readings_and_every_arm_has_three_seeds(no_hub_weights):
    s, src = P.settings("full"), P.sources("full")
    for k, want in (("lr", 1e-4), ("epochs", 60), ("batch_size", 32), ("betas", [0.9, 0.999])):
        assert s[k] == want and src[k].startswith("paper"), k
    assert src["optimizer"].startswith("paper") and src["class_weights"].startswith("paper")
    for k in ("augment", "select", "resnet_norm", "split_seed", "seeds", "convergence_margin", "convergence_window"):
        assert src[k].startswith("reading"), k
    assert "issue 19" in src["ablation_seeds"] and len(s["ablation_seeds"]) >= 3 and len(s["seeds"]) >= 3
    specs = P.plan("full")
    assert all(len({t.seed for t in specs if t.arm == a}) >= 3 for a in {t.arm for t in specs})
    assert all(t.cap == {} and t.config["max_batches"] is None for t in specs)   # no cut in the full profile


def test_caps_name_only_the_splits_of_their_own_scheme():
    """The bug behind 22 invalid cpu runs: one cap for both split schemes named splits the other scheme lacks."""
    for profile in ("smoke", "cpu"):
        for t in P.plan(profile):
            splits = {"train", "test"} if t.split.get("kind") == "random" else set(P.SPLITS[t.dataset])
            assert set(t.cap) - {"seed"} <= splits, (t.arm, t.cap)
            assert t.val and t.evaluate and set(t.val) <= splits
    cpu = P.plan("cpu")
    rand = next(t for t in cpu if "random split" in t.arm)
    off = next(t for t in cpu if "official split" in t.arm)
    assert rand.cap == {"test": 1000, "seed": 1} and rand.val == ("test",) and rand.evaluate[0]["split"] == "test"
    assert off.cap == {"PublicTest": 1000, "seed": 1} and off.evaluate[0]["split"] == "PrivateTest"   # whole
    # every Table 2 run carries its own duplicate audit; the ablations need none
    assert all(({"name": "p2.leak", "kw": {}} in t.hooks) == t.arm.startswith("Table 2") for t in cpu)


def test_leak_hook_indexes_the_records_test_predictions():
    """The dedup mask is over exactly the images of the record's test view, in their order."""
    from fer_lib.data.synthetic import make_synthetic
    ds = make_synthetic({"train": 40, "test": 20}, seed=0)
    train, test = np.flatnonzero(ds.split == "train"), np.flatnonzero(ds.split == "test")
    ds.images[test[3]] = ds.images[train[5]]   # a byte-identical copy in train
    ds.images[test[7]] = ds.images[train[0]]
    evaluated = test[[1, 3, 4, 7, 9]]          # a capped subset, as RunData.index holds it (sorted rows)
    ctx = types.SimpleNamespace(spec=types.SimpleNamespace(evaluate=({"name": "test", "split": "test"},)))
    m = P.leak(ctx)(None, types.SimpleNamespace(dataset=ds, index={"train": train, "eval:test": evaluated}))
    assert m == {"n": 5, "n_leaked": 2, "leaked": [1, 3]}
    assert P.dedup_mask({"metrics": {"p2.leak": m}}).tolist() == [True, False, True, False, True]


def test_cpu_plan_resolves_without_invalid_specs_and_fits_its_budget():
    from fer_lib.data import data_root
    from fer_lib.runs.costs import estimate_seconds
    from fer_lib.runs.plans import resolve
    root = data_root()
    if root is None or not (root / "fer2013").exists() and not any(root.glob("**/fer2013.csv")):
        pytest.skip("FER2013 not found (FER_DATA_ROOT or ../shared/data)")
    planned = resolve(P.plan("cpu"), root)
    assert not [p.error for p in planned if p.invalid or p.key is None]
    assert len(planned) == 22 and len({p.key for p in planned}) == 22
    minutes = sum(estimate_seconds(p.spec, p.facts, "cpu") for p in planned) / 60
    assert minutes <= 40, f"cpu plan estimated at {minutes:.0f} CPU min"
    rand = next(p for p in planned if "random split" in p.spec.arm)
    assert rand.facts["n_val"] == rand.facts["n_eval"] == 1000 and rand.facts["n_train"] == 28710


def test_smoke_plan_assembled_twice_gives_the_same_numbers_and_trains_once(tmp_path, monkeypatch):
    """A slice of the smoke plan (every kind of run: CNN random/official split with the leak audit, a no-BN
    ablation, the ResNet50 transfer model) through `assemble` into a temporary store, twice."""
    from fer_lib.runs import assemble
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path))
    keep = {P.arm("Vanilla CNN", "random"), P.arm("Vanilla CNN", "official"), P.bn_arm("Vanilla CNN"),
            P.arm(P.RESNET, "random")}
    plan = [t for t in P.plan("smoke") if t.arm in keep]
    s = P.settings("smoke")
    got = []
    for _ in range(2):
        log = []
        runs = assemble(None, plan, log=log.append)
        assert runs.complete
        got.append((log, P.table2_claims(runs, s, "smoke", "synthetic", {}),
                    P.convergence(runs, s)[0], runs.table()["key"].tolist()))
    assert sum(m.startswith("training") for m in got[0][0]) == len(plan)
    assert not any(m.startswith("training") for m in got[1][0])          # the second time: all from the store
    assert got[0][1] == got[1][1] and got[0][3] == got[1][3]
    pd.testing.assert_frame_equal(got[0][2], got[1][2])   # the convergence table (NaN = never reached)
    for row in got[1][1]:
        if (row["row"], row["column"].startswith("PrivateTest")) in (("Residual block + CNN", False),
                                                                     ("Residual block + CNN", True),
                                                                     (P.RESNET, True)):
            assert row["values"] == []   # arms outside the slice: nothing stored, nothing invented
            continue
        assert row["values"] and all(0 <= v <= 1 for v in row["values"]), row
    rec = next(r for r in runs.records if r["spec"]["arm"] == P.arm("Vanilla CNN", "random"))
    assert len(P.dedup_mask(rec)) == len(P.test_predictions(rec).y_true) == 48   # smoke's val_n cap
