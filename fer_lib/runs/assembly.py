"""`assemble`: what a notebook calls to get its runs — stored ones loaded, missing ones trained or listed."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .plans import Planned, resolve
from .spec import RunSpec
from .store import Store, history as _history, predictions as _predictions


def dependency_order(planned: list[Planned]) -> list[Planned]:
    """`planned` with every run after the runs it needs (stable otherwise)."""
    names = {p.spec.name: p for p in planned if p.spec.name}
    out, seen = [], set()

    def add(p):
        if id(p) in seen:
            return
        seen.add(id(p))
        for n in p.spec.needs:
            if n in names:
                add(names[n])
        out.append(p)
    for p in planned:
        add(p)
    return out


def ensure(planned: list[Planned], store: Store, data_root=None, device="auto", *, train: bool = True,
           progress: bool = False, on_error: str = "raise", retry_failed: bool = True,
           log=print) -> dict[int, dict | None]:
    """{index in `planned`: record or None}; with `train`, missing runs (and needed runs whose artefacts are
    absent) are executed first, in dependency order.

    on_error: "raise" stops at a run's exception; "record" writes it as the run's failure marker (the run stays
    missing, `Runs.failures` says why) and goes on. retry_failed=False leaves runs with a failure marker alone."""
    from .execute import execute
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error={on_error!r}: choose raise or record")
    by_key = {p.key: p for p in planned if p.key}
    records: dict[str, dict | None] = {}
    for p in dependency_order(planned):
        if p.key is None:
            continue
        rec = store.get(p.spec.notebook, p.key)
        if rec is not None and rec.get("artefacts") and train and store.find_artefacts(p.key) is None and any(
                p.key in q.needs_keys.values() and not store.has(q.spec.notebook, q.key) for q in planned if q.key):
            rec = None  # record stored, artefact not here, and a missing run needs it: its producer runs again
        if rec is None and train and (retry_failed or store.failure(p.spec.notebook, p.key) is None):
            needed = [by_key.get(k) for k in p.needs_keys.values()]
            if any(n is None or records.get(n.key) is None for n in needed):
                log(f"skipped {p.spec.label}: a run it needs is missing")
            else:
                log(f"training {p.spec.label} ({p.key}) ...")
                try:
                    rec = execute(p.spec, data_root, device, store, key=p.key, needs_keys=p.needs_keys,
                                  progress=progress)
                except Exception as e:
                    if on_error == "raise":
                        raise
                    store.fail(p.spec, p.key, f"{type(e).__name__}: {e}")
                    log(f"failed {p.spec.label}: {type(e).__name__}: {e}")
        records[p.key] = rec
    return {i: records.get(p.key) for i, p in enumerate(planned)}


@dataclass
class Runs:
    """A notebook's runs: the plan, and per run its record (None while pending)."""
    planned: list[Planned]
    records: list[dict | None]
    profile: str = ""
    device_kind: str = "gpu"
    failures: list = field(default_factory=list)   # per run: its failure marker's error text, or None

    # --------------------------------------------------------------------------------------- selection
    @property
    def complete(self) -> bool:
        return all(r is not None for r in self.records)

    @property
    def pending(self) -> list[Planned]:
        return [p for p, r in zip(self.planned, self.records) if r is None]

    def select(self, arm: str | None = None, **tags) -> "Runs":
        """The runs of one arm and/or with the given tag values (e.g. select(factor=4))."""
        keep = [i for i, p in enumerate(self.planned)
                if (arm is None or p.spec.arm == arm) and all(p.spec.tags.get(k) == v for k, v in tags.items())]
        return Runs([self.planned[i] for i in keep], [self.records[i] for i in keep], self.profile,
                    self.device_kind, [self._failure(i) for i in keep])

    def _failure(self, i: int) -> str | None:
        return self.failures[i] if i < len(self.failures) else None

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(p.spec.arm for p in self.planned))

    def _one(self, which) -> tuple[Planned, dict | None]:
        hits = [(p, r) for p, r in zip(self.planned, self.records)
                if which is p.spec or which == p.spec or which == p.key]
        if len(hits) != 1:
            raise KeyError(f"no single run matches {which!r}: pass a RunSpec of the plan or its key")
        return hits[0]

    def _of(self, which) -> list[tuple[Planned, dict | None]]:
        """Runs of an arm (a string naming one), or the one run of a spec / key."""
        if isinstance(which, str) and which in self.arms:
            return [(p, r) for p, r in zip(self.planned, self.records) if p.spec.arm == which]
        return [self._one(which)]

    # --------------------------------------------------------------------------------------- per run
    def record(self, which) -> dict | None:
        return self._one(which)[1]

    def history(self, which) -> pd.DataFrame | None:
        r = self._one(which)[1]
        return None if r is None else _history(r)

    def predictions(self, which, view: str):
        """fer_lib.core.metrics.Predictions of `view`: one (a spec or key) or a list in seed order (an arm);
        None for a pending run."""
        got = [None if r is None else _predictions(r, view) for _, r in self._of(which)]
        return got[0] if not (isinstance(which, str) and which in self.arms) else got

    def metric(self, view: str, metric: str = "accuracy") -> dict[str, list[float]]:
        """{arm: [value per stored seed]} — pending runs are left out (compare counts with `n_planned`)."""
        out: dict[str, list[float]] = {a: [] for a in self.arms}
        for p, r in zip(self.planned, self.records):
            if r is not None:
                v = r["metrics"].get(view, {}).get(metric)
                if v is not None:
                    out[p.spec.arm].append(v)
        return out

    # --------------------------------------------------------------------------------------- tables
    def table(self, metric: str = "accuracy") -> pd.DataFrame:
        """One row per planned run: arm, seed, tags, status, `metric` of each evaluated view, best epoch."""
        rows = []
        for i, (p, r) in enumerate(zip(self.planned, self.records)):
            fail = self._failure(i)
            row = {"arm": p.spec.arm, "seed": p.spec.seed, **{f"tag {k}": v for k, v in p.spec.tags.items()},
                   "status": "stored" if r is not None else f"invalid: {p.error[:120]}" if p.invalid else
                   "no data" if p.key is None else
                   f"failed: {fail.strip().splitlines()[-1][:120]}" if fail else "pending"}
            for v in p.spec.evaluate:
                row[v["name"]] = None if r is None else r["metrics"].get(v["name"], {}).get(metric)
            row["best epoch"] = None if r is None else r["best_epoch"]
            row["collapsed"] = None if r is None else r.get("collapsed")
            row["key"] = p.key
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self, view: str, metric: str = "accuracy", scale: float = 100.0) -> pd.DataFrame:
        """Per arm: mean ± 95 % CI over stored seeds, seeds stored / planned."""
        from ..core.metrics import fmt_ci, mean_ci
        rows = []
        for arm, vals in self.metric(view, metric).items():
            m = mean_ci(vals)
            n_plan = sum(p.spec.arm == arm for p in self.planned)
            rows.append({"arm": arm, view: fmt_ci(m, scale), "mean": m["mean"], "ci95": m["ci95"],
                         "seeds": f"{m['n']}/{n_plan}"})
        return pd.DataFrame(rows).set_index("arm")

    def pending_table(self) -> pd.DataFrame:
        """Per claim/arm: runs missing, of how many, estimated GPU and CPU minutes (costs.yaml)."""
        from .costs import estimate_seconds
        rows = {}
        for p, r in zip(self.planned, self.records):
            claim = p.spec.tags.get("claim", "")
            row = rows.setdefault((claim, p.spec.arm), {"claim": claim, "arm": p.spec.arm, "runs missing": 0,
                                                        "of": 0, "est. GPU min": 0.0, "est. CPU min": 0.0})
            row["of"] += 1
            if r is None:
                row["runs missing"] += 1
                row["est. GPU min"] += estimate_seconds(p.spec, p.facts, "gpu") / 60
                row["est. CPU min"] += estimate_seconds(p.spec, p.facts, "cpu") / 60
        df = pd.DataFrame(list(rows.values()),
                          columns=["claim", "arm", "runs missing", "of", "est. GPU min", "est. CPU min"])
        df = df[df["runs missing"] > 0].reset_index(drop=True)
        return df.round({"est. GPU min": 1, "est. CPU min": 1})

    def status_line(self) -> str:
        n, miss = len(self.planned), len(self.pending)
        if not miss:
            return f"{n} runs, all stored"
        gpu = self.pending_table()["est. GPU min"].sum()
        return (f"{n - miss} of {n} runs stored, {miss} pending (≈ {gpu:.0f} GPU min; "
                "python -m fer_lib.campaign run, then render again)")

    def _repr_html_(self):
        return f"<p>{self.status_line()}</p>" + self.table().to_html(index=False, na_rep="·")


