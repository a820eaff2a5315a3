"""Paper 3's run plan (fer_lib/papers/p3_zhao.py): the full plan holds exactly what the paper states, and its
readings where the paper is silent, named as readings. Never trains."""
import pytest

from fer_lib.study.claims import claim
from fer_lib.models import create_model
from fer_lib.papers import p3_zhao
from fer_lib.runs.plans import import_plan_modules, resolve
from fer_lib.runs.spec import RunSpec


def by_arm(specs):
    out = {}
    for s in specs:
        out.setdefault(s.arm, []).append(s)
    return out


def test_full_plan_is_three_models_times_three_seeds_on_the_official_split():
    specs = p3_zhao.plan("full")
    assert all(isinstance(s, RunSpec) for s in specs) and len(specs) == 9
    arms = by_arm(specs)
    assert {a: [s.model for s in v] for a, v in arms.items()} == {
        "CNN": ["ZhaoCNN"] * 3, "VGG": ["ZhaoVGG"] * 3, "ResNet18": ["resnet18"] * 3}   # §III.B's three models
    assert all(sorted(s.seed for s in v) == [0, 1, 2] for v in arms.values())
    for s in specs:
        assert (s.notebook, s.paper, s.dataset, s.data_kw, s.split, s.cap) == ("03", "p3", "fer2013", {}, {}, {})
        assert (s.train, s.val) == (("Training",), ("PublicTest",))
        assert [v["name"] for v in s.evaluate] == ["PrivateTest", "PublicTest"]
        assert s.config["max_batches"] is None and s.config["select"] == "val_acc" and not s.hooks
    assert len({s.label for s in specs}) == 9


def test_full_plan_vgg_trains_30_plus_60_epochs_in_one_run_as_the_paper_states():
    phase1 = claim("p3", "text §IV-C", "VGG", "initial training phase")
    phase2 = claim("p3", "text §IV-C", "VGG", "subsequent training phase")
    assert (phase1, phase2) == (30, 60)
    vgg = by_arm(p3_zhao.plan("full"))["VGG"]
    assert [s.config["epochs"] for s in vgg] == [90, 90, 90]       # one run per seed, not a 30 and a 60
    assert p3_zhao.values("full")["vgg_phase1"] == 30
    assert p3_zhao.settings("full")["epochs"]["source"].count("VGG 90: paper §IV.C") == 1


def test_where_the_paper_is_silent_the_plan_names_its_reading():
    s = p3_zhao.settings("full")
    epochs = s["epochs"]
    assert epochs["value"] == {"CNN": 30, "VGG": 90, "ResNet18": 60}
    assert "CNN 30: reading" in epochs["source"] and "ResNet18 60: reading" in epochs["source"]
    for name in ("optimizer", "lr", "batch_size", "augment", "resnet_gaussian_init", "saturation_pp", "seeds",
                 "max_batches"):
        assert s[name]["source"].startswith("reading"), name
    for name in ("init_std", "resnet_small_input", "vgg_phase1"):
        assert s[name]["source"].startswith("paper"), name
    cfg = {tuple(sorted(x.config.items())) for x in p3_zhao.plan("full")}
    assert {c["epochs"] for c in map(dict, cfg)} == {30, 60, 90}
    # the same recipe for the three models: only the epochs differ
    assert len({tuple((k, v) for k, v in c if k != "epochs") for c in cfg}) == 1
    one = p3_zhao.plan("full")[0].config
    assert (one["optimizer"], one["lr"], one["batch_size"], one["augment"]) == ("adam", 1e-3, 64, "standard")


def test_model_settings_follow_the_paper_init_and_stem():
    arms = {s.arm: s for s in p3_zhao.plan("full")}
    assert arms["CNN"].model_kw == arms["VGG"].model_kw == {"num_classes": 7, "init_std": 0.04}
    assert arms["ResNet18"].model_kw == {"num_classes": 7, "small_input": False, "init_std": None}
    for s in arms.values():
        assert create_model(s.model, **s.model_kw) is not None
    kw = {s.arm: s.model_kw for s in p3_zhao.plan("full", init_std=0, resnet_gaussian_init=True)}
    assert kw["CNN"]["init_std"] is None and kw["ResNet18"]["init_std"] is None     # 0: PyTorch's init
    kw = {s.arm: s.model_kw for s in p3_zhao.plan("full", resnet_gaussian_init=True)}
    assert kw["ResNet18"]["init_std"] == 0.04


def test_smoke_and_cpu_budgets_are_the_notebooks():
    b = p3_zhao.BUDGETS
    assert b["smoke"] == dict(seeds=[0, 1], epochs={"CNN": 2, "VGG": 2, "ResNet18": 2}, max_batches=1,
                              speed_batches=[1, 32], speed_repeats=5, speed_seconds=0.5, vgg_phase1=None)
    assert b["cpu"] == dict(seeds=[0], epochs={"CNN": 5, "VGG": 5, "ResNet18": 5}, max_batches=100,
                            speed_batches=[1, 256], speed_repeats=50, speed_seconds=8.0, vgg_phase1=None)
    assert p3_zhao.settings("cpu")["epochs"]["source"] == "budget (cpu profile)"
    smoke = p3_zhao.plan("smoke")
    assert len(smoke) == 6 and {s.dataset for s in smoke} == {"synthetic"}
    assert {s.config["max_batches"] for s in smoke} == {1}
    assert [s.keep for s in p3_zhao.plan("cpu")] == [("weights",), (), ()]   # the real-time CNN's weights


