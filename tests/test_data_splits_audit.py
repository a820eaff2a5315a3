"""Splits (official, subject-grouped k-fold, random) and the duplicate-image audit."""
import warnings

import numpy as np
import pytest

from fer_lib.data import FER7, DatasetError, FaceDataset
from fer_lib.data import audit, splits
from fer_lib.data.fer2013 import load_fer2013
from fixtures_data import fer_cache, fer_rows, noise, write_fer2013_csv  # noqa: F401


def subjects_dataset(n_subjects=12, per_subject=6, seed=0):
    rng = np.random.default_rng(seed)
    n = n_subjects * per_subject
    return FaceDataset(noise((n, 8, 8), seed=seed), rng.integers(0, 7, n), FER7, ["all"] * n, name="ckplus",
                       groups=np.repeat([f"S{i:03d}" for i in range(n_subjects)], per_subject).astype(object))


def test_official_is_identity():
    ds = subjects_dataset()
    assert splits.official(ds).split.tolist() == ds.split.tolist()


@pytest.mark.parametrize("k", [3, 4])
def test_group_kfold_no_subject_in_both(k):
    ds = subjects_dataset()
    tested = np.zeros(len(ds), int)
    for fold in range(k):
        f = splits.group_kfold(ds, k=k, fold=fold, seed=1)
        assert set(f.splits) == {"train", "test"}
        train, test = set(f.groups[f.split == "train"]), set(f.groups[f.split == "test"])
        assert train and test and not train & test
        tested += f.split == "test"
    assert (tested == 1).all()                     # the folds partition the data


def test_group_kfold_val_by_subject():
    ds = subjects_dataset(n_subjects=20)
    f = splits.group_kfold(ds, k=5, fold=2, seed=0, val=0.25)
    parts = {s: set(f.groups[f.split == s]) for s in ("train", "val", "test")}
    assert all(parts.values())
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"] and not parts["val"] & parts["test"]
    assert "group_kfold" in f.meta["split_note"]


def test_group_kfold_needs_groups():
    ds = subjects_dataset()
    with pytest.raises(DatasetError, match="groups"):
        splits.group_kfold(FaceDataset(ds.images, ds.labels, FER7, ds.split), k=3)
    with pytest.raises(DatasetError, match="fold"):
        splits.group_kfold(ds, k=3, fold=3)


def test_random_split():
    ds = subjects_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # no leakage warning outside FER2013
        r = splits.random_split(ds, (0.5, 0.25, 0.25), ("train", "val", "test"), seed=3)
    assert [(r.split == s).sum() for s in ("train", "val", "test")] == [36, 18, 18]
    assert r.split.tolist() == splits.random_split(ds, (0.5, 0.25, 0.25), ("train", "val", "test"), 3).split.tolist()


def test_random_split_warns_on_fer2013(tmp_path):
    images, labels, usages = fer_rows()
    ds = load_fer2013(write_fer2013_csv(tmp_path / "fer2013.csv", images, labels, usages))
    with pytest.warns(UserWarning, match="duplicate"):
        splits.random_split(ds)


def planted():
    """20 unique images plus planted copies. Groups: A within Training; B Training+PublicTest;
    C Training+PrivateTest with another label; D twice in PrivateTest with two labels; E in all three."""
    base = noise((25, 8, 8), seed=7)
    rows = [(base[i], i % 7, "Training") for i in range(20)]
    rows += [(base[0], 0, "Training"),                             # A: image 0 again in Training
             (base[1], 1, "PublicTest"),                           # B: image 1 in PublicTest
             (base[2], 5, "PrivateTest"),                          # C: image 2 (label 2) relabelled 5
             (base[20], 3, "PrivateTest"), (base[20], 4, "PrivateTest"),     # D
             (base[21], 6, "Training"), (base[21], 6, "PublicTest"), (base[21], 6, "PrivateTest"),  # E
             (base[22], 1, "PublicTest"), (base[23], 2, "PrivateTest")]      # unique test images
    images, labels, split = zip(*rows)
    return FaceDataset(np.stack(images), labels, FER7, split, name="planted")


def test_audit_counts():
    ds = planted()
    s = audit.duplicate_summary(ds)
    assert s["groups"] == 5 and s["groups_across_splits"] == 3 and s["groups_conflicting_labels"] == 2
    assert s["groups_within_one_split"] == 2 and s["images_in_groups"] == 11 and s["redundant_copies"] == 6
    assert s["groups_across_and_conflicting"] == 1
    assert s["groups_per_split_pair"] == {"Training/PublicTest": 2, "Training/PrivateTest": 2,
                                          "PublicTest/PrivateTest": 1}
    g = audit.duplicate_groups(ds)
    assert list(g["size"]) == [2, 2, 2, 2, 3]      # ordered by first appearance: A B C D E
    assert g.loc[2, "labels"] == ["fear", "surprise"] and g.loc[2, "splits"] == ["PrivateTest", "Training"]
    assert g.loc[0, "indices"] == [0, 20]


def test_dedup_test_mask():
    ds = planted()
    mask = audit.dedup_test_mask(ds, "Training", "PrivateTest")
    test = ds.take("PrivateTest")
    assert len(mask) == len(test) == 5
    assert mask.tolist() == [False, True, True, False, True]   # C and E have a Training copy
    both = audit.dedup_test_mask(ds, ["Training", "PublicTest"], "PrivateTest")
    assert both.tolist() == [False, True, True, False, True]
    with pytest.raises(DatasetError, match="no split"):
        audit.dedup_test_mask(ds, "train", "PrivateTest")


def test_audit_through_csv(tmp_path):
    images, labels, usages = fer_rows()
    images[8] = images[0]                          # Training row 0 (label 0) into PublicTest, label 1
    ds = load_fer2013(write_fer2013_csv(tmp_path / "fer2013.csv", images, labels, usages))
    s = audit.duplicate_summary(ds)
    assert s["groups"] == 1 and s["groups_across_splits"] == 1 and s["groups_conflicting_labels"] == 1
    assert audit.duplicate_summary(FaceDataset(noise((3, 4, 4)), [0, 1, 2], FER7, ["a"] * 3))["groups"] == 0
