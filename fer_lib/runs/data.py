"""A run's data: load the dataset a spec names, apply its split and caps, and fingerprint what is used.

The fingerprint is a hash of the data's *content* (images, labels, classes) and of the exact rows each role
(train / val / each evaluated split) uses — so a run key changes when a file, a loader, a split or a cap
changes, and never otherwise. Hashing FER2013's arrays takes ~0.2 s; the content hash is kept per dataset
file (keyed by the file's path, size and mtime, beside the dataset cache) so a warm load costs nothing.
"""
from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import FaceDataset, data_root as find_data_root, load
from ..data.cache import cache_dir, fingerprint as source_fingerprint
from ..core.io import atomic_write_json

_LOADED: dict[tuple, tuple[FaceDataset, str]] = {}   # (dataset, root, data_kw) -> (dataset, content hash)
_MAX_LOADED = 3


@dataclass
class RunData:
    """The prepared data of one run. `views` holds each evaluated split by its split name."""
    train: FaceDataset
    val: FaceDataset | None
    views: dict[str, FaceDataset]
    fingerprint: str
    classes: tuple[str, ...]
    index: dict[str, np.ndarray] = field(default_factory=dict)   # role -> rows of the split dataset
    dataset: FaceDataset | None = None                          # the whole dataset with the run's split names


def content_fingerprint(ds: FaceDataset) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps({"classes": list(ds.classes), "shape": list(ds.images.shape)}).encode())
    for a in (ds.images, ds.labels, ds.soft_labels):
        if a is not None:
            h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _memo_path() -> Path:
    return cache_dir() / "run_fingerprints.json"


def _source_state(ds: FaceDataset) -> str | None:
    """Path/size/mtime hash of the file the dataset names as its source, plus a cheap probe of the arrays
    (all labels, every 97th image), or None for generated data. The probe guards the memo against a second
    source file the dataset does not name (FERPlus' pixels come from FER2013's CSV)."""
    try:
        p = Path(ds.source)
        if not (ds.source and p.exists()):
            return None
        state = source_fingerprint([p])
    except (OSError, ValueError):
        return None
    h = hashlib.blake2b(digest_size=8)
    for a in (ds.labels, ds.images[::97], None if ds.soft_labels is None else ds.soft_labels[::97]):
        if a is not None:
            h.update(np.ascontiguousarray(a).data)
    return f"{state}-{h.hexdigest()}"


def load_dataset(name: str, data_root=None, data_kw: dict | None = None) -> tuple[FaceDataset, str]:
    """(dataset, content hash), loaded once per process (the last few datasets are kept in memory)."""
    data_kw = data_kw or {}
    root = None if name.lower() == "synthetic" else find_data_root(data_root)
    key = (name, str(root), json.dumps(data_kw, sort_keys=True))
    if key in _LOADED:
        return _LOADED[key]
    ds = load(name, root, **data_kw)
    state = _source_state(ds)
    memo_key = f"{key[0]}|{key[2]}|{state}"
    memo = {}
    if state is not None and _memo_path().exists():
        try:
            memo = json.loads(_memo_path().read_text())
        except (OSError, ValueError):
            memo = {}
    fp = memo.get(memo_key) if state is not None else None
    if fp is None:
        fp = content_fingerprint(ds)
        if state is not None:
            try:
                prefix = memo_key.rsplit("|", 1)[0] + "|"   # older states of the same dataset + options go
                atomic_write_json(_memo_path(), {**{k: v for k, v in memo.items() if not k.startswith(prefix)},
                                                 memo_key: fp})
            except OSError:
                pass  # a read-only cache only costs the hash next time
    while len(_LOADED) >= _MAX_LOADED:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[key] = (ds, fp)
    return ds, fp


def apply_split(ds: FaceDataset, split: dict) -> FaceDataset:
    from ..data import splits
    kw = dict(split)
    kind = kw.pop("kind", "official")
    if kind == "official":
        return ds
    if kind == "group_kfold":
        return splits.group_kfold(ds, **kw)
    if kind == "random":
        return splits.random_split(ds, **kw)
    if kind == "random_within":   # e.g. RAF-DB: its official train split cut 90/10 into train/val, test kept
        return _random_within(ds, **kw)
    raise ValueError(f"RunSpec.split: unknown kind {kind!r}; choose official, group_kfold, random or random_within")


