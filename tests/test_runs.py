"""fer_lib.runs: specs, keys (change with data/config/version and not otherwise), store round trip, pending table."""
import json

import numpy as np
import pytest

import runs_tiny_plan as tiny
from fer_lib.runs import RunSpec, Store, assemble, hook, predictions, run_key
from fer_lib.runs import key as K
from fer_lib.runs.data import data_fingerprint
from fer_lib.runs.execute import execute
from fer_lib.runs.plans import resolve
from fer_lib.runs.store import decode_labels, decode_probs, encode_labels, encode_probs


@pytest.fixture
def spec():
    return tiny.plan("smoke")[0]


def test_spec_json_round_trip_and_validation(spec):
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and hash(again) == hash(spec) and again.spec_hash() == spec.spec_hash()
    with pytest.raises(ValueError, match="unknown TrainConfig field.*'epoch'"):
        spec.replace(config={"epoch": 3})
    with pytest.raises(ValueError, match="RunSpec.model_kw.x"):
        spec.replace(model_kw={"x": object()})
    with pytest.raises(ValueError, match="keep"):
        spec.replace(keep=("everything",))
    with pytest.raises(ValueError, match="view names repeat"):
        spec.replace(evaluate=("PrivateTest", "PrivateTest"))


def test_key_changes_with_data_config_version_and_not_otherwise(spec, monkeypatch):
    fp = data_fingerprint(spec)
    k = run_key(spec, fp)
    # labels, explicit defaults and non-result settings: same key
    assert run_key(spec.replace(arm="renamed", notebook="97", tags={"x": 1}, name="n"), fp) == k
    assert run_key(spec.replace(config={**spec.config, "weight_decay": 0.0, "progress": False,
                                        "eval_batch_size": 7}), fp) == k
    assert run_key(RunSpec.from_dict(spec.to_dict()), data_fingerprint(spec)) == k
    # config, seed, model, hooks, evaluation: other key
    for changed in (spec.replace(config={**spec.config, "lr": 0.01}), spec.replace(seed=7),
                    spec.replace(model_kw={"widths": [4, 16]}), spec.replace(evaluate=("PrivateTest",)),
                    spec.replace(hooks=(hook("resolution.random_factor", factors=[1, 2]),))):
        assert run_key(changed, fp) != k
    # data: content, split rows, caps
    assert data_fingerprint(spec.replace(data_kw={**spec.data_kw, "seed": 1})) != fp
    assert data_fingerprint(spec.replace(cap={"Training": 30})) != fp
    assert data_fingerprint(spec.replace(cap={"Training": 30, "seed": 1})) != data_fingerprint(
        spec.replace(cap={"Training": 30}))
    assert data_fingerprint(spec.replace(cap={"Training": 10_000})) == fp     # a cap above the size: same rows
    assert run_key(spec, fp[:-1] + "x") != k
    # code: the model's version, the recipe version, a hook's version
    monkeypatch.setattr(K, "RECIPE_VERSION", K.RECIPE_VERSION + 1)
    assert run_key(spec, fp) != k
    monkeypatch.undo()
    import fer_lib.models.registry as R
    monkeypatch.setitem(R._VERSIONS, "SmallCNN", (R._VERSIONS["SmallCNN"][0] + 1, "x"))
    assert run_key(spec, fp) != k
    monkeypatch.undo()
    from fer_lib.runs import hooks as H
    v = spec.evaluate[1]["batch_fn"]["name"]
    monkeypatch.setitem(H.HOOKS, v, H.HOOKS[v].__class__(**{**H.HOOKS[v].__dict__, "version": 99}))
    assert run_key(spec, fp) != k


def test_key_includes_the_keys_of_needed_runs():
    plan = tiny.plan("smoke")
    a = resolve(plan)
    changed = [s.replace(config={**s.config, "lr": 0.05}) if s.name == "tiny_source" else s for s in plan]
    b = resolve(changed)
    assert a[-1].spec.needs == ("tiny_source",)
    assert a[-1].key != b[-1].key and a[0].key == b[0].key
    with pytest.raises(ValueError, match="needs 'nope'"):
        resolve([plan[0].replace(needs=("nope",))])


def test_compact_encodings():
    y = np.array([0, 6, 3, 3, 1])
    assert encode_labels(y) == "06331" and (decode_labels("06331") == y).all()
    assert encode_labels([12, 0]) == [12, 0] and (decode_labels([12, 0]) == [12, 0]).all()
    p = np.random.default_rng(0).dirichlet(np.ones(7), size=20)
    assert np.abs(decode_probs(encode_probs(p)) - p).max() <= 0.5 / 255 + 1e-7


