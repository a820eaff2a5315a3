"""The one dataset object every loader returns and the engine consumes.

A `FaceDataset` is plain arrays held in memory: uint8 images, int labels indexing `classes`, one split name
per image, optional subject/sequence ids. Class names always come from `EMOTIONS`, the canonical order
(FER2013's seven, then contempt), so results from different datasets line up by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

# Canonical emotion order: FER2013's 0-6, then contempt (CK+, FERPlus). Every loader maps its own order
# onto these names explicitly.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
FER7: tuple[str, ...] = EMOTIONS[:7]


class DatasetError(ValueError):
    """Bad or missing dataset input; the message names the file, row or parameter."""


# Where users obtain each dataset: quoted by every "not found" error, since none of them may be bundled.
SOURCES: dict[str, str] = {
    "fer2013": "the Kaggle challenge page https://www.kaggle.com/c/challenges-in-representation-learning-"
               "facial-expression-recognition-challenge/data",
    "ferplus": "https://github.com/microsoft/FERPlus (fer2013new.csv; pixels come from FER2013's fer2013.csv)",
    "ckplus": "the CK+ request page on the Pitt / Jeff Cohn site (https://www.jeffcohn.net/resources/)",
    "rafdb": "http://www.whdeng.cn/raf/model1.html (request the basic set)",
    "ferg": "https://grail.cs.washington.edu/projects/deepexpr/ferg-2d-db.html",
    "jaffe": "https://zenodo.org/record/3451524",
    "mnist": "http://yann.lecun.com/exdb/mnist/ or torchvision.datasets.MNIST(root, download=True)",
}


def not_found(dataset: str, root, expected: str) -> DatasetError:
    """The error for a missing dataset: what was looked for, where, and where to get it."""
    where = f"under {root}" if root is not None else "(no data root: pass a path or set FER_DATA_ROOT)"
    return DatasetError(f"{dataset} not found {where}: expected {expected}. Obtain it from {SOURCES[dataset]}")


def first_existing(root, candidates: Sequence[str]) -> Path | None:
    """The first `root/candidate` that exists ("" means root itself), or None."""
    if root is None:
        return None
    root = Path(root).expanduser()
    for c in candidates:
        p = root / c if c else root
        if p.exists():
            return p
    return None


@dataclass
class FaceDataset:
    images: np.ndarray            # uint8, (N, H, W) grey or (N, H, W, 3) colour
    labels: np.ndarray            # int64, (N,), indexes `classes`
    classes: tuple[str, ...]      # canonical names (a subset of EMOTIONS, or digits for MNIST)
    split: np.ndarray             # str, (N,): the dataset's own split names ("Training", "PublicTest", ...)
    name: str = "dataset"
    source: str = ""              # path (or generator description) the data came from
    groups: np.ndarray | None = None       # subject ids, for subject-grouped splits
    sequences: np.ndarray | None = None    # sequence ids (CK+), optional
    soft_labels: np.ndarray | None = None  # float32 (N, C) label distribution (FERPlus probability mode)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.images)
        if self.images.dtype != np.uint8:
            raise DatasetError(f"{self.name}: images must be uint8, got {self.images.dtype}")
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.split = np.asarray(self.split, dtype=object)
        self.classes = tuple(self.classes)
        for attr in ("labels", "split", "groups", "sequences", "soft_labels"):
            a = getattr(self, attr)
            if a is not None and len(a) != n:
                raise DatasetError(f"{self.name}: {attr} has {len(a)} entries for {n} images")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise DatasetError(f"{self.name}: labels outside 0..{len(self.classes) - 1}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(self.split.tolist()))

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def subset(self, index) -> "FaceDataset":
        """Rows by boolean mask or integer index; every per-image array follows."""
        index = np.asarray(index)
        pick = (lambda a: None if a is None else a[index])
        return replace(self, images=self.images[index], labels=self.labels[index], split=self.split[index],
                       groups=pick(self.groups), sequences=pick(self.sequences),
                       soft_labels=pick(self.soft_labels), meta=dict(self.meta))

    def take(self, *splits: str) -> "FaceDataset":
        """The images of the named split(s)."""
        unknown = set(splits) - set(self.splits)
        if unknown:
            raise DatasetError(f"{self.name}: no split {sorted(unknown)}; splits are {self.splits}")
        return self.subset(np.isin(self.split, list(splits)))

    def with_split(self, split: Sequence[str], note: str = "") -> "FaceDataset":
        """A copy with new split names (from fer_lib.data.splits)."""
        meta = dict(self.meta, split_note=note) if note else dict(self.meta)
        return replace(self, split=np.asarray(split, dtype=object), meta=meta)

    def counts(self) -> pd.DataFrame:
        """Images per class (rows, canonical order) and split (columns), with totals."""
        df = pd.crosstab(pd.Categorical([self.classes[i] for i in self.labels], categories=self.classes),
                         pd.Categorical(self.split, categories=self.splits), dropna=False)
        df.index.name, df.columns.name = "class", "split"
        df["total"] = df.sum(axis=1)
        df.loc["total"] = df.sum(axis=0)
        return df

    def __repr__(self) -> str:
        per = ", ".join(f"{s}={int((self.split == s).sum())}" for s in self.splits)
        return (f"FaceDataset({self.name!r}, n={len(self)}, image={self.image_shape}, "
                f"classes={len(self.classes)}, splits: {per})")
