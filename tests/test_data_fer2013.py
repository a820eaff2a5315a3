"""FER2013 loader: challenge CSV (plain, gzip, CRLF), Kaggle image folders, malformed rows, missing root."""
import numpy as np
import pytest

from fer_lib.data import DatasetError, FER7
from fer_lib.data.fer2013 import load_fer2013
from fixtures_data import fer_cache, fer_line, fer_rows, make_kaggle_fer_folders, write_fer2013_csv  # noqa: F401


@pytest.mark.parametrize("where", ["file", "root", "subdir", "gz-subdir"])
def test_csv_layouts(tmp_path, where):
    images, labels, usages = fer_rows()
    gz = where == "gz-subdir"
    name = "fer2013/fer2013.csv" + (".gz" if gz else "") if "subdir" in where else "fer2013.csv"
    path = write_fer2013_csv(tmp_path / name, images, labels, usages, gz=gz)
    ds = load_fer2013(path if where == "file" else tmp_path)
    assert ds.classes == FER7 and ds.name == "fer2013"
    assert ds.images.shape == (12, 48, 48) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.split.tolist() == usages
    assert ds.splits == ["Training", "PublicTest", "PrivateTest"]


def test_crlf_and_blank_trailing_lines(tmp_path):
    images, labels, usages = fer_rows()
    path = write_fer2013_csv(tmp_path / "fer2013.csv", images, labels, usages, newline="\r\n",
                             extra_lines=["", ""])
    ds = load_fer2013(path, cache=False)
    np.testing.assert_array_equal(ds.images, images)


def test_gzip_detected_by_content(tmp_path):
    images, labels, usages = fer_rows()
    gz = write_fer2013_csv(tmp_path / "x.csv.gz", images, labels, usages, gz=True)
    path = gz.rename(tmp_path / "fer2013.csv")
    assert len(load_fer2013(path, cache=False)) == 12


@pytest.mark.parametrize("bad_line, message", [
    ("3," + " ".join(["1"] * 2303) + ",Training", "2303 pixel values"),
    ("3," + " ".join(["1"] * 2303) + " x,Training", "non-numeric pixel"),
    ("3," + " ".join(["1"] * 2303) + " 300,Training", "outside 0-255"),
    ("3," + " ".join(["1"] * 2303) + " -1,Training", "outside 0-255"),
    ("9," + " ".join(["1"] * 2304) + ",Training", "unknown emotion label"),
    ("happy," + " ".join(["1"] * 2304) + ",Training", "unknown emotion label"),
    ("3," + " ".join(["1"] * 2304) + ",Validation", "unknown Usage"),
    ("3," + " ".join(["1"] * 2304), "2 fields, expected 3"),
])
def test_malformed_row_names_file_and_line(tmp_path, bad_line, message):
    images, labels, usages = fer_rows()
    path = write_fer2013_csv(tmp_path / "fer2013.csv", images, labels, usages, extra_lines=[bad_line])
    with pytest.raises(DatasetError) as e:
        load_fer2013(path)
    assert str(path) in str(e.value) and "line 14" in str(e.value) and message in str(e.value)


def test_malformed_gz_row_reports_gz_file(tmp_path):
    images, labels, usages = fer_rows()
    path = write_fer2013_csv(tmp_path / "fer2013" / "fer2013.csv.gz", images[:2], labels[:2], usages[:2],
                             gz=True, extra_lines=["1,1 2 3,Training"])
    with pytest.raises(DatasetError, match=r"fer2013\.csv\.gz line 4: 3 pixel values"):
        load_fer2013(tmp_path)


def test_header_without_pixels(tmp_path):
    (tmp_path / "fer2013.csv").write_text("emotion,Usage\n0,Training\n")
    with pytest.raises(DatasetError, match="line 1"):
        load_fer2013(tmp_path)


def test_kaggle_image_folders_official_split_from_file_names(tmp_path):
    make_kaggle_fer_folders(tmp_path / "fer2013", per_class=2)
    ds = load_fer2013(tmp_path)
    assert ds.classes == FER7 and ds.images.shape[1:] == (48, 48)
    assert ds.splits == ["Training", "PublicTest", "PrivateTest"]  # in the CSV's order
    counts = ds.counts()
    for split in ("Training", "PublicTest", "PrivateTest"):   # what the notebooks take
        assert (counts.loc[list(FER7), split] == 2).all()
    assert "file names" in ds.meta["split_note"] and "lossy" in ds.meta["note"] and "1.7" in ds.meta["note"]
    ds.take("Training"), ds.take("PrivateTest")


def test_kaggle_image_folders_without_split_in_names_say_how_test_is_divided(tmp_path):
    make_kaggle_fer_folders(tmp_path / "fer2013", per_class=2, official_names=False)
    with pytest.warns(UserWarning, match="NOT the official ones"):
        ds = load_fer2013(tmp_path)
    counts = ds.counts()
    assert ds.splits == ["Training", "PublicTest", "PrivateTest"]
    assert (counts.loc[list(FER7), "Training"] == 2).all()
    # test/ (4 per class) divided into class-stratified halves, named as the notebooks expect
    assert (counts.loc[list(FER7), "PublicTest"] == 2).all() and (counts.loc[list(FER7), "PrivateTest"] == 2).all()
    assert "divided into class-stratified random halves (seed 0)" in ds.meta["split_note"]
    again = load_fer2013(tmp_path)  # from the cache: the same division, the note kept
    assert again.split.tolist() == ds.split.tolist() and again.meta["split_note"] == ds.meta["split_note"]


def test_kaggle_file_name_contradicting_its_folder_is_an_error(tmp_path):
    root = make_kaggle_fer_folders(tmp_path / "fer2013", per_class=1)
    moved = next((root / "test" / "happy").glob("PrivateTest_*.jpg"))
    moved.rename(root / "train" / "happy" / moved.name)
    with pytest.raises(DatasetError, match=r"its name says PrivateTest, but it sits in train/"):
        load_fer2013(tmp_path)


def test_missing_root_is_helpful(tmp_path):
    with pytest.raises(DatasetError) as e:
        load_fer2013(tmp_path / "nowhere")
    msg = str(e.value)
    assert "fer2013.csv" in msg and "kaggle.com" in msg and str(tmp_path / "nowhere") in msg


def test_fer_line_roundtrip():
    images, labels, usages = fer_rows((1, 0, 0))
    assert fer_line(images[0], labels[0], usages[0]).count(" ") == 2303


def test_header_order_spaces_and_quotes(tmp_path):
    """icml_face_data.csv-style variant: `emotion, Usage, pixels`, quoted pixel strings."""
    images, labels, usages = fer_rows()
    lines = ["emotion, Usage, pixels"] + [f'{l}, {u}, "{" ".join(map(str, im.ravel()))}"'
                                          for im, l, u in zip(images, labels, usages)]
    path = tmp_path / "icml_face_data.csv"
    path.write_text("\n".join(lines) + "\n")
    ds = load_fer2013(path)
    np.testing.assert_array_equal(ds.images, images)
    assert ds.split.tolist() == usages
