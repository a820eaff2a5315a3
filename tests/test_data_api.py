"""`fer_lib.data.load` dispatcher, `data_root` resolution and the missing-dataset messages."""
from pathlib import Path

import pytest

import fer_lib.data as data
from fer_lib.data import DatasetError, data_root, load
from fixtures_data import fer_cache, make_ckplus48, make_jaffe, make_mnist  # noqa: F401


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("FER_DATA_ROOT", str(tmp_path / "env"))
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("FER_DATA_ROOT")
    project = tmp_path / "proj"
    monkeypatch.setattr(data, "project_root", lambda: project)
    assert data_root() is None                                  # no ../shared/data beside the project
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert data_root() == (tmp_path / "shared" / "data").resolve()


def test_project_root_holds_pyproject():
    assert (data.project_root() / "pyproject.toml").is_file()


def test_load_dispatch(tmp_path, monkeypatch):
    make_ckplus48(tmp_path)
    make_jaffe(tmp_path)
    make_mnist(tmp_path)
    assert load("ckplus", tmp_path, peak_frames=1).name == "ckplus"
    assert load("CK+", tmp_path).name == "ckplus"
    assert load("jaffe", tmp_path, size=32).image_shape == (32, 32)
    monkeypatch.setenv("FER_DATA_ROOT", str(tmp_path))
    assert len(load("mnist")) == 30
    assert load("folder", tmp_path / "CK+48").splits == ["all"]
    with pytest.raises(DatasetError, match="unknown dataset"):
        load("affectnet", tmp_path)
    with pytest.raises(DatasetError, match="needs the image folder"):
        load("folder")


@pytest.mark.parametrize("name, expected, url", [
    ("fer2013", "fer2013.csv", "kaggle.com/c/challenges-in-representation-learning"),
    ("ferplus", "fer2013new.csv", "github.com/microsoft/FERPlus"),
    ("ckplus", "cohn-kanade-images", "jeffcohn"),
    ("rafdb", "list_patition_label.txt", "whdeng.cn"),
    ("ferg", "FERG_DB_256", "grail.cs.washington.edu"),
    ("jaffe", "KA.AN1.39.tiff", "zenodo"),
    ("mnist", "t10k-images-idx3-ubyte", "yann.lecun.com"),
])
def test_missing_dataset_message(tmp_path, name, expected, url):
    with pytest.raises(DatasetError) as e:
        load(name, tmp_path)
    msg = str(e.value)
    assert expected in msg and url in msg and str(tmp_path) in msg


def test_no_root_at_all(monkeypatch):
    monkeypatch.delenv("FER_DATA_ROOT", raising=False)
    monkeypatch.setattr(data, "project_root", lambda: Path("/nonexistent/project"))
    with pytest.raises(DatasetError, match="FER_DATA_ROOT"):
        load("fer2013")


def test_exports_kept():
    assert {"EMOTIONS", "FER7", "DatasetError", "FaceDataset"} <= set(data.__all__)
