"""python -m fer_lib.campaign: status / run (budget, skip) / import, and the submitit local executor: the same
records as in-process, a killed worker's run re-run (resumed from its checkpoint), import rebuilding the tables."""
import json
import os
import shutil
from pathlib import Path

import pytest

from fer_lib.runs import Store, assemble
from fer_lib.runs import campaign as C

TESTS = Path(__file__).resolve().parent
PLAN = "runs_tiny_plan"
ARGS = ["--profile", "smoke", "--plans", PLAN]


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "smoke"))
    monkeypatch.delenv("TINY_DIE_MARKER", raising=False)
    return tmp_path / "smoke"


def test_budget_parsing():
    assert C.parse_budget("8m") == 480 and C.parse_budget("2h") == 7200 and C.parse_budget("90") == 90
    assert C.parse_budget(None) is None
    with pytest.raises(ValueError, match="--budget"):
        C.parse_budget("soon")


def test_campaign_status_run_skip(runs_dir, capsys):
    assert C.main(["status", *ARGS, "--runs"]) == 0
    out = capsys.readouterr().out
    assert out.count("pending") >= 6 and "study" in out and "GPU h to run" in out

    assert C.main(["run", *ARGS, "--budget", "1s"]) == 0        # every estimate is above 1 s: nothing starts
    out = capsys.readouterr().out
    assert "not started" in out and "0 of 0 started" in out
    assert not list(runs_dir.rglob("*.json"))

    assert C.main(["run", *ARGS, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("would start 98") == 6 and "6 run(s) would start" in out and not list(runs_dir.rglob("*.json"))

    assert C.main(["run", *ARGS, "--threads", "1"]) == 0
    assert len(list((runs_dir / "runs" / "98").glob("*.json"))) == 6
    capsys.readouterr()
    assert C.main(["run", *ARGS]) == 0                           # completed runs are skipped
    assert "0 of 0 started" in capsys.readouterr().out
    C.main(["status", *ARGS])
    table = C.status_table(C.collect("smoke", modules=[PLAN]), Store.for_profile("smoke"))
    assert table.state.eq("stored").all()


def _comparable(rec):
    h = rec["history"]
    keep = [i for i, c in enumerate(h["columns"]) if c not in ("seconds", "img_per_s")]
    return {"key": rec["key"], "metrics": rec["metrics"], "labels": rec["labels"],
            "predictions": rec["predictions"], "best_epoch": rec["best_epoch"],
            "history": [[row[i] for i in keep] for row in h["rows"]]}


def test_submitit_local_same_as_in_process_kill_rerun_and_import(tmp_path, runs_dir, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    marker = tmp_path / "killed-once"
    monkeypatch.setenv("TINY_DIE_MARKER", str(marker))
    # arm B's two seeds: one submitit chunk of two jobs, then one job again (the machine has two cores)
    planned = [p for p in C.collect("smoke", modules=[PLAN]) if p.spec.arm == "arm B"]
    victim = next(p for p in planned if p.spec.hooks and p.spec.hooks[0]["name"] == "tiny.die_once")

    marker.write_text("in-process: do not die")
    inproc = Store.at(tmp_path / "inproc", "smoke")
    assert all(r["state"] == "done" for r in C.run(planned, inproc, device="cpu", threads=1))
    marker.unlink()

    sub = Store.at(tmp_path / "sub", "smoke")
    kw = dict(device="cpu", executor="submitit-local", modules=[PLAN], threads=1,
              submitit_folder=tmp_path / "submitit")
    first = C.run(planned, sub, **kw)
    states = {r["key"]: r["state"] for r in first}
    assert states.pop(victim.key) == "failed" and set(states.values()) == {"done"}
    assert C.state(victim, sub) == "failed" and sub.checkpoint(victim.key).exists()

    second = C.run(planned, sub, **kw)                        # only the killed run starts again, and resumes
    assert [(r["key"], r["state"]) for r in second] == [(victim.key, "done")]
    rec = sub.get(victim.spec.notebook, victim.key)
    assert rec["processes"][-1]["resumed_from"] == 1 and rec["processes"][0]["epochs_run"] == 1
    assert not sub.checkpoint(victim.key).exists() and C.state(victim, sub) == "stored"

    for p in planned:                                         # the same records as in-process
        assert _comparable(sub.get(p.spec.notebook, p.key)) == _comparable(inproc.get(p.spec.notebook, p.key))

    imported = Store.at(tmp_path / "imported", "smoke")
    res = C.import_records(tmp_path / "sub", planned, imported)
    assert len(res["imported"]) == len(planned) and not res["refused"]
    specs = [p.spec for p in planned]
    t_sub = assemble(None, specs, train=False, store=sub).table()
    t_imp = assemble(None, specs, train=False, store=imported).table()
    t_in = assemble(None, specs, train=False, store=inproc).table()
    assert t_imp.equals(t_sub) and t_imp.equals(t_in)
    assert C.import_records(tmp_path / "sub", planned, imported)["present"]

    # a record made by other code is refused, and the reason names the code version
    stale = tmp_path / "stale" / "runs" / "98"
    stale.mkdir(parents=True)
    rec = json.loads(sub.path("98", planned[0].key).read_text())
    rec["code_version"] = {**rec["code_version"], "model": "SmallCNN=0"}
    rec["key"] = "0" * 16
    (stale / f"{rec['key']}.json").write_text(json.dumps(rec))
    res = C.import_records(tmp_path / "stale", planned, Store.at(tmp_path / "other", "smoke"))
    assert not res["imported"] and "code version" in res["refused"][0][1]


def test_out_dir_then_import_cli(tmp_path, runs_dir, capsys):
    out = tmp_path / "elsewhere"
    assert C.main(["run", *ARGS, "--only", "98", "--out", str(out), "--threads", "1"]) == 0
    assert len(list((out / "runs" / "98").glob("*.json"))) == 6 and not (runs_dir / "runs").exists()
    assert C.main(["import", str(out), *ARGS]) == 0
    assert "imported 6" in capsys.readouterr().out
    assert len(list((runs_dir / "runs" / "98").glob("*.json"))) == 6
    shutil.rmtree(out)


def test_status_without_the_data_recognises_stored_records(tmp_path, runs_dir):
    from fer_lib.runs.plans import Planned
    planned = C.collect("smoke", modules=[PLAN])[:1]
    store = Store.for_profile("smoke")
    C.run(planned, store, device="cpu", threads=1)
    keyless = Planned(planned[0].spec, None, error="DatasetError: not found")   # as on a machine without data
    assert C.state(keyless, store) == C.UNCHECKED
    other = Planned(planned[0].spec.replace(seed=5), None, error="DatasetError: not found")
    assert C.state(other, store) == "no data"
    assert C.totals(C.status_table([planned[0], keyless], store)).loc["study", "stored"] == 2


def test_a_needed_artefact_missing_here_reruns_its_producer(tmp_path, runs_dir):
    import shutil as sh
    planned = [p for p in C.collect("smoke", modules=[PLAN]) if p.spec.arm in ("source", "fine-tuned from source")]
    store = Store.for_profile("smoke")
    assert all(r["state"] == "done" for r in C.run(planned, store, device="cpu", threads=1))
    src, dst = planned
    sh.rmtree(store.artefact_dir(src.key))               # as on a machine that only has the records (git)
    store.path(dst.spec.notebook, dst.key).unlink()
    got = C.run(planned, store, device="cpu", threads=1)
    assert [(r["key"], r["state"]) for r in got] == [(src.key, "done"), (dst.key, "done")]
    assert store.find_artefacts(src.key) is not None
