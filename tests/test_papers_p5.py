"""Paper 5's run plan (fer_lib.papers.p5_wang): the full plan holds what the paper states, names its readings,
trains DA on two domains (source ×1, target ×2), and every recipe runs through the run executor."""
import pytest

from fer_lib.study.claims import claim
from fer_lib.models.drg import FACTORS
from fer_lib.papers import p5_wang as P
from fer_lib.runs.spec import RunSpec


def _arms(specs):
    return {s.arm for s in specs}


def test_full_plan_holds_the_papers_settings():
    specs = P.plan("full")
    assert all(isinstance(s, RunSpec) and s.notebook == "05" and s.paper == "p5" for s in specs)
    for s in specs:   # §5.2: Adam, lr 3e-4, batch 256, "80 iterations" (read as epochs), flip
        c = s.config
        assert c["optimizer"] == "adam" and c["lr"] == claim("p5", "text §5.2", "training", "learning rate")
        assert c["batch_size"] == claim("p5", "text §5.2", "training", "batch size") == 256
        assert c["epochs"] == claim("p5", "text §5.2", "training", "iterations") == 80
        assert c["augment"] == "flip" and c["max_batches"] is None
        assert s.dataset == "ferplus" and s.data_kw == {"mode": "majority"} and s.cap == {}
        assert {"name": "p5.resize", "kw": {"size": 100}} in s.hooks      # §5.1: original input size 100
        assert s.train == ("Training",) and s.val == ("PublicTest",)
    seeds = sorted({s.seed for s in specs})
    assert len(seeds) >= 3
    per_seed = [s for s in specs if s.seed == seeds[0]]
    rows = [f"Table 3 · x{k}" for k in FACTORS] + ["Table 3 · x1&x2", "Table 3 · x1&x2&x4",
                                                     "Table 3 · x1&x2&x4&x6", "Table 3 · x1&x2&x4&x6&x8"]
    assert _arms(per_seed) == set(rows) | {"RRN", "RA-BN", "DA", "DA (5 domains)"}
    assert len(specs) == len(per_seed) * len(seeds)
    mstrain = next(s for s in per_seed if s.tags.get("role") == "MSTrain")
    assert mstrain.tags["factors"] == list(FACTORS)                     # MSTrain = all five factors


def test_da_is_two_domains_in_the_papers_column_and_five_only_as_an_extension():
    specs = [s for s in P.plan("full") if s.seed == 0]
    da = next(s for s in specs if s.arm == "DA")
    assert da.model == "DANN" and da.model_kw["num_domains"] == 2 and da.tags["column"] == "DA"
    assert da.tags["factors"] == [1, 2]
    assert all(h["kw"]["factors"] == [1, 2] for h in da.hooks if h["name"].startswith("p5.") and "factors" in h["kw"])
    ext = next(s for s in specs if s.arm == "DA (5 domains)")
    assert ext.model_kw["num_domains"] == 5 and "extension" in ext.tags["column"]
    assert "DA (5 domains)" not in _arms(P.plan("full", da_extension=False))


def test_no_run_needs_weights_and_records_carry_what_the_analyses_assemble():
    """Rendering from a complete store needs no weights: nothing is kept but predictions, and each record
    carries the grid its analysis reads (RA-BN: every branch at every factor; the RRN: its routing at ×12-×16)."""
    specs = [s for s in P.plan("full") if s.seed == 1]
    assert all(not s.needs and "weights" not in s.keep for s in specs)
    by = {s.arm: s for s in specs}
    hooks = lambda s: {h["name"]: h["kw"] for h in s.hooks}
    assert hooks(by["RA-BN"])["p5.rabn_grid"]["factors"] == list(FACTORS)
    assert hooks(by["RRN"])["p5.grid"]["grid"] == [["PrivateTest", [12, 14, 16], "pred"]]
    assert [v["batch_fn"]["kw"]["target_index"] for v in by["RRN"].evaluate] == list(range(len(FACTORS)))
    x1 = hooks(by["Table 3 · x1"])
    assert x1["p5.fig2"]["factors"][:16] == list(range(1, 17)) and x1["p5.fig2"]["n_images"] == 1000
    assert x1["p5.grid"]["grid"] == [["val", list(FACTORS), "accuracy"], ["PrivateTest", [12, 14, 16], "both"]]
    assert "p5.fig2" not in hooks(by["Table 3 · x2"])
    assert len(by["Table 3 · x1&x2"].evaluate) == 8                       # joint rows: all Table 3 columns


