"""Read-only access to the five papers' numeric claims, transcribed in ``paper_claims.yaml``
(packaged beside this module): every table cell and every number stated in the text, one
entry per (paper, source, row, column) key. These are the papers' numbers, never our
results; notebooks use :func:`claim` and :func:`claims_table` to print "paper" beside "ours",
and :func:`load_claims` validates the file so a bad edit fails loudly.
"""
from __future__ import annotations

import numbers
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

CLAIMS_PATH = Path(__file__).with_name("paper_claims.yaml")
PAPERS = ("p1", "p2", "p3", "p4", "p5")
UNITS = ("percent", "fraction", "count", "ms", "fps", "epochs", "pp", "ratio", "other")
KINDS = ("result", "data", "setting", "cited")
KEY = ["paper", "source", "row", "column"]
REQUIRED = KEY + ["value", "unit", "dataset", "kind", "quote"]
# Optional judging metadata (fer_lib.study.verdict): what the number measures, which way is better, one-sidedness,
# and whether the paper's model needs pretrained weights. Defaults: measure from the unit (ms -> time,
# count -> count, epochs -> epoch, else mean), direction higher (time: lower), sided two.
OPTIONAL = {"measure": ("mean", "dispersion", "halfwidth", "time", "count", "epoch", "confusion"),
            "direction": ("higher", "lower"), "sided": ("two", "at least", "at most"), "pretrained": (True, False)}
FIELDS = REQUIRED + ["note", *OPTIONAL]


def _check(i: int, e: object) -> None:
    """Raise ValueError naming entry ``i`` if it breaks the schema."""
    where = f"paper_claims.yaml entry #{i}"
    if not isinstance(e, dict):
        raise ValueError(f"{where}: not a mapping: {e!r}")
    where += f" {tuple(e.get(k) for k in KEY)}"
    missing = [f for f in REQUIRED if f not in e]
    extra = [f for f in e if f not in FIELDS]
    if missing or extra:
        raise ValueError(f"{where}: missing fields {missing}, unknown fields {extra}")
    for f in KEY + ["quote"]:
        if not isinstance(e[f], str) or not e[f].strip():
            raise ValueError(f"{where}: {f} must be a non-empty string")
    # bool is an int subclass in Python, but True is never a paper's number
    if isinstance(e["value"], bool) or not isinstance(e["value"], numbers.Real):
        raise ValueError(f"{where}: value {e['value']!r} is not a number")
    if e["paper"] not in PAPERS:
        raise ValueError(f"{where}: paper must be one of {PAPERS}")
    if e["unit"] not in UNITS:
        raise ValueError(f"{where}: unit {e['unit']!r} not in {UNITS}")
    if e["kind"] not in KINDS:
        raise ValueError(f"{where}: kind {e['kind']!r} not in {KINDS}")
    if e["dataset"] is not None and not isinstance(e["dataset"], str):
        raise ValueError(f"{where}: dataset must be a string or null")
    if len(e["quote"]) > 160:
        raise ValueError(f"{where}: quote longer than 160 characters")
    if "note" in e and not isinstance(e["note"], str):
        raise ValueError(f"{where}: note must be a string")
    for f, allowed in OPTIONAL.items():
        if f in e and (isinstance(e[f], bool) != isinstance(allowed[0], bool) or e[f] not in allowed):
            raise ValueError(f"{where}: {f} {e[f]!r} not in {allowed}")


def load_claims(path: str | Path | None = None) -> pd.DataFrame:
    """Load and validate the claims file; one row per claim, in file order."""
    path = Path(path) if path is not None else CLAIMS_PATH
    if path == CLAIMS_PATH:
        return _load_packaged().copy()  # callers may mutate; keep the cache pristine
    return _load(path)


@lru_cache(maxsize=1)
def _load_packaged() -> pd.DataFrame:
    return _load(CLAIMS_PATH)


def _load(path: Path) -> pd.DataFrame:
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty YAML list of claims")
    seen: dict[tuple, int] = {}
    for i, e in enumerate(entries):
        _check(i, e)
        key = tuple(e[k] for k in KEY)
        if key in seen:
            raise ValueError(f"paper_claims.yaml entry #{i} {key}: duplicate key "
                             f"(first at entry #{seen[key]})")
        seen[key] = i
    df = pd.DataFrame(entries, columns=FIELDS)
    df["value"] = df["value"].astype(float)
    return df


def claim(paper: str, source: str, row: str, column: str) -> float:
    """The paper's value for one cell/claim, e.g. claim("p1", "Table 2", "Base", "CK+")."""
    df = _load_packaged()
    hit = df[(df.paper == paper) & (df.source == source) & (df.row == row) & (df.column == column)]
    if hit.empty:
        near = df[(df.paper == paper) & (df.source == source)]
        if near.empty:
            known = sorted(df.loc[df.paper == paper, "source"].unique())
            raise KeyError(f"no claims for ({paper!r}, {source!r}); sources of {paper!r}: {known}")
        raise KeyError(f"no claim ({paper!r}, {source!r}, {row!r}, {column!r}); "
                       f"rows: {list(near.row.unique())}; columns: {list(near.column.unique())}")
    return float(hit.value.iloc[0])


def claims_table(paper: str, source: str) -> pd.DataFrame:
    """The claims of one source pivoted rows x columns, in the paper's order (NaN = no number)."""
    df = _load_packaged()
    sub = df[(df.paper == paper) & (df.source == source)]
    if sub.empty:
        raise KeyError(f"no claims for ({paper!r}, {source!r})")
    table = sub.pivot(index="row", columns="column", values="value")
    table = table.reindex(index=sub.row.unique(), columns=sub.column.unique())
    table.index.name, table.columns.name = None, None
    return table
