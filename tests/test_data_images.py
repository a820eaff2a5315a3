"""Image-file loaders in their real layouts: generic folders, CK+ (CK+48 and original), RAF-DB, FERG, JAFFE,
MNIST's IDX files."""
import numpy as np
import pytest
from PIL import Image

from fer_lib.data import FER7, DatasetError
from fer_lib.data.ckplus import load_ckplus
from fer_lib.data.ferg import load_ferg
from fer_lib.data.folder import canonical_class, load_folder, read_image
from fer_lib.data.jaffe import load_jaffe
from fer_lib.data.mnist import load_mnist
from fer_lib.data.rafdb import load_rafdb
from fixtures_data import (CK48_SEQUENCES, FERG_CHARACTERS, JAFFE_FILES, RAF_ROWS, fer_cache,  # noqa: F401
                           make_ckplus48, make_ckplus_original, make_ferg, make_jaffe, make_mixed_folder,
                           make_mnist, make_rafdb, noise, save)


# --- generic folders and image reading -----------------------------------------------------------------

def test_synonyms():
    assert canonical_class("Anger") == canonical_class("angry") == "angry"
    assert canonical_class("joy") == canonical_class("Happiness") == "happy"
    assert canonical_class("3_sadness") == "sad" and canonical_class("surprised") == "surprise"
    assert canonical_class("neutrality") == "neutral" and canonical_class("bored") is None
    assert canonical_class("7", {"7": "contempt"}) == "contempt"


def test_folder_mixed_images_grey(tmp_path):
    make_mixed_folder(tmp_path)
    ds = load_folder(tmp_path)
    assert ds.images.shape == (7, 48, 48) and ds.images.dtype == np.uint8
    assert ds.classes == ("angry", "happy", "sad", "surprise")          # canonical order, present only
    assert sorted(ds.splits) == ["test", "train"]
    assert ds.meta["resized"] == 1                                      # the 60x40 jpg
    per = dict(zip(ds.counts().index, ds.counts()["total"]))
    assert per["angry"] == 2 and per["happy"] == 3 and per["sad"] == 1 and per["surprise"] == 1


def test_folder_rgb_and_explicit_size(tmp_path):
    make_mixed_folder(tmp_path)
    ds = load_folder(tmp_path, grey=False, size=(32, 24))
    assert ds.images.shape == (7, 32, 24, 3)


def test_image_modes(tmp_path):
    rgb = noise((10, 12, 3))
    p = save(tmp_path / "p.png", Image.fromarray(rgb).convert("P"))
    assert read_image(p).shape == (10, 12) and read_image(p, grey=False).shape == (10, 12, 3)
    rgba = np.dstack([rgb, np.zeros((10, 12), np.uint8)])
    np.testing.assert_array_equal(read_image(save(tmp_path / "a.png", rgba), grey=False), rgb)  # alpha dropped
    deep = save(tmp_path / "d.png", Image.fromarray(np.array([[0, 100 * 256, 65535]], np.uint16)))
    assert read_image(deep).tolist() == [[0, 100, 255]]                 # 16-bit scaled, not clipped
    grey = save(tmp_path / "g.png", noise((10, 12)))
    assert np.ptp(read_image(grey, grey=False), axis=2).max() == 0     # grey -> 3 equal channels
    assert read_image(grey, size=5).shape == (5, 5)                     # centre crop + resize


def test_folder_flat_layout_and_class_map(tmp_path):
    for cls in ("0", "1"):
        for i in range(2):
            save(tmp_path / cls / f"{i}.png", noise((20, 20)))
    with pytest.raises(DatasetError, match="class_map"):
        load_folder(tmp_path)
    ds = load_folder(tmp_path, class_map={"0": "angry", "1": "contempt"})
    assert ds.splits == ["all"] and ds.classes == ("angry", "contempt") and len(ds) == 4


def test_unreadable_image_names_file(tmp_path):
    make_mixed_folder(tmp_path)
    bad = tmp_path / "train" / "Angry" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match="broken.png"):
        load_folder(tmp_path)