def test_readings_are_named_and_switchable():
    src = P.sources("full")
    for k in ("net_size", "pretrained", "ferplus_mode", "select", "seeds", "fig2_normalise", "da_class_on"):
        assert src[k].startswith("reading"), k
    assert src["lr"].startswith("paper") and src["epochs"].startswith("reading")   # "80 iterations" -> epochs
    assert "28,389" in src["ferplus_mode"] and "28,709" in src["ferplus_mode"]
    big = P.plan("full", net_size=224, lr=1e-4, ferplus_mode="probability", pretrained="/nowhere/r18.pth")[0]
    assert big.config["lr"] == 1e-4 and big.data_kw == {"mode": "probability"}
    assert all(v["batch_fn"]["kw"]["out_size"] == 224 for v in big.evaluate)
    assert {"name": "p5.imagenet_init", "kw": {"source": "/nowhere/r18.pth"}} in big.hooks
    with pytest.raises(ValueError, match="unknown parameter"):
        P.plan("full", learning_rate=1)
    with pytest.raises(ValueError, match="not planned"):
        P.plan("full", dataset="affectnet")


def test_records_stay_small_enough():
    """Only the five FER blocks keep probabilities (the Mean/Max fusion), on the five factors only; a block's
    record at the full profile's size (FERPlus majority PrivateTest: 3,153 images, 80 epochs) stays ~200 KB."""
    import numpy as np

    from fer_lib.runs.store import dumps_record, encode_labels, encode_probs
    for s in P.plan("full"):
        if "probs" in s.keep:
            assert s.tags["role"] == "FER block" and len(s.evaluate) == len(FACTORS)
    n, rng = 3153, np.random.default_rng(0)
    lab = lambda k: encode_labels(rng.integers(0, k, n))
    p = rng.dirichlet(np.ones(8), n)
    block = {"spec": P.plan("full")[0].to_dict(), "labels": {"PrivateTest": lab(8)},
             "predictions": {f"PrivateTest x{k}": {"split": "PrivateTest", "pred": lab(8), "probs": encode_probs(p)}
                             for k in FACTORS},
             "metrics": {"p5.grid": {f"PrivateTest x{k} pred": lab(8) for k in (12, 14, 16)},
                         "p5.fig2": {c: [1.2345678] * 20 for c in "abcde"}},
             "history": {"columns": [f"c{i}" for i in range(10)], "rows": [[0.1234567] * 10] * 80}}
    rabn = {"metrics": {"p5.rabn_grid": {f"BN x{b} x{k}": lab(8) for b in FACTORS for k in FACTORS}}}
    assert len(dumps_record(block)) < 215_000 and len(dumps_record(rabn)) < 100_000


# ----------------------------------------------------------------------------- record-based assembly vs live
def _smoke_plan(**kw):
    tiny = {"counts": {"train": 60, "val": 20, "test": 30}, "size": 32, "low_res_p": 0.0}
    return P.plan("smoke", max_batches=2, rrn_max_batches=2, batch_size=20, data_kw=tiny, fig2_images=8, **kw)


