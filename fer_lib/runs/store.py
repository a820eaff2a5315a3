"""The run store: one small JSON record per completed run, checkpoints and cross-run artefacts beside it.

    <runs>/<notebook>/<key>.json          a completed run's record (human-readable, <= ~200 KB)
    <runs>/<notebook>/<key>.failed.json   why its last attempt failed (removed when it completes)
    <checkpoints>/<key>.pt                the engine's per-epoch checkpoint while it trains (never in git)
    <artefacts>/<key>/weights.pt          what later runs or analyses need of it (spec.keep; never in git)

Where, by profile (`Store.for_profile`):
- cpu, full: runs in reports/<profile>/runs/ (committed: the record of the study), checkpoints in
  checkpoints/ (git-ignored), artefacts in $FER_ARTEFACTS_DIR or ~/.cache/fer_lib/artefacts/<profile>/;
- smoke: everything under $FER_RUNS_DIR or ~/.cache/fer_lib/runs/smoke/ (outside the repo).
`python -m fer_lib.campaign run --out DIR` writes a portable store DIR/{runs,artefacts,checkpoints};
`python -m fer_lib.campaign import DIR` merges its records and artefacts into the profile's store.
"""
from __future__ import annotations

import base64
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.io import atomic_write_json, atomic_write_text
from ..core.paths import project_root, reports_dir

RECORD_FORMAT = 1
MAX_RECORD_BYTES = 200_000


def cache_home() -> Path:
    """$FER_CACHE_DIR or ~/.cache/fer_lib (the dataset cache's folder): where what never goes in git lives."""
    from ..data.cache import cache_dir
    return cache_dir()


@dataclass(frozen=True)
class Store:
    runs: Path
    artefacts: Path
    checkpoints: Path
    profile: str = ""
    fallback: "Store | None" = None   # read-only: records and artefacts also looked up there (campaign --out)

    @classmethod
    def for_profile(cls, profile: str, root: Path | None = None) -> "Store":
        if profile == "smoke":
            base = Path(os.environ.get("FER_RUNS_DIR") or cache_home() / "runs" / "smoke").expanduser()
            return cls(base / "runs", base / "artefacts", base / "checkpoints", profile)
        art = Path(os.environ.get("FER_ARTEFACTS_DIR") or cache_home() / "artefacts").expanduser() / profile
        ckpt = (root or project_root()) / "checkpoints"
        runs = reports_dir(profile, root) / "runs"
        committed = (root or project_root()) / "reports" / profile / "runs"
        # An experiment (the runner's FER_REPORTS_DIR) writes its own store, and reads the committed one too.
        fallback = cls(committed, art, ckpt, profile) if runs.resolve() != committed.resolve() else None
        return cls(runs, art, ckpt, profile, fallback)

    @classmethod
    def at(cls, folder: str | Path, profile: str = "", fallback: "Store | None" = None) -> "Store":
        """A self-contained store in `folder` (runs/, artefacts/, checkpoints/): campaign --out, tests.
        `fallback`: a store whose records and artefacts count as present too (read, never written)."""
        folder = Path(folder).expanduser()
        return cls(folder / "runs", folder / "artefacts", folder / "checkpoints", profile, fallback)

    # ------------------------------------------------------------------------------------------ records
    def path(self, notebook: str, key: str) -> Path:
        return self.runs / notebook / f"{key}.json"

    def get(self, notebook: str, key: str) -> dict | None:
        p = self.path(notebook, key)
        if not p.exists():
            return self.fallback.get(notebook, key) if self.fallback is not None else None
        try:
            rec = json.loads(p.read_text())
        except ValueError as e:
            raise ValueError(f"run record {p} is not valid JSON ({e}); delete it to re-run the run") from None
        if rec.get("key") != key:
            raise ValueError(f"run record {p} holds key {rec.get('key')!r}, not {key!r} (file renamed?)")
        return rec

    def has(self, notebook: str, key: str) -> bool:
        return self.path(notebook, key).exists() or (self.fallback is not None and
                                                      self.fallback.has(notebook, key))

    def put(self, record: dict) -> Path:
        text = dumps_record(record)
        if len(text) > MAX_RECORD_BYTES:
            warnings.warn(f"run record {record['key']} ({record['spec']['arm']}) is {len(text) // 1000} KB, "
                          f"over {MAX_RECORD_BYTES // 1000} KB: keep fewer views or no probabilities")
        p = self.path(record["spec"]["notebook"], record["key"])
        atomic_write_text(p, text)
        self.failure_path(record["spec"]["notebook"], record["key"]).unlink(missing_ok=True)
        return p

    def failure_path(self, notebook: str, key: str) -> Path:
        return self.runs / notebook / f"{key}.failed.json"

    def fail(self, spec, key: str, error: str) -> Path:
        return atomic_write_json(self.failure_path(spec.notebook, key),
                                 {"key": key, "spec": spec.to_dict(), "error": error[-4000:],
                                  "date": _now()})

    def failure(self, notebook: str, key: str) -> dict | None:
        p = self.failure_path(notebook, key)
        try:
            return json.loads(p.read_text()) if p.exists() else None
        except ValueError:
            return {"error": f"unreadable failure marker {p}"}

    def records(self, notebook: str | None = None) -> list[dict]:
        """Every completed record (of one notebook folder, or all), sorted by path."""
        base = self.runs / notebook if notebook else self.runs
        files = sorted(f for f in base.rglob("*.json") if not f.name.endswith(".failed.json")) \
            if base.exists() else []
        return [json.loads(f.read_text()) for f in files]

    # ------------------------------------------------------------------------------------------ files
    def checkpoint(self, key: str) -> Path:
        return self.checkpoints / f"{key}.pt"

    def artefact_dir(self, key: str) -> Path:
        """Where this store writes the artefacts of run `key`."""
        return self.artefacts / key

    def find_artefacts(self, key: str) -> Path | None:
        """The folder holding run `key`'s artefacts, here or in the fallback store; None when absent."""
        if self.artefact_dir(key).is_dir():
            return self.artefact_dir(key)
        return self.fallback.find_artefacts(key) if self.fallback is not None else None


