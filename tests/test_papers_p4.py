"""Paper 4's run plan (fer_lib.papers.p4_khan): the full plan holds the runs and settings the paper states, readings
and deviations named; the lr is chosen on validation only; collapsed runs are kept and counted. Trains one batch."""
import json

import pytest

from fer_lib.study.claims import claim
from fer_lib.data import splits
from fer_lib.data.synthetic import make_synthetic
from fer_lib.papers import p4_khan as P4
from fer_lib.runs import hooks as H
from fer_lib.runs.plans import resolve
from fer_lib.runs.store import Store

PAPER = lambda col: claim("p4", "text §5", "proposed SDL model", col)


@pytest.fixture
def store(tmp_path):
    return Store.at(tmp_path / "store", "smoke")


def by_part(specs):
    out = {}
    for s in specs:
        out.setdefault((s.tags["part"], s.tags.get("sdl")), []).append(s)
    return out


def grid_record(spec, key, acc, collapsed=None, views=("PublicTest",)):
    return {"key": key, "spec": spec.to_dict(), "collapsed": collapsed,
            "metrics": {v: {"accuracy": acc, "loss": 1.0, "n": 10} for v in views}}


# ------------------------------------------------------------------------------------------ the full plan
def test_full_plan_holds_the_papers_runs_and_settings(store):
    specs = P4.plan("full", store=store, data_root="/nonexistent")   # no grid stored: main runs provisional
    parts = by_part(specs)
    n = int(claim("p4", "text §5.1", "confidence interval", "runs per dataset (n)"))
    assert n == 15
    # Table 7: n = 15 runs per dataset, on FER2013 and CK+ (ours), and CK+ under the paper's split.
    for key in (("fer", 2), ("ck", 2), ("ck_paper", 2)):
        assert sorted(s.seed for s in parts[key]) == list(range(n)), key
    # the ablation (no paper numbers): 5 runs per extra arm, a reading
    for key in (("fer", 0), ("fer", 1), ("ck", 0), ("ck", 1)):
        assert sorted(s.seed for s in parts[key]) == list(range(5)), key
    assert "reading" in P4.settings("full")["ablation_runs"]["source"]
    assert len(parts[("probe", None)]) == 3 and len(parts[("grid", None)]) == 3
    assert not any(s.dataset == "ferg" for s in specs)   # FERG absent here: no FERG run
    assert len(specs) == 3 + 3 + 3 * 15 + 4 * 5
    for s in specs:
        c = s.train_config()
        # paper §5: AdamW, × 0.9 every 10 epochs, L2 0.001 / 0.01 on fc1 / fc2, N(0, 0.05), best validation epoch
        assert (c.optimizer, c.scheduler, c.step_size, c.gamma) == ("adamw", "step", PAPER("LR decay interval"),
                                                                    PAPER("LR decay factor"))
        assert c.l2 == {"fc1.": PAPER("lambda1 (L2)"), "fc2.": PAPER("lambda2 (L2)")}
        assert s.model == "SpatialDeepLearning" and s.model_kw["init_std"] == PAPER("init std")
        assert c.oversample and c.augment == "light" and c.weight_decay == 0.0 and c.batch_size == 64
        assert c.amp is False                                   # fp32 (issue 19 item 15)
        if s.tags["part"] in ("fer", "ck", "ck_paper"):
            assert c.epochs == PAPER("training epochs") == 300 and c.max_batches is None and c.select == "val_acc"
    st = P4.settings("full")
    for name in ("batch_size", "augment", "adamw_weight_decay", "ck_peak_frames"):
        assert st[name]["source"].startswith("reading"), name
    for name in ("lr", "lr_grid", "amp", "probe_seeds", "grid_epochs"):
        assert st[name]["source"].startswith("deviation"), name
    for name in ("epochs", "seeds", "gamma", "step_size", "lambda1", "lambda2", "init_std", "paper_lr"):
        assert st[name]["source"].startswith("paper"), name


def test_probe_runs_the_papers_lr_for_one_epoch_on_validation_only(store):
    probe = by_part(P4.plan("full", store=store, data_root="/nonexistent"))[("probe", None)]
    for s in probe:
        c = s.train_config()
        assert c.lr == PAPER("initial learning rate") == 0.03 and c.epochs == 1 and c.select == "last"
        assert [v["split"] for v in s.evaluate] == ["PublicTest"]


def test_grid_never_evaluates_a_test_split(store):
    for s in by_part(P4.plan("full", store=store, data_root="/nonexistent"))[("grid", None)]:
        assert [v["split"] for v in s.evaluate] == ["PublicTest"] and list(s.val) == ["PublicTest"]
        assert s.train_config().lr in (3e-4, 1e-3, 3e-3)


def test_ck_both_ways():
    specs = P4.plan("cpu", lr=1e-3, data_root="/nonexistent")
    parts = by_part(specs)
    ours, paper = parts[("ck", 2)], parts[("ck_paper", 2)]
    assert [s.split["kind"] for s in ours] == ["group_kfold"] * 3 and [s.split["fold"] for s in ours] == [0, 1, 2]
    assert all(s.split == P4.ck_paper_split(s.seed) and s.split["stratify"] for s in paper)
    assert {s.tags["protocol"] for s in paper} == {"paper: random 80/10/10"}
    assert not P4.plan("cpu", lr=1e-3, ck_paper_split=False, data_root="/nonexistent") == specs
    # the stratified split keeps each class's share in each part
    ds = make_synthetic({"all": 140}, seed=1)
    r = splits.random_split(ds, (0.8, 0.1, 0.1), ("train", "val", "test"), seed=3, stratify=True)
    for c in range(7):
        assert (r.labels[r.split == "test"] == c).sum() == 2 and (r.labels[r.split == "train"] == c).sum() == 16


