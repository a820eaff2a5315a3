"""fer_lib.papers.protocol (alias fer_lib.papers.protocol): the common protocol's models, run plan and test views; the
summary's table of them."""
import numpy as np
import pandas as pd
import pytest
import torch

from fer_lib.papers import protocol
from fer_lib.data.synthetic import make_synthetic
from fer_lib.study.results import record, write_results
from fer_lib.study.summary import protocol_table, readme_block

torch.set_num_threads(1)


@pytest.mark.parametrize("name", list(protocol.MAIN_MODELS))
def test_every_main_model_classifies_48x48_grey_faces(name):
    model = protocol.build(name, pretrained=None).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 48, 48))
    assert out.shape == (2, 7)
    assert protocol.pretrained_flag(model) is False
    assert protocol.MAIN_MODELS[name].paper in {"p1", "p2", "p3", "p4", "p5"}


def test_one_model_per_paper_and_unknown_name_is_a_clear_error():
    assert sorted(m.paper for m in protocol.MAIN_MODELS.values()) == ["p1", "p2", "p3", "p4", "p5"]
    with pytest.raises(ValueError, match="unknown protocol model 'p9'"):
        protocol.build("p9")


class _Constant(torch.nn.Module):
    """7 logits: class 0 for bright images, class 1 for dark ones."""

    def forward(self, x):
        m = x.mean(dim=(1, 2, 3), keepdim=True).flatten(1) - 0.5
        return torch.cat([m, -m, torch.zeros(len(x), 5)], dim=1)


def test_test_views_split_clean_and_duplicates_and_degrade_by_each_factor():
    test = make_synthetic({"PrivateTest": 40}, seed=3).take("PrivateTest")
    clean = np.arange(40) % 4 != 0
    views = protocol.test_views(_Constant(), test, clean, factors=[1, 2, 4], device="cpu")
    assert list(views) == ["PrivateTest", "PrivateTest clean", "PrivateTest duplicates",
                           "PrivateTest x1", "PrivateTest x2", "PrivateTest x4"]
    assert len(views["PrivateTest clean"].y_true) == 30 and len(views["PrivateTest duplicates"].y_true) == 10
    assert views["PrivateTest x1"].accuracy == views["PrivateTest"].accuracy
    # the clean and duplicated parts partition the test set: accuracies recombine
    acc = (30 * views["PrivateTest clean"].accuracy + 10 * views["PrivateTest duplicates"].accuracy) / 40
    assert acc == pytest.approx(views["PrivateTest"].accuracy)
    with pytest.raises(ValueError, match="clean mask has shape"):
        protocol.test_views(_Constant(), test, clean[:5], factors=[1])


def _rec(paper, source, row, column, vals, split):
    return record(paper, source, row, column, vals, profile="cpu", dataset="FER2013", split=split, hw="test")


def test_protocol_table_and_readme_block(tmp_path):
    assert protocol_table(pd.DataFrame()).empty
    recs = [_rec("p3", "protocol", "p3 ResNet18", "accuracy", [0.60, 0.62], "PrivateTest"),
            _rec("p3", "clean test", "p3 ResNet18", "accuracy", [0.59, 0.61], "PrivateTest clean"),
            _rec("p3", "resolution", "p3 ResNet18", "accuracy at x2", [0.5, 0.52], "PrivateTest x2"),
            _rec("p3", "resolution", "p3 ResNet18", "mean accuracy x1-x8", [0.4, 0.42], "PrivateTest x1/x2"),
            _rec("p3", "abstract", "ResNet", "accuracy (%)", [0.6], "PrivateTest")]
    write_results("06_common_protocol", "cpu", recs, root=tmp_path)
    from fer_lib.study.results import read_results
    t = protocol_table(read_results("cpu", tmp_path))
    assert list(t.columns) == ["rank", "comparable", "PrivateTest", "clean", "x2", "mean x1-x8"]
    assert t.loc[("p3", "p3 ResNet18"), "PrivateTest"] == "61.00 (n=2)"    # no interval under 3 seeds
    md = readme_block(("full", "cpu"), root=tmp_path)
    assert "(`06_common_protocol`, profile `cpu`)" in md and "profile `full`)" not in md
    assert "| paper | model | rank | comparable | PrivateTest | clean | x2 | mean x1-x8 |" in md
    assert "#### One protocol" not in readme_block(("full",), root=tmp_path)   # no protocol records in full


# ---------------------------------------------------------------- the plan (fer_lib/papers/protocol.py)
from fer_lib.papers import protocol as P  # noqa: E402
from fer_lib.runs.plans import resolve  # noqa: E402


def test_alias_module_is_the_papers_module_and_models_come_from_the_registry():
    from fer_lib.models import registry
    assert protocol.MAIN_MODELS is P.MAIN_MODELS and protocol.build is P.build
    assert all(m.model in registry.MODELS for m in P.MAIN_MODELS.values())
    assert P.MAIN_MODELS["p5 ResNet18 MSTrain"].batch_fn is not None and P.MAIN_MODELS["p3 ResNet18"].batch_fn is None


def test_full_plan_one_recipe_every_model_three_seeds_and_the_degraded_views():
    specs = P.plan("full")
    assert len(specs) == 5 * 3 and {s.seed for s in specs} == {0, 1, 2}
    assert len({tuple(sorted(s.config.items())) for s in specs}) == 1      # one recipe for all
    cfg = specs[0].config
    assert (cfg["optimizer"], cfg["lr"], cfg["batch_size"], cfg["augment"], cfg["epochs"], cfg["max_batches"]) == \
        ("adam", 1e-3, 64, "standard", 30, None)
    views = [v["name"] for v in specs[0].evaluate]
    assert views == ["PrivateTest", "PrivateTest x2", "PrivateTest x4", "PrivateTest x6", "PrivateTest x8"]
    assert {v["split"] for v in specs[0].evaluate} == {"PrivateTest"}
    hooks = {s.arm: [h["name"] for h in s.hooks] for s in specs}
    assert hooks["p5 ResNet18 MSTrain"] == ["resolution.random_factor"]
    assert hooks["p2 ResNet50+CNN"] == ["protocol.pretrained"] and hooks["p3 ResNet18"] == []
    p2 = [s for s in specs if s.paper == "p2"][0]
    assert p2.model_kw == {"pretrained": "imagenet"}
    assert [s for s in P.plan("full", p2_weights="none") if s.paper == "p2"][0].model_kw == {"pretrained": None}


def test_budgets_overrides_and_smoke_keys():
    assert P.BUDGETS == {"smoke": dict(seeds=[0], epochs=1, max_batches=2),
                         "cpu": dict(seeds=[0, 1], epochs=2, max_batches=150),
                         "full": dict(seeds=[0, 1, 2], epochs=30, max_batches=None)}
    got = P.plan("cpu", models=["p3 ResNet18"], epochs=5, factors=[1, 2])
    assert [s.arm for s in got] == ["p3 ResNet18"] * 2 and got[0].config["epochs"] == 5
    assert [v["name"] for v in got[0].evaluate] == ["PrivateTest", "PrivateTest x2"]
    with pytest.raises(ValueError, match="unknown parameter"):
        P.plan("cpu", lr_max=1)
    with pytest.raises(ValueError, match="models=\\['p9'\\]"):
        P.plan("cpu", models=["p9"])
    smoke = [p.key for p in resolve(P.plan("smoke"))]
    assert all(smoke) and len(set(smoke)) == 5
