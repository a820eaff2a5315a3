"""Checks on the real datasets (FER_DATA_ROOT or ../shared/data); skipped where they are absent.

These use the default cache (~/.cache/fer_lib or $FER_CACHE_DIR): the first run parses FER2013 (~4 s),
later runs load it in well under a second.
"""
import time

import pytest

from fer_lib.data import FER7, data_root, load
from fer_lib.data import audit, splits

pytestmark = pytest.mark.realdata


def root_with(rel):
    root = data_root()
    if root is None or not (root / rel).exists():
        pytest.skip(f"{rel} not found: set FER_DATA_ROOT")
    return root


@pytest.fixture(scope="module")
def fer():
    return load("fer2013", root_with("fer2013"))


def test_fer2013_official_counts(fer):
    c = fer.counts()
    assert fer.classes == FER7 and fer.image_shape == (48, 48)
    assert c.loc["total", ["Training", "PublicTest", "PrivateTest"]].tolist() == [28709, 3589, 3589]
    assert c.loc[list(FER7), "total"].tolist() == [4953, 547, 5121, 8989, 6077, 4002, 6198]


def test_fer2013_cached_load_is_fast(fer):
    t = time.perf_counter()
    again = load("fer2013", root_with("fer2013"))
    assert time.perf_counter() - t < 1.0 and len(again) == 35887


def test_fer2013_audit(fer):
    s = audit.duplicate_summary(fer)
    assert (s["groups"], s["groups_across_splits"], s["groups_conflicting_labels"]) == (1516, 557, 57)
    keep = audit.dedup_test_mask(fer, "Training", "PrivateTest")
    assert len(keep) == 3589 and 0 < (~keep).sum() < 3589


def test_ferplus_majority():
    ds = load("ferplus", root_with("ferplus/fer2013new.csv"))
    c = ds.counts()
    # Measured on the shared copy: 173 nameless rows, 4,200 without majority, 102 topped by unknown/NF.
    assert c.loc["total", ["Training", "PublicTest", "PrivateTest"]].tolist() == [25060, 3199, 3153]
    assert ds.meta["dropped_no_image_name"] == 173 and ds.meta["kept"] == 31412
    assert len(ds.classes) == 8


def test_ckplus48_counts():
    ds = load("ckplus", root_with("ckplus/CK+48"))
    assert len(ds) == 981 and len(set(ds.groups)) == 118 and len(set(ds.sequences)) == 327
    per = dict(zip(ds.counts().index, ds.counts()["total"]))
    assert {k: per[k] for k in ds.classes} == {"angry": 135, "disgust": 177, "fear": 75, "happy": 207,
                                               "sad": 84, "surprise": 249, "contempt": 54}
    f = splits.group_kfold(ds, k=10, fold=0)
    assert not set(f.groups[f.split == "train"]) & set(f.groups[f.split == "test"])


def test_mnist_counts():
    ds = load("mnist", root_with("mnist"))
    assert (ds.split == "train").sum() == 5000 and (ds.split == "test").sum() == 10000
    assert "subset" in ds.meta["note"]