def test_record_routing_equals_the_live_composition(tmp_path):
    """DRGFER (RRN and oracle) and RA-BN (RRN and oracle) assembled from stored predictions give, image by image,
    what drg.DRGFER / resolution.Routed / AtIndex give when the trained networks are composed live."""
    import numpy as np
    import torch

    from fer_lib.papers import p5_resolution as R
    from fer_lib.models.drg import DRGFER, MRAFER
    from fer_lib.models.registry import create_model
    from fer_lib.runs import assemble
    from fer_lib.runs.data import prepare
    from fer_lib.runs.store import Store
    store = Store.at(tmp_path, "smoke")
    specs = [s.replace(keep=tuple(s.keep) + ("weights",)) for s in _smoke_plan(da_extension=False)]
    runs = assemble(None, specs, store=store, device="cpu")
    recs = P.seed_records(runs)[0]

    def net(arm):
        s = next(x for x in specs if x.arm == arm)
        m = create_model(s.model, **s.model_kw)
        key = next(p.key for p in runs.planned if p.spec.arm == arm)
        m.load_state_dict(torch.load(store.artefact_dir(key) / "weights.pt", weights_only=True))
        return m.eval()
    blocks = [net(f"Table 3 · x{k}") for k in FACTORS]
    rrn, rabn = net("RRN"), net("RA-BN")
    live = DRGFER(rrn, MRAFER(len(FACTORS), lambda k: blocks[k])).eval()
    test = prepare(specs[0]).views["test"]
    ev = dict(mean=0.5, std=0.5, batch_size=64)
    g = R.predict_grid({"DRGFER": live, "RA-BN": R.Routed(rabn, rrn),
                        "oracle": lambda k: R.Oracle(live, FACTORS.index(k)) if k in FACTORS else None,
                        "RA-BN oracle": lambda k: R.AtIndex(rabn, FACTORS.index(k)) if k in FACTORS else None},
                       test, R.TABLE3_FACTORS, **ev)
    for k in R.TABLE3_FACTORS:
        assert np.array_equal(P.drgfer(recs, k), g[("DRGFER", k)].y_pred), k
        if k in FACTORS:
            assert np.array_equal(P.drgfer(recs, k, "oracle"), g[("oracle", k)].y_pred), k
            assert np.array_equal(P.rabn(recs, k), g[("RA-BN", k)].y_pred), k
            assert np.array_equal(P.rabn(recs, k, "oracle"), g[("RA-BN oracle", k)].y_pred), k
    t3, t2 = P.table3(recs)[0], P.table2(recs, da_extension=False)
    assert t3.loc["DRGFER", "x12"] == g[("DRGFER", 12)].accuracy
    assert t2.loc["x4", "RA-BN"] == g[("RA-BN", 4)].accuracy
    # Mean / Max: the records' 8-bit probabilities fused (P.table2) vs the live drg.Ensemble of the trained blocks.
    # A stored probability is the live one rounded to 1/255 (its argmax nudged by 1e-3: store.predictions), so a fused
    # score moves by <= TOL and a fused prediction may flip only where the live top-2 margin is <= 2 TOL (a near-tie);
    # everywhere else they agree exactly. These 2-step networks are near-uniform, so near-ties are common here
    # (21 of 300 fused predictions differed in one run, all near-ties; only 17 of 300 had a margin > 2 TOL).
    TOL = 0.5 / 255 + 1e-3 + 1e-6
    from fer_lib.models.drg import Ensemble
    from fer_lib.runs.store import predictions
    live_fuse = R.predict_grid({"Mean": Ensemble(blocks, "mean"), "Max": Ensemble(blocks, "max")}, test, FACTORS, **ev)
    live_blocks = R.predict_grid({b: blocks[i] for i, b in enumerate(FACTORS)}, test, FACTORS, **ev)
    n_decisive = n_all = 0   # fused predictions with a margin > 2 TOL, all fused predictions
    for k in FACTORS:
        stored = [predictions(recs[f"Table 3 · x{b}"], f"test x{k}") for b in FACTORS]
        for b, p in zip(FACTORS, stored):   # the record holds the live block's softmax to within its 8 bits
            assert np.abs(p.probs - live_blocks[(b, k)].probs).max() <= TOL, (b, k)
        for how in ("mean", "max"):
            rec, live = R.fuse(stored, how), live_fuse[(how.title(), k)]
            exact = R.fuse([live_blocks[(b, k)] for b in FACTORS], how)   # full-precision probabilities
            assert np.array_equal(exact.y_pred, live.y_pred), (how, k)   # fuse == drg.Ensemble
            top2 = np.sort(exact.probs, axis=1)[:, -2:]
            decisive = top2[:, 1] - top2[:, 0] > 2 * TOL
            assert np.array_equal(rec.y_pred[decisive], live.y_pred[decisive]), (how, k)
            n_decisive, n_all = n_decisive + int(decisive.sum()), n_all + len(decisive)
        assert t2.loc[f"x{k}", "Mean"] == R.fuse(stored, "mean").accuracy
        assert t2.loc[f"x{k}", "Max"] == R.fuse(stored, "max").accuracy
    assert n_decisive > 0, n_all   # the per-probability bound above is what carries the check on these tiny nets
    rrn_live = R.rrn_predictions(rrn, test, FACTORS, **ev)
    assert np.array_equal(P.rrn_predictions(recs).y_pred, rrn_live.y_pred)
    fig2 = P.fig2_table(recs)
    live2 = R.feature_distances(blocks[0], test, P.FIG2_FACTORS, n_images=8, seed=0)
    assert np.allclose(fig2.to_numpy(), live2.to_numpy(), rtol=1e-4, atol=1e-5)


