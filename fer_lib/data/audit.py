"""Leakage audit: groups of byte-identical images, within and across splits, and with conflicting labels.

A group is two or more images with identical bytes (blake2b of the pixel buffer). On the real FER2013 this
finds 1,516 groups, 557 of them spanning more than one split (a test image also in Training) and 57 whose
copies carry different labels. `dedup_test_mask` drops test images that have a copy in training.
"""
from __future__ import annotations

import hashlib
from itertools import combinations
from typing import Sequence

import numpy as np
import pandas as pd

from .base import DatasetError, FaceDataset


def image_hashes(ds: FaceDataset) -> np.ndarray:
    """Hex digest of each image's bytes (shape and dtype are common to the whole dataset)."""
    images = np.ascontiguousarray(ds.images)
    return np.array([hashlib.blake2b(im.tobytes(), digest_size=16).hexdigest() for im in images], dtype=object)


def group_ids(ds: FaceDataset) -> np.ndarray:
    """Per image: the id of its duplicate group (0..G-1, in order of first appearance), or -1 if unique."""
    _, first, inverse, counts = np.unique(image_hashes(ds), return_index=True, return_inverse=True,
                                          return_counts=True)
    dup = counts >= 2
    rank = np.full(len(counts), -1)
    order = np.argsort(first[dup], kind="stable")
    rank[np.flatnonzero(dup)[order]] = np.arange(dup.sum())
    return rank[inverse.ravel()]


def duplicate_groups(ds: FaceDataset) -> pd.DataFrame:
    """One row per group: its images' indices, splits and class names, and whether it spans splits or
    mixes labels."""
    gid = group_ids(ds)
    idx = np.flatnonzero(gid >= 0)
    idx = idx[np.argsort(gid[idx], kind="stable")]
    members = np.split(idx, np.flatnonzero(np.diff(gid[idx])) + 1) if len(idx) else []
    splits = [sorted(set(ds.split[m].tolist())) for m in members]
    labels = [sorted({ds.classes[c] for c in ds.labels[m]}) for m in members]
    out = pd.DataFrame({"indices": [m.tolist() for m in members], "size": [len(m) for m in members],
                        "splits": splits, "labels": labels,
                        "across_splits": [len(s) > 1 for s in splits],
                        "conflicting_labels": [len(c) > 1 for c in labels]},
                       columns=["indices", "size", "splits", "labels", "across_splits", "conflicting_labels"])
    out.index.name = "group"
    return out


def duplicate_summary(ds: FaceDataset) -> dict:
    """Counts of `duplicate_groups(ds)`: images in groups, redundant copies, groups across splits (per split
    pair) and with conflicting labels."""
    groups = duplicate_groups(ds)
    pairs = {}
    for a, b in combinations(ds.splits, 2):
        pairs[f"{a}/{b}"] = int(groups["splits"].map(lambda s: a in s and b in s).sum())
    return {
        "images": len(ds),
        "groups": len(groups),
        "images_in_groups": int(groups["size"].sum()),
        "redundant_copies": int(groups["size"].sum() - len(groups)),
        "groups_within_one_split": int((~groups["across_splits"]).sum()),
        "groups_across_splits": int(groups["across_splits"].sum()),
        "groups_conflicting_labels": int(groups["conflicting_labels"].sum()),
        "groups_across_and_conflicting": int((groups["across_splits"] & groups["conflicting_labels"]).sum()),
        "groups_per_split_pair": pairs,
    }


summary = duplicate_summary  # the old name, beside fer_lib.study.summary (the study's summary page)


def dedup_test_mask(ds: FaceDataset, train_splits: str | Sequence[str], test_split: str) -> np.ndarray:
    """Boolean mask over `ds.take(test_split)`: True for test images with no byte-identical copy in the
    training split(s)."""
    train_splits = [train_splits] if isinstance(train_splits, str) else list(train_splits)
    unknown = set(train_splits + [test_split]) - set(ds.splits)
    if unknown:
        raise DatasetError(f"{ds.name}: no split {sorted(unknown)}; splits are {ds.splits}")
    h = image_hashes(ds)
    seen = set(h[np.isin(ds.split, train_splits)].tolist())
    return np.array([x not in seen for x in h[ds.split == test_split]], dtype=bool)


def image_stats(ds: FaceDataset, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-image mean and std of the pixels, in chunks (a float copy of all FER2013 pixels would take 0.6 GB)."""
    x = ds.images.reshape(len(ds), -1)
    m, s = np.empty(len(ds)), np.empty(len(ds))
    for i in range(0, len(ds), chunk):
        xc = x[i:i + chunk].astype(np.float32)
        m[i:i + chunk], s[i:i + chunk] = xc.mean(1), xc.std(1)
    return m, s