def test_folder_missing(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_folder(tmp_path / "nope")


# --- CK+ -------------------------------------------------------------------------------------------------

def test_ckplus48(tmp_path):
    make_ckplus48(tmp_path / "ckplus")
    ds = load_ckplus(tmp_path)
    assert len(ds) == 3 * len(CK48_SEQUENCES) and ds.images.shape[1:] == (48, 48)
    assert ds.classes == ("angry", "disgust", "fear", "happy", "sad", "surprise", "contempt")
    assert ds.splits == ["all"] and ds.meta["layout"] == "CK+48"
    assert set(ds.groups) == {s for _, s, _, _ in CK48_SEQUENCES}
    assert set(ds.sequences) == {f"{s}_{q}" for _, s, q, _ in CK48_SEQUENCES}
    i = ds.sequences.tolist().index("S011_002")
    assert ds.classes[ds.labels[i]] == "sad" and ds.groups[i] == "S011"
    peak = load_ckplus(tmp_path / "ckplus" / "CK+48", peak_frames=1)
    assert len(peak) == len(CK48_SEQUENCES)
    with pytest.raises(DatasetError, match="include_neutral"):
        load_ckplus(tmp_path, include_neutral=True)


def test_ckplus_original(tmp_path):
    make_ckplus_original(tmp_path / "CK+")
    ds = load_ckplus(tmp_path)
    assert ds.meta["layout"] == "original" and ds.images.shape == (12, 48, 48)   # 4 labelled x 3
    assert ds.classes == ("disgust", "happy", "surprise", "contempt")
    assert set(ds.sequences) == {"S005_001", "S010_001", "S010_002", "S011_004"}   # S005_002 unlabelled
    assert ds.groups.tolist().count("S010") == 6
    # the last frame of S005_001 (6 frames, value 60) is a peak frame, the first (10) is not
    s = ds.sequences == "S005_001"
    assert sorted(ds.images[s].mean(axis=(1, 2)).round().tolist()) == [40, 50, 60]

    more = load_ckplus(tmp_path, peak_frames=2, include_neutral=True, size=32)
    assert more.images.shape == (12, 32, 32) and "neutral" in more.classes
    neutral = more.labels == more.classes.index("neutral")
    assert neutral.sum() == 4 and (more.images[neutral].mean(axis=(1, 2)).round() == 10).all()


def test_ckplus_bad_code(tmp_path):
    root = make_ckplus_original(tmp_path)
    (root / "Emotion" / "S005" / "001" / "S005_001_00000006_emotion.txt").write_text("9.0\n")
    with pytest.raises(DatasetError, match="S005_001_00000006_emotion.txt: unknown CK"):
        load_ckplus(root)


# --- RAF-DB, FERG, JAFFE, MNIST --------------------------------------------------------------------------

def test_rafdb(tmp_path):
    make_rafdb(tmp_path / "rafdb")
    ds = load_rafdb(tmp_path)
    assert ds.images.shape == (7, 100, 100, 3) and ds.classes == FER7
    assert ds.split.tolist() == ["train"] * 4 + ["test"] * 3
    assert [ds.classes[i] for i in ds.labels] == ["sad", "surprise", "neutral", "happy", "angry", "fear",
                                                  "disgust"]
    grey = load_rafdb(tmp_path / "rafdb" / "basic", grey=True, size=48)
    assert grey.images.shape == (7, 48, 48)


def test_rafdb_bad_line_and_missing_image(tmp_path):
    basic = make_rafdb(tmp_path, RAF_ROWS[:3])
    label_file = basic / "EmoLabel" / "list_patition_label.txt"
    label_file.write_text(label_file.read_text() + "train_00009.jpg 8\n")
    with pytest.raises(DatasetError, match="list_patition_label.txt line 4"):
        load_rafdb(tmp_path)
    label_file.write_text("train_00001.jpg 5\ntrain_00099.jpg 5\n")
    with pytest.raises(DatasetError, match="train_00099_aligned.jpg"):
        load_rafdb(tmp_path)


def test_ferg(tmp_path):
    make_ferg(tmp_path)
    ds = load_ferg(tmp_path)
    assert ds.images.shape == (7 * len(FERG_CHARACTERS), 48, 48) and ds.classes == FER7
    assert sorted(set(ds.groups)) == sorted(FERG_CHARACTERS)
    joy = ds.labels == FER7.index("happy")
    assert joy.sum() == len(FERG_CHARACTERS)
    colour = load_ferg(tmp_path / "FERG_DB_256", size=None, grey=False)
    assert colour.images.shape[1:] == (64, 64, 3)


def test_jaffe(tmp_path):
    make_jaffe(tmp_path)
    ds = load_jaffe(tmp_path)
    assert len(ds) == len(JAFFE_FILES) and ds.images.shape[1:] == (256, 256)
    assert sorted(set(ds.groups)) == ["KA", "KL", "KM", "KR", "NA"]
    names = sorted(JAFFE_FILES)
    assert [ds.classes[i] for i in ds.labels][names.index("KM.FE3.131.tiff")] == "fear"
    assert load_jaffe(tmp_path / "jaffe", size=48).images.shape[1:] == (48, 48)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist(tmp_path, gz):
    make_mnist(tmp_path, n_train=20, n_test=10, gz=gz)
    ds = load_mnist(tmp_path)
    assert ds.images.shape == (30, 28, 28) and ds.classes == tuple("0123456789")
    assert ds.splits == ["train", "test"] and (ds.split == "train").sum() == 20
    assert "60,000" in ds.meta["note"]
    assert ds.labels[:10].tolist() == list(range(10))


def test_mnist_truncated(tmp_path):
    raw = make_mnist(tmp_path)
    f = raw / "t10k-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.*truncated"):
        load_mnist(tmp_path)
