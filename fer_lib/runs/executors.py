"""Where pending runs execute: in this process (`local`) or as submitit jobs (`submitit`: a Slurm job array on
a cluster, submitit's LocalExecutor — one subprocess per run — elsewhere and in the tests).

Both run `run_job(payload)`, which re-keys the spec on the worker (a worker with other code or other data
refuses the run instead of storing a record under a key it does not match) and writes the record to the store
the moment its run completes: a killed worker loses only its own run; its checkpoint lets the next attempt
resume.
"""
from __future__ import annotations

import time
from pathlib import Path

from .store import Store


def payload(planned, store: Store, data_root, device: str, modules=(), deadline: float | None = None,
            threads: int | None = None) -> dict:
    """What a worker needs to run one planned run (plain data: it crosses process and machine boundaries)."""
    def store_dict(s: Store | None):
        if s is None:
            return None
        return {"runs": str(s.runs), "artefacts": str(s.artefacts), "checkpoints": str(s.checkpoints),
                "profile": s.profile, "fallback": store_dict(s.fallback)}
    return {"spec": planned.spec.to_dict(), "key": planned.key, "needs_keys": dict(planned.needs_keys),
            "store": store_dict(store), "data_root": str(data_root) if data_root else None, "device": device,
            "modules": list(modules), "deadline": deadline, "threads": threads}


def _store(d: dict | None) -> Store | None:
    if d is None:
        return None
    return Store(Path(d["runs"]), Path(d["artefacts"]), Path(d["checkpoints"]), d["profile"],
                 _store(d["fallback"]))


def run_job(p: dict) -> dict:
    """Execute one payload; returns {"key", "state": done | interrupted | failed, "error", "seconds"}."""
    import importlib

    import torch

    from .execute import execute_or_fail
    from .key import run_key
    from .spec import RunSpec
    from .data import data_fingerprint
    t0 = time.time()
    if p.get("threads"):
        torch.set_num_threads(int(p["threads"]))
    for m in p.get("modules", ()):
        importlib.import_module(m)     # registers the plan's hooks
    spec, store = RunSpec.from_dict(p["spec"]), _store(p["store"])
    key = run_key(spec, data_fingerprint(spec, p["data_root"]), needs_keys=p["needs_keys"])
    if key != p["key"]:
        msg = (f"{spec.label}: the worker computes key {key}, the plan said {p['key']}: its code or data "
               "differ from the planner's; nothing stored")
        store.fail(spec, p["key"], msg)
        return {"key": p["key"], "state": "failed", "error": msg, "seconds": time.time() - t0}
    state, err = execute_or_fail(spec, key, p["needs_keys"], p["data_root"], p["device"], store,
                                 deadline=p.get("deadline"), profile=store.profile)
    return {"key": key, "state": state, "error": err, "seconds": time.time() - t0}


def run_local(payloads: list[dict], log=print) -> list[dict]:
    """One after the other in this process."""
    out = []
    for p in payloads:
        try:
            r = run_job(p)
        except Exception as e:   # a failure before execute could record it (bad hook module, no data)
            r = {"key": p["key"], "state": "failed", "error": f"{type(e).__name__}: {e}", "seconds": None}
        log(_line(p, r))
        out.append(r)
    return out


def make_submitit_executor(folder: Path, cluster: str | None = None, timeout_min: int = 60,
                           slurm: dict | None = None, parallelism: int = 16):
    """submitit's AutoExecutor (Slurm when there is one; `cluster="local"` forces the LocalExecutor)."""
    import submitit
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {"timeout_min": int(timeout_min)}
    if ex.cluster == "slurm":
        params.update(slurm_array_parallelism=parallelism, gpus_per_node=1, cpus_per_task=8)
        params.update({f"slurm_{k}" if not k.startswith("slurm_") else k: v for k, v in (slurm or {}).items()})
    ex.update_parameters(**params)
    return ex


def run_submitit(payloads: list[dict], executor, log=print, local_parallelism: int = 2) -> list[dict]:
    """Submit the payloads as a job array and wait; a job that died (killed, out of memory, timed out) counts
    as failed and gets a failure marker (its checkpoint, if any, stays for the next attempt). submitit's
    LocalExecutor starts every job at once: on a local "cluster" they go `local_parallelism` at a time."""
    if not payloads:
        return []
    step = local_parallelism if executor.cluster == "local" else len(payloads)
    out = []
    for i in range(0, len(payloads), step):
        chunk = payloads[i:i + step]
        jobs = executor.map_array(run_job, chunk)
        log(f"submitted {len(jobs)} job(s) via submitit ({executor.cluster}); logs in {executor.folder}")
        for p, job in zip(chunk, jobs):
            try:
                r = job.result()
            except Exception as e:   # the worker died before it could report
                from .spec import RunSpec
                msg = f"worker job {job.job_id} died: {type(e).__name__}: {str(e)[-1500:]}"
                _store(p["store"]).fail(RunSpec.from_dict(p["spec"]), p["key"], msg)
                r = {"key": p["key"], "state": "failed", "error": msg, "seconds": None}
            log(_line(p, r))
            out.append(r)
    return out


def _line(p: dict, r: dict) -> str:
    s = p["spec"]
    took = f" in {r['seconds']:.0f} s" if r.get("seconds") is not None else ""
    why = f": {r['error'].strip().splitlines()[-1]}" if r.get("error") and r["state"] != "done" else ""
    return f"{r['state']:<11} {s['notebook']} · {s['arm']} · seed {s['seed']} ({p['key']}){took}{why}"


__all__ = ["payload", "run_job", "run_local", "run_submitit", "make_submitit_executor"]
