"""Paper 4's run plan (fer_lib.papers.p4_khan): the full plan holds the runs and settings the paper states, readings
and deviations named; the lr is chosen on validation only; collapsed runs are kept and counted. Trains one batch."""
import json

import pandas as pd
import pytest

from fer_lib.study.claims import claim
from fer_lib.data import splits
from fer_lib.data.synthetic import make_synthetic
from fer_lib.papers import p4_analysis as A, p4_khan as P4
from fer_lib.runs import hooks as H
from fer_lib.runs.plans import resolve
from fer_lib.runs.store import Store

PAPER = lambda col: claim("p4", "text §5", "proposed SDL model", col)


@pytest.fixture
def store(tmp_path):
    return Store.at(tmp_path / "store", "smoke")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One stored smoke run of the full SDL model on FER2013's stand-in (one batch): a real record to analyse."""
    from fer_lib.runs.execute import execute
    spec = next(s for s in P4.plan("smoke", lr=1e-3, epochs=1, max_batches=1, seeds=[0])
                if s.tags["part"] == "fer" and s.tags["sdl"] == 2)
    return execute(spec, None, "cpu", Store.at(tmp_path_factory.mktemp("store"), "smoke"))


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
def test_one_run_records_clean_train_accuracy_and_saliency(smoke_run):
    from fer_lib.saliency import unpack
    rec = smoke_run
    assert rec["metrics"]["p4.train_clean"]["n"] == 350 and 0 <= rec["metrics"]["p4.train_clean"]["accuracy"] <= 1
    e = unpack(rec["metrics"]["p4.saliency"])
    assert e["image"].shape[1:] == (48, 48) and e["stn"] is not None and len(e["index"]) == 7
    assert len(json.dumps(rec)) < 200_000
    acc = P4.accuracies([rec])
    assert acc["test"] == [rec["metrics"]["PrivateTest"]["accuracy"]] and len(P4.accuracy_table([rec])) == 3


# ------------------------------------------------------------------------------------------ the notebook's analyses
def records_of(rows):
    from fer_lib.study.results import record
    return [record(**row, profile="smoke", hw="test") for row in rows]


class FakeRuns:
    """The part of fer_lib.runs.Runs the analyses read: select(**tags) and records."""
    def __init__(self, records):
        self.records = records

    def select(self, **tags):
        return FakeRuns([r for r in self.records if all(r["spec"]["tags"].get(k) == v for k, v in tags.items())])


def test_count_rows_follow_the_data():
    fer, ck = P4.datasets("smoke")
    c = fer.counts()
    t2 = A.table2_rows(fer, "synthetic")
    assert len(t2) == 2 * (len(fer.classes) + 1)
    assert {r["split"] for r in t2} == {"Training", "PublicTest+PrivateTest"}
    total = {r["row"]: r["values"] for r in t2 if r["column"] == "Total"}
    assert total == {"Training": 350, "Validation & Testing": 280} == {
        "Training": int(c.loc["total", "Training"]),
        "Validation & Testing": int(c.loc["total", ["PublicTest", "PrivateTest"]].sum())}
    t4 = A.table4_rows(ck, "synthetic", 1)   # the stand-in has no sequences: one image = one sequence
    assert t4[-1]["column"] == "Total" and t4[-1]["values"] == len(ck) == sum(r["values"] for r in t4[:-1])
    sc = {(r["source"], r["row"], r["column"]): r["values"] for r in A.split_count_rows(fer, "synthetic")}
    assert sc[("text §4.1", "FER-2013", "total images")] == len(fer) == 630
    assert sc[("text §5", "split", "test images")] == sc[("text §5.2", "all classes", "test samples")] == 140
    assert len(sc) == 6 + 6 + 1 and ("text §5.2", "Disgust", "test samples") not in sc   # §5.2 lists six classes
    assert A.paper_test_split(fer) == []   # 20 per class: neither split holds the paper's counts


def test_model_checks_l2_reaches_fc1_fc2_only():
    lines, convs = A.model_checks(P4.values("smoke"))
    assert lines[:3] == ["'fc1.' reaches: ['fc1.weight']", "'fc2.' reaches: ['fc2.weight']",
                         "engine penalty equals 0.5 (l1 sum W1^2 + l2 sum W2^2): True"]
    assert convs["baseline branch"] == 4 and lines[3].endswith(f"total {sum(convs.values())}")


