"""Paper 5's run plan (fer_lib.papers.p5_wang): the full plan holds what the paper states, names its readings,
trains DA on two domains (source ×1, target ×2), and every recipe runs through the run executor."""
import pytest

from fer_lib.claims import claim
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


def test_rabn_is_scored_with_the_router_and_with_the_oracle():
    rabn = next(s for s in P.plan("full") if s.arm == "RA-BN" and s.seed == 1)
    grid = next(h for h in rabn.hooks if h["name"] == "p5.rabn_grid")
    assert grid["kw"]["router"] == "rrn_s1" and rabn.needs == ("rrn_s1",)
    rrn = next(s for s in P.plan("full") if s.arm == "RRN" and s.seed == 1)
    assert rrn.name == "rrn_s1" and "weights" in rrn.keep


def test_readings_are_named_and_switchable():
    src = P.sources("full")
    for k in ("net_size", "pretrained", "ferplus_mode", "select", "seeds"):
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
        P.plan("full", dataset="rafdb")


def test_records_stay_small_enough(monkeypatch):
    """Only the five FER blocks keep probabilities (the Mean/Max fusion), on the five factors only."""
    for s in P.plan("full"):
        if "probs" in s.keep:
            assert s.tags["role"] == "FER block" and len(s.evaluate) == len(FACTORS)


def test_smoke_recipes_run_through_the_executor(tmp_path):
    """RRN -> RA-BN (routed by the stored RRN) and the two-domain DA, one batch each, via fer_lib.runs.execute."""
    from fer_lib.runs.execute import execute
    from fer_lib.runs.plans import resolve
    from fer_lib.runs.store import Store
    store = Store.at(tmp_path, "smoke")
    tiny = {"counts": {"train": 40, "val": 10, "test": 10}, "size": 32, "low_res_p": 0.0}
    specs = [s for s in P.plan("smoke", max_batches=1, rrn_max_batches=1, batch_size=20, data_kw=tiny)
             if s.arm in ("RRN", "RA-BN", "DA")]
    recs = {}
    for pl in resolve(specs):
        recs[pl.spec.arm] = execute(pl.spec, None, "cpu", store, key=pl.key, needs_keys=pl.needs_keys)
    assert set(recs["RA-BN"]["metrics"]["p5.rabn_grid"]) == {f"{h} x{k}" for h in ("oracle", "router") for k in FACTORS}
    assert set(recs["RRN"]["metrics"]) == {f"test x{k}" for k in FACTORS}
    assert set(recs["DA"]["metrics"]) == {f"test x{k}" for k in FACTORS}


def test_table2_from_records_routes_each_image_by_the_stored_rrn_decision():
    """DRGFER from stored predictions: image i at factor k gets the prediction of the block the RRN chose for it."""
    import numpy as np

    from fer_lib.runs.store import encode_labels, encode_probs
    rng = np.random.default_rng(0)
    n, classes, test = 12, [str(c) for c in range(3)], "test"
    y = rng.integers(0, 3, n)
    names = [f"x{k}" for k in FACTORS]

    def rec(arm, preds=None, metrics=None, probs=None):
        views = {f"{test} {v}": {"split": test, "pred": encode_labels(p),
                                 **({"probs": encode_probs(probs[v])} if probs else {})}
                 for v, p in (preds or {}).items()}
        return {"key": arm, "spec": {"arm": arm, "seed": 0, "notebook": "05", "evaluate": [{"split": test}]},
                "classes": classes, "labels": {test: encode_labels(y)}, "predictions": views,
                "metrics": metrics or {}}

    block_pred = {b: {v: rng.integers(0, 3, n) for v in names} for b in names}
    block_probs = {b: {v: np.eye(3)[block_pred[b][v]] for v in names} for b in names}
    route = {v: rng.integers(0, len(FACTORS), n) for v in names}
    records = [rec(f"Table 3 · {b}", block_pred[b], probs=block_probs[b]) for b in names]
    records.append(rec("RRN", route))
    records.append(rec("Table 3 · x1&x2&x4&x6&x8", metrics={f"{test} {v}": {"accuracy": 0.5} for v in names}))
    records.append(rec("DA", metrics={f"{test} {v}": {"accuracy": 0.25} for v in names}))
    records.append(rec("RA-BN", metrics={"p5.rabn_grid": {f"{h} {v}": 0.3 for h in ("oracle", "router") for v in names}}))
    t = P.table2_from_records(records, seed=0)
    for i, v in enumerate(names):
        chosen = np.array([block_pred[names[g]][v][j] for j, g in enumerate(route[v])])
        assert t.loc[v, "DRGFER"] == pytest.approx((chosen == y).mean())
        assert t.loc[v, "DRGFER (oracle router)"] == pytest.approx((block_pred[v][v] == y).mean())
    assert list(t.columns[:6]) == ["Mean", "Max", "RA-BN", "DA", "MSTrain", "DRGFER"]
    assert t.loc["Mean", "MSTrain"] == 0.5 and t.loc["x4", "RA-BN"] == 0.3
