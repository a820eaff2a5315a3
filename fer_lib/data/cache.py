"""On-disk cache of parsed datasets: one uncompressed .npz per dataset + options + source state.

Parsing FER2013's CSV takes seconds and decoding thousands of image files longer; `np.load` of the arrays
takes a fraction of a second. The cache lives in `$FER_CACHE_DIR` or `~/.cache/fer_lib` (never inside the
project: the arrays are the dataset itself, which may not be redistributed). The file name is
`<dataset>-<options>-<source paths>-<source state>.npz`: hashes of the options, of the sources' absolute
paths, and of their sizes and mtimes. A changed source or option builds a new file; only an older state of
the same dataset + options + source paths is removed, so loading another file of the same dataset (a test
CSV) never evicts the real file's cache. Files are written to a temporary name `.<file>.<pid>.tmp` and moved
into place with os.replace, so an interrupted build never leaves a half-written cache behind; the temporary
file of a killed process (whose pid no longer runs) is removed by the next load.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..core.io import atomic_write
from .base import FaceDataset

CACHE_VERSION = 1  # bump when a loader's output changes for the same source


def cache_dir() -> Path:
    return Path(os.environ.get("FER_CACHE_DIR") or Path.home() / ".cache" / "fer_lib").expanduser()


def source_key(sources: Iterable) -> str:
    """Hash of the sources' absolute paths: which files a cache entry stands for."""
    return hashlib.sha1("\0".join(str(Path(s).expanduser().resolve()) for s in sources).encode()).hexdigest()[:10]


def fingerprint(sources: Iterable) -> str:
    """Hash of each source's absolute path, size and mtime; a directory counts every file below it
    (a directory's own mtime misses edits to files inside it). Loaders pass their dataset's own folder or
    files, never a whole data root, so this stays a walk of the dataset alone."""
    h = hashlib.sha1()
    for src in sources:
        p = Path(src).expanduser().resolve()
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        h.update(str(p).encode())
        for f in files:
            st = f.stat()
            h.update(f"\0{f.relative_to(p) if p.is_dir() else ''}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def cache_path(name: str, sources: Iterable, options: dict) -> Path:
    sources = list(sources)
    opts = json.dumps(options, sort_keys=True, default=str)
    okey = hashlib.sha1(f"{name}\0{CACHE_VERSION}\0{opts}".encode()).hexdigest()[:12]
    return cache_dir() / f"{name}-{okey}-{source_key(sources)}-{fingerprint(sources)}.npz"


def remove_dead_temporaries(folder: Path) -> list[Path]:
    """Delete `.<file>.<pid>.tmp` files whose writer process is gone (killed mid-write)."""
    removed = []
    for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
        try:
            pid = int(tmp.name.rsplit(".", 2)[-2])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def cached(name: str, sources: Iterable, options: dict, build: Callable[[], FaceDataset],
           enabled: bool = True) -> FaceDataset:
    """`build()`'s dataset, from the cache when the sources and options are unchanged."""
    if not enabled:
        return build()
    sources = list(sources)
    path = cache_path(name, sources, options)
    remove_dead_temporaries(path.parent)
    if path.exists():
        try:
            return load_npz(path)
        except Exception:  # unreadable file (disk error, older format): rebuild it below
            pass
    ds = build()
    try:
        save_npz(ds, path)
    except OSError as e:  # read-only or full disk: the data is still good, only slower next time
        warnings.warn(f"could not write the dataset cache {path}: {e}")
        return ds
    prefix = path.name.rsplit("-", 1)[0] + "-"
    for old in path.parent.glob(prefix + "*.npz"):  # same dataset+options+source paths, older source state
        if old != path:
            old.unlink(missing_ok=True)
    legacy = path.name.rsplit("-", 2)[0]  # named before source paths were in the key: <name>-<options>-<state>
    for old in path.parent.glob(legacy + "-" + "?" * 16 + ".npz"):
        old.unlink(missing_ok=True)
    return ds


def _write(f, arrays: dict) -> None:
    np.savez(f, **arrays)  # uncompressed: np.load is then a plain read


def save_npz(ds: FaceDataset, path: Path) -> None:
    """Write atomically (fer_lib.core.io): a temporary file in the same folder, then os.replace."""
    arrays = {"images": ds.images, "labels": ds.labels, "split": ds.split.astype(str),
              "classes": np.asarray(ds.classes, dtype=str), "name": np.asarray(ds.name),
              "source": np.asarray(ds.source), "meta": np.asarray(json.dumps(ds.meta, default=_plain))}
    for key in ("groups", "sequences", "soft_labels"):
        a = getattr(ds, key)
        if a is not None:
            arrays[key] = a.astype(str) if a.dtype == object else a
    # `.<file>.<pid>.tmp` (remove_dead_temporaries reads the pid); no fsync: a cache, rebuilt if ever lost
    atomic_write(path, lambda f: _write(f, arrays), fsync=False)


def load_npz(path: Path) -> FaceDataset:
    with np.load(path, allow_pickle=False) as z:
        get = (lambda k: z[k] if k in z.files else None)
        groups, sequences = get("groups"), get("sequences")
        return FaceDataset(
            images=z["images"], labels=z["labels"], classes=tuple(z["classes"].tolist()), split=z["split"],
            name=str(z["name"]), source=str(z["source"]),
            groups=None if groups is None else groups.astype(object) if groups.dtype.kind == "U" else groups,
            sequences=None if sequences is None else sequences.astype(object) if sequences.dtype.kind == "U"
            else sequences,
            soft_labels=get("soft_labels"), meta=json.loads(str(z["meta"])))


def _plain(x):
    """json fallback for numpy scalars/arrays in meta."""
    return x.tolist() if hasattr(x, "tolist") else str(x)