def test_rows_from_a_stored_run(smoke_run):
    rec, s = smoke_run, P4.values("smoke")
    acc = P4.accuracies([rec])
    rows = A.fer_rows([rec], s, 1e-3, True, "synthetic", dedup=(3, [0.5]))
    cells = {(r["source"], r["column"], r["split"]): r for r in rows}
    assert len(rows) == 9 and {r["seeds"][0] for r in rows} == {0}
    for src in ("text §5", "abstract", "text §6"):
        col = "FER-2013 " + ("test accuracy (%)" if src == "text §5" else "accuracy (%)")
        assert cells[(src, col, "PrivateTest")]["values"] == acc["test"]
    assert cells[("Table 3", "Accuracy", "PrivateTest")]["row"] == "The proposed Model"
    assert cells[("text §5", "FER-2013 test accuracy (%)", "PrivateTest (deduplicated)")]["values"] == [0.5]
    assert "chosen on validation" in cells[("Table 3", "Accuracy", "PrivateTest")]["note"]
    h = rec["history"]
    assert cells[("text §5", "validation loss at epoch 184", "PublicTest")]["values"] == [
        h["rows"][rec["best_epoch"]][h["columns"].index("val_loss")]]
    assert len(A.fer_rows([rec], s, 1e-3, False, "synthetic")) == 8   # no dedup: no deduplicated row

    ck = A.ck_rows([rec], [rec], s, "synthetic")
    assert [r["split"] for r in ck] == ["train", "test", "test", "test", "test (the paper's random 80/10/10 split)"]
    assert len(A.ck_rows([rec], [], s, "synthetic")) == 4
    ferg = A.ferg_rows([], "not run: dataset absent")
    assert len(ferg) == 5 and all(r["values"] == [] and r["note"].startswith("not run") for r in ferg)

    t7_rows, t7 = A.table7([("FER-2013", [0.5, 0.7], "synthetic"), ("FERG", [], "FERG")], [0, 1, 2], "not run")
    assert len(t7_rows) == 6 and t7_rows[0]["seeds"] == [0, 1] and t7_rows[3]["seeds"] == []
    assert t7_rows[1]["values"] == [pytest.approx(100 * 0.1 * 2 ** 0.5)]   # σ (pp) of 0.5, 0.7 (ddof 1)
    assert list(t7.index) == ["FER-2013", "FERG"]

    preds = A.test_predictions([rec])
    t8, rep = A.table8([rec], preds, rec["classes"], "synthetic")
    assert len(t8) == 7 * 3 + 6 + 2 and rep.shape[0] >= 7
    t8c = {(r["source"], r["row"], r["column"]): r["values"] for r in t8}
    assert t8c[("text §5.2", "all classes", "correct")] == [int((preds[0].y_pred == preds[0].y_true).sum())]
    assert t8c[("text §5.2", "all classes", "accuracy (%)")] == acc["test"]
    assert len(A.table9_rows([], "not run")) == 21

    probe = P4.probe_summary([rec], [{"seed": 5}])
    pr = A.probe_rows([rec], probe, [{"seed": 5}], s, "synthetic")
    assert pr[0]["values"] == [0.0, 1.0] and pr[0]["seeds"] == [0, 5] and pr[3]["values"] == probe["collapsed"]
    assert A.grid_rows(None, 0.03, s, "synthetic") == []
    grid = pd.DataFrame({"lr": [1e-3, 3e-3], "val_acc": [0.3, 0.4], "collapsed": [0, 1]})
    assert [r["column"] for r in A.grid_rows(grid, 3e-3, s, "synthetic")] == [
        "PublicTest accuracy at lr 0.001", "PublicTest accuracy at lr 0.003", "chosen lr"]

    rows, table = A.ablation(FakeRuns([rec]), s, {"fer": "synthetic", "ck": "synthetic"}, 7)
    assert len(rows) == 6 and rows[2]["values"] == acc["test"] and rows[0]["values"] == []
    from fer_lib.models.sdl import SpatialDeepLearning
    assert list(table.index) == list(P4.SDL_ARMS.values())
    assert table["parameters"].iloc[-1] == sum(p.numel() for p in SpatialDeepLearning(num_classes=7).parameters())

    records = records_of(rows + A.fer_rows([rec], s, 1e-3, True, "synthetic") + ck)
    closing = A.closing_table(records)
    assert closing["source"].tolist()[:3] == ["Table 3", "text §5", "text §5"]
    lines = A.headline(acc, acc, acc, [], "not run: dataset absent", 1e-3, probe, s)
    assert len(lines) == 4 and lines[2] == "FERG: not run: dataset absent"
    assert lines[3].startswith(f"paper lr 0.03 probe: collapsed in {probe['collapsed']} of 2 seeds")
    t3 = A.comparison("Table 3", {"ours": acc["test"]}, "smoke")
    assert t3.loc["ours", "accuracy (%)"] == pytest.approx(100 * acc["test"][0])
    assert t3.loc["The proposed Model", "what"] == "the paper's own claim"


def test_figures_from_a_stored_run(smoke_run):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rec = smoke_run
    assert A.closest_to_mean([rec]) == 0
    fig, line = A.fig12_13([rec], A.test_predictions([rec]), "synthetic")
    assert line.startswith("seed 0: ") and line.endswith("140 test images correct")
    fig2 = A.fig14(A.test_predictions([rec, rec]), "synthetic")
    fig3, line3 = A.saliency_figure([rec], rec["classes"], "synthetic")
    assert "mean |STN view - input|" in line3
    assert A.saliency_figure([], rec["classes"], "CK+") == (None, "CK+: no stored run")
    for f in (fig, fig2, fig3):
        plt.close(f)