def assemble(nb_run, plan: list[RunSpec], train: bool = True, *, store: Store | None = None, device=None,
             data_root=None, progress: bool = False, on_error: str = "raise", retry_failed: bool = True,
             log=None) -> Runs:
    """The runs of `plan` for the notebook run `nb_run` (fer_lib.study.notebook.start's NotebookRun, or None for the
    smoke store with defaults): stored runs are loaded; missing runs are trained (train=True) or left pending.
    on_error="record" keeps a failing run (e.g. a diverging lr) as a failure and goes on (see `ensure`).

    Rendering a notebook whose runs are all stored needs neither a GPU nor training."""
    profile = getattr(nb_run, "profile", "smoke")
    store = store or Store.for_profile(profile)
    data_root = data_root if data_root is not None else getattr(nb_run, "data_root", None)
    device = str(device or getattr(nb_run, "device", "auto"))
    planned = resolve(list(plan), data_root)
    got = ensure(planned, store, data_root, device, train=train, progress=progress, on_error=on_error,
                 retry_failed=retry_failed, log=log or (lambda *_: None))
    from .costs import device_kind
    records = [got[i] for i in range(len(planned))]
    failures = [None if r is not None or p.key is None else (store.failure(p.spec.notebook, p.key) or {}).get("error")
                for p, r in zip(planned, records)]
    return Runs(planned, records, profile, device_kind(device), failures)
