"""Datasets: every loader returns a `FaceDataset` (see base.py).

`load(name, root, **opts)` dispatches to the loaders; `data_root()` finds where the datasets live.
Loaders cache their parsed arrays outside the project (see cache.py).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..core.paths import project_root
from .base import EMOTIONS, FER7, SOURCES, DatasetError, FaceDataset, not_found

__all__ = ["EMOTIONS", "FER7", "DatasetError", "FaceDataset", "LOADERS", "load", "load_present", "data_root"]


def _loaders() -> dict:
    # imported here so `import fer_lib.data` stays light (sklearn, PIL load only when a dataset does)
    from .ckplus import load_ckplus
    from .fer2013 import load_fer2013
    from .ferg import load_ferg
    from .ferplus import load_ferplus
    from .folder import load_folder
    from .jaffe import load_jaffe
    from .mnist import load_mnist
    from .rafdb import load_rafdb
    return {"fer2013": load_fer2013, "ferplus": load_ferplus, "ckplus": load_ckplus, "rafdb": load_rafdb,
            "ferg": load_ferg, "jaffe": load_jaffe, "mnist": load_mnist, "folder": load_folder}


LOADERS = ("fer2013", "ferplus", "ckplus", "rafdb", "ferg", "jaffe", "mnist", "folder")


def data_root(explicit=None) -> Path | None:
    """explicit argument → $FER_DATA_ROOT → ../shared/data next to the project root → None."""
    if explicit not in (None, ""):  # papermill passes "" for "not given"
        return Path(explicit).expanduser()
    if os.environ.get("FER_DATA_ROOT"):
        return Path(os.environ["FER_DATA_ROOT"]).expanduser()
    proj = project_root()
    if (proj.parent / "shared" / "data").is_dir():
        return (proj.parent / "shared" / "data").resolve()
    return None


def load(name: str, root=None, **opts) -> FaceDataset:
    """`load("synthetic")` (the embedded default, no files), `load("fer2013")`, `load("ckplus", peak_frames=1)`, `load("folder", "path/to/images", size=48)`.
    `root` defaults to `data_root()` (except for "folder", which needs a path)."""
    key = name.lower().replace("+", "plus").replace("-", "")
    if key == "synthetic":
        from .synthetic import make_synthetic
        return make_synthetic(**opts)
    if key not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {list(LOADERS)}")
    if root is None and key == "folder":
        raise DatasetError("load('folder') needs the image folder's path as root")
    root = data_root(root)
    if root is None:
        raise not_found(key, None, f"the {key} files in a data root") if key in SOURCES else \
            DatasetError(f"{name}: no data root")
    return _loaders()[key](root, **opts)


def load_present(specs: dict, root=None, require_any: bool = False) -> tuple[dict, dict]:
    """Load each dataset of `specs` = {label: (loader name, options)} that is present under `root`.
    Returns ({label: FaceDataset}, {label: the loader's own "not found" message}). With `require_any`, finding
    none raises one DatasetError quoting every loader's message (e.g. a mistyped data root), never a later
    error about an empty table."""
    data, absent = {}, {}
    for label, (name, opts) in specs.items():
        try:
            data[label] = load(name, root, **opts)
        except DatasetError as e:
            absent[label] = str(e)
    if require_any and not data:
        where = data_root(root)
        raise DatasetError(f"no dataset found under {where}" + ("" if where is None or Path(where).is_dir()
                                                                  else " (that folder does not exist)") +
                           ":\n" + "\n".join(f"- {m}" for m in absent.values()))
    return data, absent