def test_store_round_trip(spec, tmp_path):
    store = Store.at(tmp_path, "smoke")
    spec = spec.replace(keep=("probs",))
    rec = execute(spec, None, "cpu", store)
    path = store.path(spec.notebook, rec["key"])
    assert path.exists() and path.stat().st_size < 200_000
    assert store.get(spec.notebook, rec["key"]) == rec
    assert not list(tmp_path.rglob("*.tmp")) and not store.checkpoint(rec["key"]).exists()
    for v in ("PrivateTest", "PrivateTest x2"):
        p = predictions(rec, v)
        assert p.accuracy == pytest.approx(rec["metrics"][v]["accuracy"], abs=1e-6)
        assert len(p.y_true) == rec["metrics"][v]["n"] == 35
    assert rec["processes"][-1]["epochs_run"] == 2 and rec["processes"][-1]["resumed_from"] is None
    assert len(rec["history"]["rows"]) == 2 and rec["git"] and rec["versions"]["torch"]
    path.write_text(path.read_text()[:50])
    with pytest.raises(ValueError, match=str(path.name)):
        store.get(spec.notebook, rec["key"])


def test_assemble_pending_table_then_train_then_render_from_store(tmp_path):
    store = Store.at(tmp_path, "smoke")
    plan = tiny.plan("smoke")[:2] + tiny.plan("smoke")[-2:]
    runs = assemble(None, plan, train=False, store=store)
    assert not runs.complete and len(runs.pending) == 4
    pend = runs.pending_table()
    assert list(pend.columns) == ["claim", "arm", "runs missing", "of", "est. GPU min", "est. CPU min"]
    assert pend["runs missing"].sum() == 4 and (pend["est. GPU min"] > 0).all()
    assert runs.table()["status"].eq("pending").all()       # the notebook still renders its tables

    trained = assemble(None, plan, train=True, store=store)
    assert trained.complete and trained.pending_table().empty
    again = assemble(None, plan, train=False, store=store)   # the second render: no training
    assert again.table().equals(trained.table())
    assert again.metric("PrivateTest") == trained.metric("PrivateTest")
    assert len(again.predictions("arm A", "PrivateTest")) == 2
    assert again.history(plan[0])["epoch"].tolist() == [0, 1]
    assert "seeds" in again.summary("PrivateTest").columns
    # the consumer loaded the producer's weights: the artefact exists, keyed by the producer's run
    src = again.planned[-2]
    assert (store.artefact_dir(src.key) / "weights.pt").exists()


def test_cost_table_covers_every_registered_model():
    from fer_lib.models.registry import MODELS
    from fer_lib.runs.costs import estimate_seconds, load_costs
    costs = load_costs()
    assert set(MODELS) <= set(costs["models"]), "add the new model to fer_lib/runs/costs.yaml"
    for entry in costs["models"].values():
        assert set(entry) == set(costs["kinds"]) and all(v["train"] > 0 and v["eval"] > 0 for v in entry.values())
    s = tiny.plan("smoke")[0]
    facts = {"n_train": 1000, "n_val": 100, "n_eval": 100, "image_shape": [48, 48]}
    one = estimate_seconds(s, facts, "gpu")
    assert estimate_seconds(s.replace(config={**s.config, "epochs": 4}), facts, "gpu") > one
    assert estimate_seconds(s.replace(tags={"cost_factor": 3}), facts, "gpu") > one


def test_fingerprint_follows_the_files_content(tmp_path, monkeypatch):
    """A changed image file changes the fingerprint, even through the per-file memo (warm loads hash nothing)."""
    from PIL import Image

    from fer_lib.runs import data as D
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "faces"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("happy", "sad"):
            (root / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / split / cls / f"{i}.png")
    s = RunSpec(notebook="97", paper="px", arm="folder", model="SmallCNN", dataset="folder", train=("train",),
                val=(), evaluate=("test",))
    D.clear_cache()
    fp = data_fingerprint(s, root)
    D.clear_cache()
    assert data_fingerprint(s, root) == fp and D._memo_path().exists()   # warm: from the memo
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "test" / "sad" / "1.png")
    D.clear_cache()
    assert data_fingerprint(s, root) != fp
    D.clear_cache()


def test_deadline_stops_after_an_epoch_and_the_next_attempt_resumes(spec, tmp_path):
    import time

    from fer_lib.runs.execute import RunInterrupted
    store = Store.at(tmp_path, "smoke")
    spec = spec.replace(config={**spec.config, "epochs": 3})
    with pytest.raises(RunInterrupted, match="deadline"):
        execute(spec, None, "cpu", store, deadline=time.time() + 0.01)
    key = resolve([spec])[0].key
    assert store.checkpoint(key).exists() and not store.has(spec.notebook, key)
    rec = execute(spec, None, "cpu", store)
    assert rec["key"] == key and rec["processes"][-1]["resumed_from"] == 1
    assert [p["epochs_run"] for p in rec["processes"]] == [1, 2]
    fresh = execute(spec, None, "cpu", None)                  # no store: same numbers as one uninterrupted run
    assert fresh["metrics"] == rec["metrics"] and fresh["predictions"] == rec["predictions"]


