"""FERPlus loader: vote rules (majority / plurality / probability), dropped rows, row alignment."""
import numpy as np
import pytest

from fer_lib.data import EMOTIONS, DatasetError
from fer_lib.data.ferplus import load_ferplus
from fixtures_data import fer_cache, fer_rows, write_fer2013_csv, write_ferplus_csv  # noqa: F401

# neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
VOTES = [
    [8, 2, 0, 0, 0, 0, 0, 0, 0, 0],   # 0 neutral
    [0, 4, 4, 0, 0, 0, 0, 0, 2, 0],   # 1 happiness/surprise tie
    [1, 1, 1, 0, 0, 0, 0, 0, 0, 7],   # 2 single votes removed -> NF
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # 3 empty image name
    [0, 0, 0, 0, 6, 0, 1, 1, 2, 0],   # 4 anger 6 of 8 after outliers
    [0, 0, 0, 3, 0, 0, 0, 3, 0, 4],   # 5 NF plurality, no majority
    [2, 0, 0, 0, 0, 0, 0, 6, 1, 1],   # 6 contempt 6 of 8
    [0, 0, 0, 0, 0, 5, 5, 0, 0, 0],   # 7 disgust/fear tie
    [0, 0, 3, 0, 0, 0, 0, 0, 0, 0],   # 8 surprise
    [10, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # 9-11 neutral
    [0, 10, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 10, 0, 0, 0, 0, 0, 0],
]


@pytest.fixture
def ferplus_root(tmp_path):
    images, labels, usages = fer_rows()
    write_fer2013_csv(tmp_path / "fer2013" / "fer2013.csv", images, labels, usages)
    names = [f"fer{i:07d}.png" if i != 3 else "" for i in range(len(usages))]
    write_ferplus_csv(tmp_path / "ferplus" / "fer2013new.csv", usages, names, VOTES)
    return tmp_path, images


def names(ds):
    return [ds.classes[i] for i in ds.labels]


def test_majority(ferplus_root):
    root, images = ferplus_root
    ds = load_ferplus(root)
    assert ds.classes == EMOTIONS and ds.soft_labels is None
    assert names(ds) == ["neutral", "angry", "contempt", "surprise", "neutral", "happy", "sad"]
    np.testing.assert_array_equal(ds.images, images[[0, 4, 6, 8, 9, 10, 11]])
    assert ds.split.tolist() == ["Training"] * 2 + ["PublicTest"] * 2 + ["PrivateTest"] * 3
    assert ds.meta == {"mode": "majority", "rows": 12, "dropped_no_image_name": 1, "dropped_no_majority": 3,
                       "dropped_unknown_nf": 1, "kept": 7}


def test_plurality(ferplus_root):
    ds = load_ferplus(ferplus_root[0], mode="plurality")
    assert names(ds) == ["neutral", "angry", "contempt", "surprise", "neutral", "happy", "sad"]
    assert ds.meta["dropped_tie"] == 2 and ds.meta["dropped_unknown_nf"] == 2 and ds.meta["kept"] == 7


def test_probability(ferplus_root):
    ds = load_ferplus(ferplus_root[0], mode="probability")
    assert len(ds) == 9 and ds.meta["dropped_unknown_nf"] == 2 and ds.meta["dropped_no_image_name"] == 1
    assert ds.soft_labels.shape == (9, 8) and ds.soft_labels.dtype == np.float32
    np.testing.assert_allclose(ds.soft_labels.sum(1), 1, rtol=1e-6)
    first = dict(zip(EMOTIONS, ds.soft_labels[0]))
    assert first["neutral"] == pytest.approx(0.8) and first["happy"] == pytest.approx(0.2)
    tie = dict(zip(EMOTIONS, ds.soft_labels[1]))   # row 1: unknown votes are not in the distribution
    assert tie["happy"] == pytest.approx(0.5) and tie["surprise"] == pytest.approx(0.5)
    assert names(ds)[1] == "happy" and names(ds)[4] == "disgust"  # ties: first in EMOTIONS order
    np.testing.assert_array_equal(ds.labels, ds.soft_labels.argmax(1))


def test_csv_path_and_explicit_fer2013(ferplus_root):
    root, _ = ferplus_root
    ds = load_ferplus(root / "ferplus" / "fer2013new.csv", fer2013=root / "fer2013" / "fer2013.csv")
    assert len(ds) == 7


def test_misaligned_rows(ferplus_root):
    root, _ = ferplus_root
    images, labels, usages = fer_rows()
    write_ferplus_csv(root / "ferplus" / "fer2013new.csv", usages[:-1], ["x.png"] * 11, VOTES[:-1])
    with pytest.raises(DatasetError, match="do not line up"):
        load_ferplus(root)


def test_bad_vote_names_line(ferplus_root):
    root, _ = ferplus_root
    _, _, usages = fer_rows()
    votes = [list(v) for v in VOTES]
    votes[4][2] = "x"
    write_ferplus_csv(root / "ferplus" / "fer2013new.csv", usages, ["a.png"] * 12, votes)
    with pytest.raises(DatasetError, match=r"fer2013new\.csv line 6: bad vote count 'x' in column surprise"):
        load_ferplus(root)


def test_bad_mode_and_missing(tmp_path_factory, ferplus_root):
    with pytest.raises(DatasetError, match="mode"):
        load_ferplus(ferplus_root[0], mode="crossentropy")
    with pytest.raises(DatasetError, match="github.com/microsoft/FERPlus"):
        load_ferplus(ferplus_root[0] / "empty")
    alone = tmp_path_factory.mktemp("alone") / "ferplus"
    write_ferplus_csv(alone / "fer2013new.csv", ["Training"], ["a.png"], [VOTES[0]])
    with pytest.raises(DatasetError, match="kaggle.com"):  # FERPlus without FER2013's pixels
        load_ferplus(alone)
