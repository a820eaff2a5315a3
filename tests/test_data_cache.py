"""Dataset cache: hit, rebuild on source change, atomic writes, corrupt files, opt-out."""
import os

import numpy as np
import pytest

from fer_lib.data import cache, fer2013
from fer_lib.data.ckplus import load_ckplus
from fer_lib.data.fer2013 import load_fer2013
from fixtures_data import fer_cache, fer_rows, make_ckplus48, noise, save, write_fer2013_csv  # noqa: F401


@pytest.fixture
def csv(tmp_path):
    images, labels, usages = fer_rows()
    return write_fer2013_csv(tmp_path / "fer2013.csv", images, labels, usages), images


@pytest.fixture
def parses(monkeypatch):
    """Counts real parses of the CSV (a cache hit makes none)."""
    calls = []
    real = fer2013.parse_csv
    monkeypatch.setattr(fer2013, "parse_csv", lambda path: calls.append(path) or real(path))
    return calls


def npz_files(d):
    return sorted(p.name for p in d.iterdir())


def test_cache_hit_roundtrip(csv, parses, fer_cache):
    path, images = csv
    a = load_fer2013(path)
    b = load_fer2013(path)
    assert len(parses) == 1 and len(npz_files(fer_cache)) == 1
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.split.tolist() == b.split.tolist() and a.classes == b.classes and b.split.dtype == object


def test_cache_keeps_groups_meta_soft_labels(tmp_path, fer_cache):
    make_ckplus48(tmp_path)
    a, b = load_ckplus(tmp_path), load_ckplus(tmp_path)
    assert b.groups.dtype == object and b.groups.tolist() == a.groups.tolist()
    assert b.sequences.tolist() == a.sequences.tolist() and b.meta == a.meta


def test_rebuilt_when_source_changes(csv, parses, fer_cache):
    path, images = csv
    load_fer2013(path)
    text = path.read_text().replace("\n0,", "\n6,", 1)   # first data row: label 0 -> 6
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))   # a clearly newer mtime
    ds = load_fer2013(path)
    assert len(parses) == 2 and ds.labels[0] == 6
    assert len(npz_files(fer_cache)) == 1          # the stale file was removed


def test_rebuilt_when_folder_file_changes(tmp_path, fer_cache):
    root = make_ckplus48(tmp_path)
    a = load_ckplus(tmp_path)
    target = sorted((root / "anger").iterdir())[0]
    save(target, np.zeros((48, 48), np.uint8))
    os.utime(target, ns=(0, target.stat().st_mtime_ns + 10**9))
    b = load_ckplus(tmp_path)
    assert not np.array_equal(a.images, b.images) and b.images.min() == 0


def test_interrupted_write_leaves_no_cache(csv, parses, fer_cache, monkeypatch):
    path, images = csv

    def crash(f, arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise RuntimeError("simulated crash while writing the cache")

    monkeypatch.setattr(cache, "_write", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        load_fer2013(path)
    assert npz_files(fer_cache) == []              # neither a partial .npz nor a leftover temp file
    monkeypatch.undo()
    monkeypatch.setenv("FER_CACHE_DIR", str(fer_cache))
    ds = load_fer2013(path)
    np.testing.assert_array_equal(ds.images, images)
    assert len(npz_files(fer_cache)) == 1


def test_corrupt_cache_file_is_rebuilt(csv, parses, fer_cache):
    path, images = csv
    load_fer2013(path)
    (f,) = fer_cache.iterdir()
    f.write_bytes(b"garbage")
    ds = load_fer2013(path)
    assert len(parses) == 2
    np.testing.assert_array_equal(ds.images, images)


def test_cache_off_and_options_key(csv, parses, fer_cache, tmp_path):
    path, _ = csv
    load_fer2013(path, cache=False)
    assert npz_files(fer_cache) == []
    for i in range(2):
        save(tmp_path / "imgs" / "happy" / f"{i}.png", noise((30, 30)))
    from fer_lib.data.folder import load_folder
    assert load_folder(tmp_path / "imgs", size=16).image_shape == (16, 16)
    assert load_folder(tmp_path / "imgs", size=20).image_shape == (20, 20)   # options are in the key
    assert len(npz_files(fer_cache)) == 2


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("FER_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / ".cache" / "fer_lib"