def test_overrides_and_bad_names():
    s = P4.plan("smoke", lr=0.03, seeds=[4], data_root="/nonexistent")
    assert not any(x.tags["part"] == "grid" for x in s)
    assert {x.train_config().lr for x in s} == {0.03} and {x.seed for x in s if x.tags["part"] == "fer"} == {4}
    assert P4.settings("smoke", lr=0.03)["lr"]["source"].startswith("override")
    with pytest.raises(ValueError, match="lr_gird"):
        P4.plan("smoke", lr_gird=[1e-3])
    with pytest.raises(ValueError, match="lr="):
        P4.values("smoke", lr=-1)


# ------------------------------------------------------------------------------------------ lr selection
def test_select_lr_reads_validation_only():
    specs = P4.selection_plan("cpu")
    grid = [s for s in specs if s.tags["part"] == "grid"]
    recs = [grid_record(s, f"k{i}", acc) for i, (s, acc) in enumerate(zip(grid, (0.40, 0.52, 0.52)))]
    lr, table = P4.select_lr(recs)
    assert lr == 1e-3                                   # tie with 3e-3: the smaller lr
    assert table.set_index("lr")["chosen"].to_dict() == {3e-4: False, 1e-3: True, 3e-3: False}
    # a collapsed run scores 0, whatever its accuracy
    recs[1]["collapsed"] = "validation predictions collapsed: 100.0 % in class 'happy'"
    assert P4.select_lr(recs)[0] == 3e-3
    # a grid record carrying a test view is refused: the choice may not see test
    with pytest.raises(ValueError, match="validation"):
        P4.select_lr([grid_record(grid[0], "k", 0.5, views=("PublicTest", "PrivateTest"))])
    with pytest.raises(ValueError, match="not a grid run"):
        P4.select_lr([grid_record(specs[0], "k", 0.5)])
    # every lr collapsed: the raw validation accuracy decides, with a warning
    for r in recs:
        r["collapsed"] = "training accuracy at chance"
    with pytest.warns(UserWarning, match="every grid lr collapsed"):
        assert P4.select_lr(recs)[0] == 1e-3


def test_main_runs_wait_for_the_grid_then_use_its_choice(store):
    main = lambda specs: [s for s in specs if s.tags["part"] not in ("probe", "grid")]
    pending = main(P4.plan("smoke", store=store))
    assert {s.tags["lr_source"] for s in pending} == {"provisional: grid pending"}
    assert all(any(h["name"] == "p4.lr_pending" for h in s.hooks) for s in pending)
    with pytest.raises(RuntimeError, match="provisional"):
        H.build(next(h for h in pending[0].hooks if h["name"] == "p4.lr_pending"),
                H.HookContext(spec=pending[0], key="k", device="cpu"))
    planned = [p for p in resolve(P4.selection_plan("smoke")) if p.spec.tags["part"] == "grid"]
    for p, acc in zip(planned, (0.3, 0.6)):                  # lr_grid (smoke) = [1e-3, 3e-3]
        store.put(grid_record(p.spec, p.key, acc))
    chosen = main(P4.plan("smoke", store=store))
    assert {s.train_config().lr for s in chosen} == {3e-3}
    assert {s.tags["lr_source"] for s in chosen} == {"grid (validation)"}
    assert not any(h["name"] == "p4.lr_pending" for s in chosen for h in s.hooks)
    assert {p.key for p in resolve(chosen)}.isdisjoint({p.key for p in resolve(pending)})


# ------------------------------------------------------------------------------------------ collapse rule
def test_collapse_rule_keeps_and_counts():
    recs = [{"spec": {"arm": "a", "seed": i, "config": {"lr": 1e-3}}, "collapsed": c}
            for i, c in enumerate([None, "training accuracy at chance", None])]
    assert P4.apply_collapse_rule(recs) == recs                       # the rule: no selection on outcome
    assert [r["spec"]["seed"] for r in P4.apply_collapse_rule(recs, "exclude")] == [0, 2]
    t = P4.collapsed_runs(recs)
    assert t["seed"].tolist() == [1] and "chance" in t["why"].iloc[0]
    with pytest.raises(ValueError, match="on_collapse"):
        P4.apply_collapse_rule(recs, "drop")
    probe = [{"collapsed": "x", "metrics": {"PublicTest": {"accuracy": 0.25}}},
             {"collapsed": None, "metrics": {"PublicTest": {"accuracy": 0.4}}}]
    s = P4.probe_summary(probe, failures=[{"error": "FloatingPointError"}])
    assert (s["n"], s["collapsed"], s["diverged"]) == (3, 2, 1)


# ------------------------------------------------------------------------------------------ one real run
def test_one_run_records_clean_train_accuracy_and_saliency(store):
    from fer_lib.runs.execute import execute
    from fer_lib.saliency import unpack
    spec = next(s for s in P4.plan("smoke", lr=1e-3, epochs=1, max_batches=1, seeds=[0])
                if s.tags["part"] == "fer" and s.tags["sdl"] == 2)
    rec = execute(spec, None, "cpu", store)
    assert rec["metrics"]["p4.train_clean"]["n"] == 350 and 0 <= rec["metrics"]["p4.train_clean"]["accuracy"] <= 1
    e = unpack(rec["metrics"]["p4.saliency"])
    assert e["image"].shape[1:] == (48, 48) and e["stn"] is not None and len(e["index"]) == 7
    assert len(json.dumps(rec)) < 200_000
    acc = P4.accuracies([rec])
    assert acc["test"] == [rec["metrics"]["PrivateTest"]["accuracy"]] and len(P4.accuracy_table([rec])) == 3
