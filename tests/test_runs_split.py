"""fer_lib.runs.data.apply_split's "random_within" kind: one named split cut at random into parts (RAF-DB's
official train split 90/10 into train / val), the other splits untouched; the existing kinds are as before."""
import numpy as np
import pytest

import runs_tiny_plan as tiny
from fer_lib.data import FaceDataset
from fer_lib.data.splits import group_kfold, random_split
from fer_lib.runs.data import apply_split, data_fingerprint

WITHIN = {"kind": "random_within", "split": "train", "fractions": [0.9, 0.1], "names": ["train", "val"], "seed": 0}


def _ds(n_train=40, n_test=15):
    rng = np.random.default_rng(0)
    n = n_train + n_test
    split = ["test" if i % 4 == 3 and (i // 4) < n_test else "train" for i in range(n)]   # interleaved, as in files
    split = split[:n]
    return FaceDataset(rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), rng.integers(0, 7, n),
                       tuple("abcdefg"), split, name="toy", groups=np.arange(n) % 10)


def test_random_within_cuts_one_split_as_random_split_would_on_it_alone():
    ds = _ds()
    got = apply_split(ds, WITHIN)
    train = np.flatnonzero(ds.split == "train")
    alone = random_split(ds.subset(train), (0.9, 0.1), ("train", "val"), seed=0)   # the pre-run-store notebook's way
    assert got.split[train].tolist() == alone.split.tolist()
    assert (got.split[ds.split == "test"] == "test").all()                          # the other split is untouched
    assert (got.split == "val").sum() == round(0.1 * len(train)) and set(got.splits) == {"train", "val", "test"}
    assert np.array_equal(got.images, ds.images) and np.array_equal(got.labels, ds.labels)
    assert apply_split(ds, {**WITHIN, "seed": 1}).split.tolist() != got.split.tolist()
    assert apply_split(ds, WITHIN).split.tolist() == got.split.tolist()             # deterministic


def test_random_within_names_a_missing_split():
    with pytest.raises(ValueError, match="no split 'training' to divide"):
        apply_split(_ds(), {**WITHIN, "split": "training"})
    with pytest.raises(ValueError, match="random_within"):
        apply_split(_ds(), {"kind": "holdout"})


def test_existing_kinds_unchanged():
    ds = _ds()
    assert apply_split(ds, {}) is ds
    assert apply_split(ds, {"kind": "random", "seed": 3}).split.tolist() == random_split(ds, seed=3).split.tolist()
    assert (apply_split(ds, {"kind": "group_kfold", "k": 5, "fold": 1}).split.tolist()
            == group_kfold(ds, k=5, fold=1).split.tolist())


def test_a_spec_without_the_new_kind_keeps_its_fingerprint_and_the_new_kind_changes_it():
    spec = tiny.plan("smoke")[0]
    before = data_fingerprint(spec)
    assert data_fingerprint(spec.replace(split={})) == before
    cut = spec.replace(split={**WITHIN, "split": spec.train[0], "names": [spec.train[0], "held out"]})
    assert data_fingerprint(cut) != before