def test_smoke_plan_assembled_twice_trains_nothing_the_second_time(tmp_path, monkeypatch):
    """The smoke plan into a temporary store (FER_RUNS_DIR): the second assembly loads every run, trains none,
    and gives identical tables."""
    import fer_lib.runs.execute as X
    from fer_lib.runs import assemble
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path))
    specs = _smoke_plan()
    first = assemble(None, specs, device="cpu")
    assert first.complete and len(first.planned) == 13
    monkeypatch.setattr(X, "execute", lambda *a, **k: pytest.fail("trained again"))
    again = assemble(None, specs, device="cpu")
    second = assemble(None, specs, train=False)
    a, b, c = (P.seed_records(r)[0] for r in (first, again, second))
    assert P.table2(a).equals(P.table2(b)) and P.table2(a).equals(P.table2(c))
    assert P.table3(a)[0].equals(P.table3(c)[0]) and P.fig2_table(a).equals(P.fig2_table(c))
    assert P.rrn_table(a).equals(P.rrn_table(c))


def test_pending_runs_leave_their_seed_out(tmp_path):
    from fer_lib.runs import assemble
    from fer_lib.runs.store import Store
    runs = assemble(None, _smoke_plan(), train=False, store=Store.at(tmp_path, "smoke"))
    assert P.seed_records(runs) == {} and len(runs.pending_table()) == 13


# ----------------------------------------------------------------------------- RAF-DB (generated fixture)
def _rafdb(root, n_train=40, n_test=21):
    """A RAF-DB basic set in its real layout (100x100 RGB aligned faces, list_patition_label.txt)."""
    from fixtures_data import make_rafdb
    rows = ([(f"train_{i:05d}.jpg", i % 7 + 1) for i in range(1, n_train + 1)]
            + [(f"test_{i:04d}.jpg", i % 7 + 1) for i in range(1, n_test + 1)])
    make_rafdb(root / "rafdb", rows)
    return root


