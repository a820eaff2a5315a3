"""The campaign: every run of every paper's plan — what is stored, what is pending, run it, merge it.

    python -m fer_lib.campaign status [--profile full] [--only 04] [--runs]
    python -m fer_lib.campaign run    [--profile full] [--only 04] [--budget 8m] [--device cuda]
                                      [--executor local|submitit|submitit-local] [--out DIR] [--checkpoint-partial]
    python -m fer_lib.campaign import DIR [--profile full]

Plans are discovered in fer_lib/papers/*.py (modules with `plan` and `BUDGETS`; `--plans a.b,c.d` names others).
`run` starts a pending run only when its estimate (fer_lib/runs/costs.yaml) fits in what is left of the budget
(`--checkpoint-partial` starts it anyway and stops it at the deadline, its checkpoint kept for the next
session); each record is written the moment its run completes, so a kill loses only the runs in flight.
`run --out DIR` writes a portable store (DIR/runs, DIR/artefacts) for `import DIR` on another machine; import
refuses a record whose key no longer matches the plan (the spec, the data or the code changed) and says which.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from .assembly import dependency_order
from .costs import device_kind, estimate_seconds
from .plans import PROFILES, Planned, load_plan_modules, plan_specs, resolve
from .store import Store


def collect(profile: str, only: str | None = None, modules=None, data_root=None,
            errors: list | None = None) -> list[Planned]:
    """Every planned run of `profile` (notebooks starting with `only`), keyed. errors: a list that collects
    (module, message) of plan modules that fail, instead of raising."""
    mods = modules if isinstance(modules, dict) else load_plan_modules(modules, errors)
    return resolve(plan_specs(mods, profile, only, errors), data_root)


UNCHECKED = "stored (data unchecked)"


_SPEC_INDEX: dict[tuple, dict] = {}   # (store, notebook) -> {spec_hash: [records]}, once per process


def _by_spec_hash(store: Store, notebook: str) -> dict[str, list[dict]]:
    key = (str(store.runs), notebook)
    _memo = _SPEC_INDEX
    if key not in _memo:
        idx: dict[str, list[dict]] = {}
        for s in (store, store.fallback):
            for r in s.records(notebook) if s is not None else []:
                idx.setdefault(r.get("spec_hash"), []).append(r)
        _memo[key] = idx
    return _memo[key]


def state(p: Planned, store: Store) -> str:
    """stored | failed | partial (a checkpoint is waiting) | pending | no data | invalid; without the data, a
    record with the same spec and code version is reported as "stored (data unchecked)"."""
    if p.key is None:
        if p.invalid:
            return "invalid"
        from .key import code_version
        code = code_version(p.spec)
        same = _by_spec_hash(store, p.spec.notebook).get(p.spec.spec_hash(), [])
        return UNCHECKED if any(r.get("code_version") == code for r in same) else "no data"
    if store.has(p.spec.notebook, p.key):
        return "stored"
    if store.failure(p.spec.notebook, p.key) is not None:
        return "failed"
    if store.checkpoint(p.key).exists():
        return "partial"
    return "pending"


def status_table(planned: list[Planned], store: Store) -> pd.DataFrame:
    """One row per planned run: notebook, arm, seed, key, state, estimated GPU and CPU seconds."""
    rows = [{"notebook": p.spec.notebook, "arm": p.spec.arm, "seed": p.spec.seed, "model": p.spec.model,
             "key": p.key or "", "state": state(p, store),
             "est GPU s": round(estimate_seconds(p.spec, p.facts, "gpu")),
             "est CPU s": round(estimate_seconds(p.spec, p.facts, "cpu"))} for p in planned]
    return pd.DataFrame(rows, columns=["notebook", "arm", "seed", "model", "key", "state", "est GPU s",
                                       "est CPU s"])


def totals(table: pd.DataFrame) -> pd.DataFrame:
    """Per notebook and for the study: runs by state, estimated GPU/CPU hours (still to run, and all)."""
    def one(df):
        # a training two arms declare alike (one key) is counted once in the hours
        df = pd.concat([df[df.key == ""], df[df.key != ""].drop_duplicates("key")])
        todo = df[~df.state.str.startswith("stored")]
        return {"runs": len(df), "stored": int(df.state.str.startswith("stored").sum()),
                **{s: int((df.state == s).sum()) for s in ("pending", "partial", "failed", "no data", "invalid")},
                "GPU h to run": round(todo["est GPU s"].sum() / 3600, 2),
                "GPU h all": round(df["est GPU s"].sum() / 3600, 2),
                "CPU h to run": round(todo["est CPU s"].sum() / 3600, 1)}
    rows = {nb: one(df) for nb, df in table.groupby("notebook", sort=True)}
    rows["study"] = one(table)
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("notebook")


def by_arm(table: pd.DataFrame) -> pd.DataFrame:
    g = table.groupby(["notebook", "arm"], sort=False)
    out = g.agg(runs=("key", "size"), stored=("state", lambda s: int(s.str.startswith("stored").sum())),
                pending=("state", lambda s: int(s.isin(["pending", "partial"]).sum())),
                failed=("state", lambda s: int((s == "failed").sum())),
                no_data=("state", lambda s: int(s.isin(["no data", "invalid"]).sum())),
                gpu_min=("est GPU s", lambda s: round(s.sum() / 60, 1)))
    return out.rename(columns={"no_data": "no key", "gpu_min": "est GPU min (all)"})


# ------------------------------------------------------------------------------------------------ run
def parse_budget(text: str | None) -> float | None:
    """'8m' -> 480, '2h' -> 7200, '90s' or '90' -> 90; None/'' -> no budget."""
    if text in (None, "", "none"):
        return None
    m = re.fullmatch(r"\s*([0-9.]+)\s*([smhd]?)\s*", str(text))
    if not m:
        raise ValueError(f"--budget {text!r}: use a number of seconds or 90s, 8m, 2h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def run(planned: list[Planned], store: Store, *, data_root=None, device: str = "auto", budget_s: float | None = None,
        executor: str = "local", checkpoint_partial: bool = False, modules=(), threads: int | None = None,
        submitit_folder: Path | None = None, timeout_min: int | None = None, slurm: dict | None = None,
        retry_failed: bool = True, dry_run: bool = False, log=print) -> list[dict]:
    """Run the pending runs of `planned` into `store`, producers before the runs that need them.
    dry_run: only say which runs would start, in order, with their estimates (the budget counted down)."""
    from . import executors as X
    t_end = time.time() + budget_s if budget_s else None
    kind = device_kind(device)
    done_keys = {p.key for p in planned if p.key and store.has(p.spec.notebook, p.key)}
    todo = [p for p in dependency_order(planned) if p.key and p.key not in done_keys
            and (retry_failed or store.failure(p.spec.notebook, p.key) is None)]
    # a stored run whose artefacts are not on this machine runs again when a run to do needs them
    by_key = {p.key: p for p in planned if p.key}
    again = {k for p in todo for k in p.needs_keys.values()
             if k in done_keys and store.find_artefacts(k) is None}
    if again:
        log(f"{len(again)} stored run(s) run again: runs to do need their artefacts, which are not here")
        done_keys -= again
        todo = [p for p in dependency_order(planned) if p.key in again or any(p is q for q in todo)]
    todo = [by_key[k] for k in dict.fromkeys(p.key for p in todo)]   # two arms declaring one training: one run
    no_key = [p for p in planned if p.key is None]
    if no_key:
        log(f"{len(no_key)} run(s) without a key are left out (data absent, or a spec its data contradict): "
            f"{no_key[0].error}")
    results = []
    sub = None
    if executor.startswith("submitit") and not dry_run:
        budget_min = (budget_s or 0) / 60
        from .store import cache_home
        folder = submitit_folder or cache_home() / "submitit" / (store.profile or "store")
        sub = X.make_submitit_executor(Path(folder),
                                       cluster="local" if executor == "submitit-local" else None,
                                       timeout_min=timeout_min or max(1, int(budget_min) or 60), slurm=slurm)
    virtual = 0.0   # dry run: the seconds the runs it would start would take

    def fits(p: Planned) -> tuple[bool, float]:
        est = estimate_seconds(p.spec, p.facts, kind)
        left = t_end - time.time() - virtual if t_end else None
        if left is not None and est > left and not checkpoint_partial:
            log(f"not started {p.spec.label}: needs ≈ {est:.0f} s on {kind}, {max(left, 0):.0f} s left")
            return False, est
        return True, est

    def job(p: Planned) -> dict:
        return X.payload(p, store, data_root, device, modules, deadline=t_end if checkpoint_partial else None,
                         threads=threads)

    while todo:
        wave = [p for p in todo if set(p.needs_keys.values()) <= done_keys]
        if not wave:
            for p in todo:
                log(f"not started {p.spec.label}: a run it needs did not complete")
            break
        todo = [p for p in todo if not any(p is q for q in wave)]
        got = []
        if sub is None:    # in this process (or a dry run): each run is weighed just before it would start
            for p in wave:
                ok, est = fits(p)
                if not ok:
                    continue
                if dry_run:
                    log(f"would start {p.spec.label} ({p.key}): ≈ {est:.0f} s on {kind}")
                    virtual += est
                    got.append({"key": p.key, "state": "done", "error": None, "seconds": None, "dry_run": True})
                else:
                    got += X.run_local([job(p)], log)
                done_keys |= {r["key"] for r in got[-1:] if r["state"] == "done"}
        else:              # a job array: every run of the wave that fits the budget on its own
            got = X.run_submitit([job(p) for p in wave if fits(p)[0]], sub, log)
        results += got
        done_keys |= {r["key"] for r in got if r["state"] == "done"}
        if t_end and time.time() + virtual >= t_end:
            for p in todo:
                log(f"not started {p.spec.label}: budget spent")
            break
    return results


# ------------------------------------------------------------------------------------------------ import
def _diagnose(rec: dict, planned: list[Planned], profile: str = "") -> str:
    from .spec import RunSpec
    if profile and rec.get("profile") and rec["profile"] != profile:
        return f"a record of the {rec['profile']} profile, not {profile} (pass --profile {rec['profile']})"
    try:
        spec_hash = RunSpec.from_dict(rec["spec"]).spec_hash()
    except Exception as e:
        return f"its spec no longer parses ({e})"
    same = [p for p in planned if p.key and p.spec.spec_hash() == spec_hash]
    if not same:
        return "no run of the current plan has its spec (the plan changed or the run was removed)"
    p = same[0]
    why = []
    if p.data_fingerprint != rec.get("data_fingerprint"):
        why.append("the data differ (content fingerprint)")
    from .key import code_version
    now = code_version(p.spec)
    if now != rec.get("code_version"):
        why.append(f"the code version differs ({rec.get('code_version')} -> {now})")
    if p.needs_keys != rec.get("needs_keys", {}):
        why.append("a run it needs has another key now")
    return "; ".join(why) or "its key differs from the plan's"


def import_records(src: Path, planned: list[Planned], store: Store, log=print) -> dict:
    """Merge the records (and artefacts) of the store folder `src` into `store`; only records whose key is a
    key of `planned` are taken. Returns {"imported": [...], "present": [...], "refused": [(file, why)]}."""
    src = Path(src)
    keys = {p.key: p for p in planned if p.key}
    runs_dir = src / "runs" if (src / "runs").is_dir() else src
    out = {"imported": [], "present": [], "refused": []}
    for f in sorted(runs_dir.rglob("*.json")):
        if f.name.endswith(".failed.json"):
            continue
        try:
            rec = json.loads(f.read_text())
        except ValueError as e:
            out["refused"].append((str(f), f"not JSON ({e})"))
            continue
        if not isinstance(rec, dict) or "key" not in rec or "spec" not in rec:
            continue   # not a run record
        p = keys.get(rec["key"])
        if p is None:
            why = _diagnose(rec, planned, store.profile)
            out["refused"].append((str(f), why))
            log(f"refused {f.name} ({rec['spec'].get('arm')}): {why}")
            continue
        if store.has(p.spec.notebook, p.key):
            out["present"].append(rec["key"])
            continue
        rec = {**rec, "spec": {**rec["spec"], **{k: getattr(p.spec, k) for k in ("notebook", "paper", "arm")}}}
        art = src / "artefacts" / rec["key"]
        if art.is_dir() and store.find_artefacts(rec["key"]) is None:
            shutil.copytree(art, store.artefact_dir(rec["key"]))
        store.put(rec)
        out["imported"].append(rec["key"])
    log(f"imported {len(out['imported'])}, already present {len(out['present'])}, refused {len(out['refused'])}")
    return out


# ------------------------------------------------------------------------------------------------ CLI
def _print_df(df: pd.DataFrame):
    with pd.option_context("display.width", 200, "display.max_rows", 10_000, "display.max_colwidth", 60):
        print(df.to_string())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_lib.campaign", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--profile", default="full", choices=PROFILES)
        p.add_argument("--only", default=None, help="notebooks whose name starts with this, e.g. 04")
        p.add_argument("--plans", default=None, help="comma-separated plan modules (default: fer_lib/papers/*)")
        p.add_argument("--data-root", default=None)
    st = sub.add_parser("status", help="every run: stored / pending / failed, estimated time, totals")
    common(st)
    st.add_argument("--runs", action="store_true", help="one line per run (default: one per arm)")
    st.add_argument("--store", default=None, help="a store folder (default: the profile's)")
    rn = sub.add_parser("run", help="run pending runs within a budget")
    common(rn)
    rn.add_argument("--budget", default=None, help="8m, 2h, 600 (seconds); default: no limit")
    rn.add_argument("--device", default="auto")
    rn.add_argument("--executor", default="local", choices=["local", "submitit", "submitit-local"])
    rn.add_argument("--out", default=None, help="write records/artefacts to this store folder (import it later)")
    rn.add_argument("--checkpoint-partial", action="store_true",
                    help="start runs that cannot finish in the budget; stop them at the deadline (resumable)")
    rn.add_argument("--no-retry-failed", action="store_true")
    rn.add_argument("--dry-run", action="store_true", help="list the runs that would start, with estimates")
    rn.add_argument("--threads", type=int, default=None)
    rn.add_argument("--timeout-min", type=int, default=None, help="submitit job time limit")
    rn.add_argument("--logs", default=None, help="submitit's folder for job pickles and logs (on a cluster: a "
                                                 "shared file system; default ~/.cache/fer_lib/submitit/<profile>)")
    rn.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                    help="submitit Slurm parameter, e.g. partition=gpu (repeatable)")
    im = sub.add_parser("import", help="merge records made elsewhere (refusing stale ones)")
    im.add_argument("dir")
    common(im)
    a = ap.parse_args(argv)

    modules = a.plans.split(",") if a.plans else None
    errors: list = []
    planned = collect(a.profile, a.only, modules, a.data_root, errors)
    for mod, msg in errors:
        print(f"PLAN ERROR {mod}: {msg}", file=sys.stderr)
    base = Store.for_profile(a.profile)
    if a.cmd == "status":
        store = Store.at(a.store, a.profile, fallback=base) if a.store else base
        table = status_table(planned, store)
        print(f"campaign status · profile {a.profile} · store {store.runs} · estimates from fer_lib/runs/costs.yaml"
              f" ({len(planned)} runs)\n")
        no_data = [p for p in planned if p.key is None and not p.invalid]
        if no_data:
            print(f"{len(no_data)} run(s) cannot be keyed here (their data are absent; estimates use costs.yaml's "
                  f"dataset sizes): {no_data[0].error}\n")
        for p in [p for p in planned if p.invalid][:5]:
            print(f"INVALID {p.spec.label}: {p.error}", file=sys.stderr)
        if len(table):
            _print_df(table if a.runs else by_arm(table))
            print()
            _print_df(totals(table))
        else:
            print("no planned runs (no plan module in fer_lib/papers defines plan and BUDGETS for this filter)")
        return 0 if not errors else 3
    if a.cmd == "run":
        store = Store.at(a.out, a.profile, fallback=base) if a.out else base
        slurm = dict(kv.split("=", 1) for kv in a.slurm)
        results = run(planned, store, data_root=a.data_root, device=a.device, budget_s=parse_budget(a.budget),
                      executor=a.executor, checkpoint_partial=a.checkpoint_partial, modules=modules or (),
                      threads=a.threads, timeout_min=a.timeout_min, slurm=slurm, submitit_folder=a.logs,
                      retry_failed=not a.no_retry_failed, dry_run=a.dry_run)
        if a.dry_run:
            print(f"{len(results)} run(s) would start")
            return 0
        n_done = sum(r["state"] == "done" for r in results)
        print(f"{n_done} of {len(results)} started run(s) completed; records in {store.runs}")
        return 0 if n_done == len(results) else 1
    res = import_records(Path(a.dir), planned, base)
    return 0 if not res["refused"] else 2


if __name__ == "__main__":
    sys.exit(main())
