"""The tidy results every notebook writes, and the facts each number carries (profile, data, seeds, hardware).

One JSON file per notebook: `reports/<profile>/results/<notebook>.json` (an experiment run by the runner with
-p writes to its own folder instead: see fer_lib.core.paths.reports_dir) = {"notebook", "profile", "hardware",
"written", "records": [...]}. A record is keyed like a paper claim (paper, source, row, column) so the
summary can put "paper" beside "ours"; measured numbers come only from here, paper numbers only from
fer_lib/study/paper_claims.yaml.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.io import atomic_write_text
from ..core.metrics import mean_ci
from ..core.paths import project_root, reports_dir  # noqa: F401  (re-exported: notebooks and the runner use them)

RECORD_FIELDS = ("paper", "source", "row", "column", "value", "unit", "n_seeds", "std", "ci95", "seeds",
                 "profile", "dataset", "split", "hardware", "config_hash", "pretrained", "note")


def hardware() -> str:
    """One line naming the hardware a number was measured on."""
    import torch
    if torch.cuda.is_available():
        dev = f"GPU {torch.cuda.get_device_name(0)}"
    else:
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        dev = f"CPU {cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    return f"{dev}; torch {torch.__version__}"


def config_hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def record(paper: str, source: str, row: str, column: str, values, *, unit: str = "fraction",
           profile: str, dataset: str, seeds=None, split: str = "", config=None, pretrained=None,
           note: str = "", hw: str | None = None, n_test: int | None = None, comparable: bool | None = None,
           deviation: str = "") -> dict:
    """One measured cell. `values` is a number or one number per seed (mean ± 95 % CI computed here).
    Optional, for the verdict policy (fer_lib.study.verdict): n_test (test images behind an accuracy: its binomial
    error), comparable=False + deviation (why the run does not follow the paper's protocol or budget)."""
    vals = list(np.atleast_1d(np.asarray(values, dtype=float)))
    m = mean_ci(vals)
    return {"paper": paper, "source": source, "row": row, "column": column, "value": m["mean"], "unit": unit,
            "n_seeds": m["n"], "std": m["std"], "ci95": m["ci95"], "values": vals,
            "seeds": list(seeds) if seeds is not None else None, "profile": profile, "dataset": dataset,
            "split": split, "hardware": hw or hardware(),
            "config_hash": config_hash(config) if config is not None else None,
            "pretrained": pretrained, "note": note,
            **({"n_test": int(n_test)} if n_test else {}),
            **({"comparable": bool(comparable), "deviation": deviation} if comparable is not None else {})}


def _clean(x):
    """NaN is not JSON: write null."""
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        return _clean(x.item())
    return x


def results_path(notebook: str, profile: str, root: Path | None = None) -> Path:
    return reports_dir(profile, root) / "results" / f"{notebook}.json"


def write_results(notebook: str, profile: str, records: list[dict], root: Path | None = None,
                  extra: dict | None = None) -> Path:
    """Write a notebook's records atomically (a crash leaves the previous file intact)."""
    for r in records:
        missing = [k for k in ("paper", "source", "row", "column", "value", "profile", "dataset") if k not in r]
        if missing:
            raise ValueError(f"write_results({notebook}): record {r.get('row')!r} lacks {missing}")
    path = results_path(notebook, profile, root)
    doc = {"notebook": notebook, "profile": profile, "hardware": hardware(),
           "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "records": records, **(extra or {})}
    return atomic_write_text(path, json.dumps(_clean(doc), indent=1))


def read_results(profile: str, root: Path | None = None) -> pd.DataFrame:
    """Every record of every notebook of a profile, one row each (empty frame when none)."""
    folder = reports_dir(profile, root) / "results"
    rows = []
    for f in sorted(folder.glob("*.json")) if folder.exists() else []:
        doc = json.loads(f.read_text())
        rows += [{"notebook": doc["notebook"], **r} for r in doc["records"]]
    return pd.DataFrame(rows, columns=["notebook", *RECORD_FIELDS, "values"] if not rows else None)