def test_rafdb_plan_resolves_on_the_fixture(tmp_path):
    """dataset="rafdb" (Tables 1 and 3): RAF-DB's train split cut 90/10 at random (seed 0) into train / val, its
    test split as test, RGB networks (in_chans 3, 7 classes); the plan's keys resolve on the fixture. The FERPlus
    plan is untouched (no split, no in_chans)."""
    import numpy as np

    from fer_lib.data import load
    from fer_lib.data.splits import random_split
    from fer_lib.runs.data import prepare
    from fer_lib.runs.plans import resolve
    root = _rafdb(tmp_path)
    specs = P.plan("cpu", dataset="rafdb")
    by = {s.arm: s for s in specs}
    assert len(specs) == 13 and all(s.dataset == "rafdb" and s.data_kw == {} for s in specs)
    assert all(s.split == P.SPLIT_OF["rafdb"] and s.train == ("train",) and s.val == ("val",) for s in specs)
    assert all(v["split"] == "test" for s in specs for v in s.evaluate)
    assert all(s.model_kw["in_chans"] == 3 for s in specs)
    assert by["Table 3 · x1"].model_kw["num_classes"] == 7 and by["DA"].model_kw["num_domains"] == 2
    assert specs[0].cap == {"val": 600, "test": 1200, "seed": 1}       # the cpu caps, by role
    assert P.settings("full", dataset="rafdb")["input_size"] == 100    # RAF-DB's aligned faces are 100 px
    assert all(s.split == {} and "in_chans" not in s.model_kw for s in P.plan("cpu"))
    planned = resolve(specs, root)
    keys = [p.key for p in planned]
    assert None not in keys and len(set(keys)) == len(specs)
    data = prepare(specs[0], root)
    assert data.train.images.shape[1:] == (100, 100, 3) and len(data.views["test"]) == 21
    ds = load("rafdb", root)   # the pre-run-store notebook's split: random_split of the train split alone
    old = random_split(ds.take("train"), (0.9, 0.1), ("train", "val"), seed=0)
    assert np.array_equal(data.val.images, old.take("val").images) and len(data.val) == 4
    assert np.array_equal(data.train.images, old.take("train").images)
    assert P.results_name("rafdb") == "05_wang_drgfer_rafdb" and P.results_name("ferplus") == "05_wang_drgfer"


def test_rafdb_tiny_plan_assembles_on_the_fixture(tmp_path, monkeypatch):
    """A 1-epoch, 1-batch RAF-DB plan trains on the fixture through a temporary store, and Tables 1 and 3 assemble
    from its records (RGB in, every paper column measured)."""
    import numpy as np

    from fer_lib.runs import assemble
    root = _rafdb(tmp_path / "data")
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    specs = P.plan("smoke", dataset="rafdb", max_batches=1, rrn_max_batches=1, batch_size=10, fig2_images=4)
    runs = assemble(None, specs, device="cpu", data_root=root)
    assert runs.complete
    recs = P.seed_records(runs)[0]
    assert len(P.true_labels(recs)) == 21
    t2, t3 = P.table2(recs), P.table3(recs)[0]
    assert np.isfinite(t2[P.PAPER_COLUMNS].to_numpy()).all() and t2.shape[0] == 6
    assert np.isfinite(t3.loc[P.T3_ROWS + ["DRGFER"]].to_numpy()).all()
    assert P.fig2_table(recs).shape[0] == len(P.FIG2_FACTORS)


def test_notebook_glue_param_counts_and_fig2_row():
    """param_counts: DRGFER = the RRN + one FER block per training factor; fig2_row: a run.record(**row) argument;
    fig2_beside: outside smoke a run with no crossing says so."""
    import math

    from fer_lib.study.results import record
    counts = P.param_counts(P.plan("smoke"))["parameters"]
    assert counts["DRGFER (RRN + 5 FER blocks)"] == counts["RRN (RRN)"] + 5 * counts["Table 3 · x1 (resnet18)"]
    row = P.fig2_row([float("nan")], dataset="synthetic", split="test", seeds=[0])
    assert (row["paper"], row["source"], row["unit"], row["seeds"]) == ("p5", "text §1", "ratio", [0])
    records = [record(**row, profile="cpu")]
    assert math.isnan(records[0]["values"][0])
    assert "no crossing" in P.fig2_beside(records, [float("nan")], "cpu")["note"].iloc[0]
    from fer_lib.study.verdict import beside
    assert P.fig2_beside(records, [float("nan")], "smoke").equals(beside(records, "p5", "text §1"))