def _random_within(ds: FaceDataset, split: str, fractions=(0.9, 0.1), names=("train", "val"), seed: int = 0,
                   stratify: bool = False) -> FaceDataset:
    """`splits.random_split` applied to the rows of one named split only (the others keep their names): the
    same rows as random_split(ds.take(split), ...) on that split alone."""
    from ..data import splits
    rows = np.flatnonzero(ds.split == split)
    if not len(rows):
        raise ValueError(f"RunSpec.split: {ds.name} has no split {split!r} to divide; splits are {ds.splits}")
    part = splits.random_split(ds.subset(rows), fractions, names, seed=seed, stratify=stratify)
    new = ds.split.copy()
    new[rows] = part.split
    return ds.with_split(new, note=f"{split} divided by random_split {tuple(fractions)} into {tuple(names)} "
                                   f"seed={seed}")


def _rows(ds: FaceDataset, names, cap: dict, what: str) -> np.ndarray:
    """Rows of the named splits; a split named in `cap` keeps a fixed random subset of cap[name] rows."""
    out = []
    for name in names:
        rows = np.flatnonzero(ds.split == name)
        if not len(rows):
            raise ValueError(f"RunSpec.{what}: {ds.name} has no split {name!r}; splits are {ds.splits}")
        n = cap.get(name)
        if n is not None and n < len(rows):
            rng = np.random.default_rng([int(cap.get("seed", 0)), zlib.crc32(name.encode())])
            rows = np.sort(rng.choice(rows, size=int(n), replace=False))
        out.append(rows)
    return np.sort(np.concatenate(out))


def _index(spec, data_root=None) -> tuple[FaceDataset, dict[str, np.ndarray], str]:
    """(the split dataset, role -> rows, fingerprint) of `spec`; no image is copied."""
    ds, content = load_dataset(spec.dataset, data_root, spec.data_kw)
    ds = apply_split(ds, spec.split)
    bad = set(spec.cap) - set(ds.splits) - {"seed"}
    if bad:
        raise ValueError(f"RunSpec.cap: {ds.name} has no split {sorted(bad)}; splits are {ds.splits}")
    index = {"train": _rows(ds, spec.train, spec.cap, "train")}
    if spec.val:
        index["val"] = _rows(ds, spec.val, spec.cap, "val")
    for split in dict.fromkeys(v["split"] for v in spec.evaluate):
        index[f"eval:{split}"] = _rows(ds, [split], spec.cap, "evaluate")
    h = hashlib.blake2b(content.encode(), digest_size=16)
    for role in sorted(index):
        h.update(role.encode() + b"\0" + index[role].astype(np.int64).tobytes())
    return ds, index, h.hexdigest()


def prepare(spec, data_root=None) -> RunData:
    """Load, split and cap the data of `spec` (a RunSpec), with its fingerprint."""
    ds, index, fp = _index(spec, data_root)
    views = {k.split(":", 1)[1]: ds.subset(v) for k, v in index.items() if k.startswith("eval:")}
    return RunData(train=ds.subset(index["train"]), val=ds.subset(index["val"]) if "val" in index else None,
                   views=views, fingerprint=fp, classes=ds.classes, index=index, dataset=ds)


_FP: dict[str, tuple[str, dict]] = {}


def data_fingerprint(spec, data_root=None) -> str:
    """The fingerprint of the data `spec` uses (memoised per data-defining fields of the spec)."""
    return data_facts(spec, data_root)[0]


def data_facts(spec, data_root=None) -> tuple[str, dict]:
    """(fingerprint, {"n_train", "n_val", "n_eval", "image_shape"}) of `spec`'s data; used by status/estimates."""
    k = json.dumps([spec.dataset, str(data_root), spec.data_kw, spec.split, spec.cap, spec.train, spec.val,
                    [v["split"] for v in spec.evaluate]], sort_keys=True)
    if k not in _FP:
        ds, index, fp = _index(spec, data_root)
        _FP[k] = (fp, {"n_train": len(index["train"]), "n_val": len(index.get("val", ())),
                       "n_eval": sum(len(v) for r, v in index.items() if r.startswith("eval:")),
                       "image_shape": list(ds.image_shape)})
    return _FP[k]


def clear_cache() -> None:
    _LOADED.clear()
    _FP.clear()