def test_overrides_replace_any_value_and_none_keeps_it():
    base = p3_zhao.plan("full")
    assert p3_zhao.plan("full", lr=None, epochs=None) == base
    got = p3_zhao.plan("full", lr=3e-4, epochs=4, seeds=[7], max_batches=10)
    assert len(got) == 3 and {s.seed for s in got} == {7}
    assert {(s.config["lr"], s.config["epochs"], s.config["max_batches"]) for s in got} == {(3e-4, 4, 10)}
    assert p3_zhao.values("full", epochs={"VGG": 30})["epochs"] == {"CNN": 30, "VGG": 30, "ResNet18": 60}
    assert p3_zhao.settings("full", lr=3e-4)["lr"]["source"].startswith("override (was 0.001, reading")
    with pytest.raises(ValueError, match="unknown parameter.*'learning_rate'"):
        p3_zhao.plan("full", learning_rate=1e-3)
    with pytest.raises(ValueError, match="epochs=.*keys must be among"):
        p3_zhao.plan("full", epochs={"AlexNet": 3})
    with pytest.raises(ValueError, match="profile='gpu'"):
        p3_zhao.plan("gpu")


def test_smoke_plan_keys_resolve_and_change_with_a_recipe_value():
    assert "fer_lib.papers.p3_zhao" in import_plan_modules()
    keys = [p.key for p in resolve(p3_zhao.plan("smoke"))]
    assert all(keys) and len(set(keys)) == 6
    assert [p.key for p in resolve(p3_zhao.plan("smoke"))] == keys                  # stable
    other = [p.key for p in resolve(p3_zhao.plan("smoke", lr=3e-4))]
    assert not set(other) & set(keys)


def test_analyses_plateau_and_saturation():
    import pandas as pd
    h = pd.DataFrame({"val_acc": [0.30, 0.50, 0.55, 0.555, 0.54]})
    assert p3_zhao.plateau_epoch(h) == 4
    assert p3_zhao.saturation_epoch(h, 1.0) == 3      # after epoch 3 the best gains 0.5 pp < 1 pp
    assert p3_zhao.saturation_epoch(h, 0.1) == 4


def test_analysis_rows_are_the_notebooks_records():
    """fer_lib.papers.p3_analysis: each *_rows function returns run.record(**row) arguments for paper p3, in the
    order the notebook records them; epochs are judged only where the budget can show them."""
    import numpy as np
    import pandas as pd

    from fer_lib.papers import p3_analysis as A
    from fer_lib.study.claims import claims_table
    s = p3_zhao.values("full")
    stored, cfg = {n: [0, 1] for n in p3_zhao.MODELS}, {n: {"epochs": 1} for n in p3_zhao.MODELS}
    acc = {(n, sp): [0.5, 0.6] for n in p3_zhao.MODELS for sp in p3_zhao.ACC_SPLITS}
    rows = A.accuracy_rows(acc, stored, cfg, s, "FER2013")
    assert len(rows) == 3 * 3 + 1 and all(r["paper"] == "p3" and r["pretrained"] is False for r in rows)
    assert [r["split"] for r in rows[:3]] == list(p3_zhao.ACC_SPLITS) and rows[-1]["row"] == "final model"
    assert list(A.accuracy_table(acc).columns) == ["paper (abstract)", *p3_zhao.ACC_SPLITS]

    h = pd.DataFrame({"train_acc": np.linspace(.2, .6, 90), "train_loss": 1.0, "val_acc": np.linspace(.2, .5, 90),
                      "val_loss": 1.0})
    hist = {(n, sd): h for n in p3_zhao.MODELS for sd in (0, 1)}
    rows, info = A.epoch_rows(hist, stored, cfg, s, "FER2013")              # full: 30-epoch CNN, 90-epoch VGG
    assert [r["row"] for r in rows] == ["CNN", "VGG"] and rows[0]["values"] == info["best_epochs"] == [90, 90]
    assert info["phase_change"] is not None and rows[1]["values"] == info["saturation"]
    rows, info = A.epoch_rows(hist, stored, cfg, p3_zhao.values("smoke"), "synthetic")
    assert rows[0]["values"] == rows[1]["values"] == [] and info["phase_change"] is None
    assert rows[0]["note"].startswith("not run") and rows[1]["note"].startswith("not run")

    paper_cm = claims_table("p3", "Table I")
    cms = {0: paper_cm, 1: paper_cm}
    cells = A.table_i_rows(cms, paper_cm, "VGG", cfg, "FER2013")
    assert len(cells) == 49 and cells[0]["values"] == [paper_cm.iloc[0, 0]] * 2 and cells[0]["seeds"] == [0, 1]
    assert [r["row"] for r in A.rate_rows(cms, "VGG", cfg, "FER2013")] == list(A.RATES)

    speed = pd.DataFrame([{"model": m, "batch": b, "device": "cpu", "repeats": 5, "median ms/face": 1.0,
                           "q25 ms/face": 0.9, "q75 ms/face": 1.1, "std ms/face": 0.1}
                          for m in p3_zhao.MODELS for b in (1, 32)])
    primary, rows = A.speed_rows(speed, "cpu", "FER2013", 2)
    assert (primary.model, primary.batch) == ("ResNet18", 1) and len(rows) == len(speed) + 1
    assert rows[0]["split"] == "ResNet18 · batch 1 · cpu" and rows[-1]["column"] == "processing time ± (ms)"