def dumps_record(record: dict) -> str:
    """Indented JSON with every list of plain values (a history row, a list of seeds) on one line."""
    marks: dict[str, str] = {}

    def mark(x):
        if isinstance(x, dict):
            return {k: mark(v) for k, v in x.items()}
        if isinstance(x, list):
            if all(not isinstance(v, (dict, list)) for v in x):
                m = f"@@{len(marks)}@@"
                marks[m] = json.dumps(x, allow_nan=False, ensure_ascii=False)
                return m
            return [mark(v) for v in x]
        return x
    text = json.dumps(mark(record), indent=1, allow_nan=False, ensure_ascii=False)
    for m, v in marks.items():
        text = text.replace(f'"{m}"', v, 1)
    return text + "\n"


def _now() -> str:
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# ------------------------------------------------------------------------------------ compact predictions
def encode_labels(a) -> str | list[int]:
    """Class indices as a string of digits when every class index is < 10, else a list of ints."""
    a = np.asarray(a, dtype=np.int64)
    if len(a) and (a.min() < 0 or a.max() > 9):
        return a.tolist()
    return "".join(map(str, a.tolist()))


def decode_labels(s) -> np.ndarray:
    if isinstance(s, str):
        return np.frombuffer(s.encode(), dtype=np.uint8).astype(np.int64) - 48
    return np.asarray(s, dtype=np.int64)


def encode_probs(p: np.ndarray) -> dict:
    """Probabilities quantised to 8 bits (1/255 steps), base64: ~1.3 bytes per value."""
    q = np.clip(np.rint(np.asarray(p, dtype=np.float64) * 255), 0, 255).astype(np.uint8)
    return {"shape": list(q.shape), "u8_base64": base64.b64encode(q.tobytes()).decode()}


def decode_probs(d: dict) -> np.ndarray:
    q = np.frombuffer(base64.b64decode(d["u8_base64"]), dtype=np.uint8).reshape(d["shape"])
    return q.astype(np.float32) / 255.0


def predictions(record: dict, view: str):
    """The fer_lib.core.metrics.Predictions of `view` in `record`: exact labels and predicted classes; probabilities
    when the run kept them (8-bit, nudged so their argmax is the stored prediction), else one-hot."""
    from ..core.metrics import Predictions
    entry = record["predictions"].get(view)
    if entry is None:
        raise KeyError(f"run {record['key']} ({record['spec']['arm']}): no predictions for {view!r}; "
                       f"it has {sorted(record['predictions'])}")
    y_true = decode_labels(record["labels"][entry["split"]])
    y_pred = decode_labels(entry["pred"])
    n_cls = len(record["classes"])
    if entry.get("probs"):
        probs = decode_probs(entry["probs"])
        probs[np.arange(len(y_pred)), y_pred] += 1e-3  # quantisation ties: the stored argmax wins
    else:
        probs = np.eye(n_cls, dtype=np.float32)[y_pred]
    loss = record["metrics"].get(view, {}).get("loss")
    return Predictions(y_true, probs, tuple(record["classes"]), loss=float("nan") if loss is None else loss)


def history(record: dict):
    import pandas as pd
    h = record.get("history") or {"columns": [], "rows": []}
    return pd.DataFrame(h["rows"], columns=h["columns"])
