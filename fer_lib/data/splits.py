"""Train/test splits. Every function returns `ds.with_split(...)`: same images, new split names.

- `official`: the dataset's own split (FER2013's Training/PublicTest/PrivateTest, RAF-DB's train/test).
- `group_kfold`: subject-grouped, class-stratified k-fold (sklearn StratifiedGroupKFold), for CK+, JAFFE,
  FERG, which have no official split and several images per subject: a subject never sits in both train and
  test. Optionally carves a "val" split from train, again by subject.
- `random_split`: image-level random fractions. On FER2013/FERPlus it warns: byte-identical images
  (1,516 groups in FER2013) then land on both sides.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from .base import DatasetError, FaceDataset


def official(ds: FaceDataset) -> FaceDataset:
    return ds.with_split(ds.split.copy(), note="official split")


def _group_fold(labels, groups, k: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "least populated class has only n members": expected on small sets
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        folds = list(cv.split(np.zeros(len(labels)), labels, groups))
    return folds[fold]


def group_kfold(ds: FaceDataset, k: int = 10, fold: int = 0, seed: int = 0, val: float = 0.0) -> FaceDataset:
    """Fold `fold` of k as "test", the rest "train"; with `val` (a fraction, e.g. 0.1) about that share of
    the train subjects become "val"."""
    if ds.groups is None:
        raise DatasetError(f"{ds.name}: group_kfold needs subject ids (ds.groups)")
    n_groups = len(set(ds.groups.tolist()))
    if not 2 <= k <= n_groups or not 0 <= fold < k:
        raise DatasetError(f"{ds.name}: need 2 <= k <= {n_groups} subjects and 0 <= fold < k (k={k}, fold={fold})")
    train, test = _group_fold(ds.labels, ds.groups, k, fold, seed)
    split = np.full(len(ds), "train", dtype=object)
    split[test] = "test"
    if val:
        if not 0 < val < 0.5:
            raise DatasetError(f"{ds.name}: val must be a fraction in (0, 0.5), got {val}")
        inner = min(max(2, round(1 / val)), len(set(ds.groups[train].tolist())))
        _, v = _group_fold(ds.labels[train], ds.groups[train], inner, 0, seed)
        split[train[v]] = "val"
    return ds.with_split(split, note=f"group_kfold k={k} fold={fold} seed={seed} val={val}")


def random_split(ds: FaceDataset, fractions: Sequence[float] = (0.8, 0.2),
                 names: Sequence[str] = ("train", "test"), seed: int = 0, stratify: bool = False) -> FaceDataset:
    """Image-level random split; `stratify=True` splits each class by the same fractions (class shares kept)."""
    if len(fractions) != len(names) or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise DatasetError(f"random_split: fractions {tuple(fractions)} must match names {tuple(names)} "
                           "and sum to 1")
    if ds.name.startswith(("fer2013", "ferplus")):
        warnings.warn(f"random_split on {ds.name}: FER2013 holds byte-identical duplicate images "
                      "(1,516 groups), which a random split puts in both train and test; prefer "
                      "splits.official, or filter the test set with audit.dedup_test_mask", stacklevel=2)
    rng = np.random.default_rng(seed)
    split = np.empty(len(ds), dtype=object)
    for rows in ([np.flatnonzero(ds.labels == c) for c in np.unique(ds.labels)] if stratify
                 else [np.arange(len(ds))]):
        order = rows[rng.permutation(len(rows))]
        bounds = np.round(np.cumsum(fractions)[:-1] * len(rows)).astype(int)
        for name, part in zip(names, np.split(order, bounds)):
            split[part] = name
    return ds.with_split(split, note=f"random_split {tuple(fractions)} seed={seed}"
                         + (" stratified by class" if stratify else ""))