def test_assemble_can_record_a_failing_run_and_go_on(tmp_path):
    store = Store.at(tmp_path, "smoke")
    good = tiny.plan("smoke")[0]
    bad = good.replace(arm="diverges", config={**good.config, "lr": 1e30})
    with pytest.raises(FloatingPointError):
        assemble(None, [bad], store=store)
    runs = assemble(None, [bad, good], store=store, on_error="record", retry_failed=False)
    assert runs.records[0] is None and runs.records[1] is not None
    assert "FloatingPointError" in runs.failures[0] and runs.table()["status"][0].startswith("failed: ")


def test_only_keeps_the_runs_the_kept_ones_need():
    from types import SimpleNamespace

    from fer_lib.runs.plans import plan_specs
    s = tiny.plan("smoke")
    src = s[-2].replace(notebook="01")
    mod = SimpleNamespace(BUDGETS={}, plan=lambda profile: [s[0].replace(notebook="01"), src, s[-1].replace(
        notebook="06")])
    got = plan_specs({"m": mod}, "smoke", only="06")
    assert [(x.notebook, x.name) for x in got] == [("01", "tiny_source"), ("06", "")]
    errors = []
    bad = SimpleNamespace(BUDGETS={}, plan=lambda profile: 1 / 0)
    assert plan_specs({"bad": bad, "m": mod}, "smoke", errors=errors) and "ZeroDivisionError" in errors[0][1]
    with pytest.raises(ValueError, match="RunSpec.seed"):
        s[0].replace(config={**s[0].config, "seed": 3})


def test_store_locations(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "smoke"))
    monkeypatch.setenv("FER_ARTEFACTS_DIR", str(tmp_path / "art"))
    monkeypatch.delenv("FER_REPORTS_DIR", raising=False)
    s = Store.for_profile("smoke")
    assert s.runs == tmp_path / "smoke" / "runs" and s.fallback is None
    proj = tmp_path / "proj"
    full = Store.for_profile("full", proj)
    assert full.runs == proj / "reports" / "full" / "runs" and full.checkpoints == proj / "checkpoints"
    assert full.artefacts == tmp_path / "art" / "full" and full.fallback is None
    monkeypatch.setenv("FER_PROJECT_ROOT", str(proj))
    monkeypatch.setenv("FER_REPORTS_DIR", str(tmp_path / "experiment"))
    exp = Store.for_profile("full")    # an experiment writes apart and still reads the committed records
    assert exp.runs == tmp_path / "experiment" / "runs" and exp.fallback.runs == proj / "reports" / "full" / "runs"


def test_resolve_tells_absent_data_from_a_spec_its_data_contradict(tmp_path):
    s = tiny.plan("smoke")[0]
    bad, absent = resolve([s.replace(cap={"NoSuchSplit": 3}), s.replace(dataset="fer2013", data_kw={})], tmp_path)
    assert bad.key is None and bad.invalid and "NoSuchSplit" in bad.error
    assert absent.key is None and not absent.invalid and "not found" in absent.error


def test_weights16_keeps_half_the_bytes_and_loads_into_a_float32_model(tmp_path):
    import torch

    from fer_lib.models import create_model
    store = Store.at(tmp_path, "smoke")
    src = next(s for s in tiny.plan("smoke") if s.name == "tiny_source")
    full = execute(src, None, "cpu", store)
    half = execute(src.replace(keep=("weights16",)), None, "cpu", store)
    assert half["key"] != full["key"]                       # the stored precision is part of the run
    assert half["artefacts"]["weights"]["dtype"] == "float16" and full["artefacts"]["weights"]["dtype"] == "float32"
    a = torch.load(store.artefact_dir(full["key"]) / "weights.pt")
    b = torch.load(store.artefact_dir(half["key"]) / "weights.pt")
    assert all(v.dtype == torch.float16 for v in b.values() if v.is_floating_point())
    assert all(v.dtype == a[k].dtype for k, v in b.items() if not v.is_floating_point())   # BN counters stay
    m = create_model(src.model, **src.model_kw)
    m.load_state_dict(b)                                     # cast back to the model's float32
    assert next(m.parameters()).dtype == torch.float32
    assert max((m.state_dict()[k] - a[k].float()).abs().max().item() for k in a if a[k].is_floating_point()) < 1e-2
