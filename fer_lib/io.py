"""Atomic writes: a file is either its old content or its new content, never half of either.

Each writer goes to a temporary name in the target's folder (same file system, so the rename is atomic),
is flushed to disk, then moved into place with os.replace. A crash or kill mid-write leaves the old file (or
none) and, at worst, a `.<name>.<pid>.tmp` file that .gitignore already ignores (`*.tmp`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_torch_save"]


def atomic_write(path: str | Path, write: Callable[[object], None], mode: str = "wb") -> Path:
    """Call `write(f)` on a temporary file opened with `mode`, then move it onto `path` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data), "wb")


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), "w")


def atomic_write_json(path: str | Path, obj, indent: int | None = 1) -> Path:
    """JSON with NaN/inf refused (json.dumps(allow_nan=False)): clean the object first (results._clean)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def atomic_torch_save(obj, path: str | Path) -> Path:
    import torch
    return atomic_write(path, lambda f: torch.save(obj, f), "wb")
