"""Data-layer cases a hostile new user hit (issue 18): missing data root, empty class folder, cache temporaries
of a killed writer, cache eviction by another file, loader search scope, CK+48 with an extra folder."""
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

from fer_lib.data import DatasetError, load, load_present
from fer_lib.data import cache
from fer_lib.data.ckplus import load_ckplus
from fer_lib.data.fer2013 import load_fer2013
from fer_lib.data.folder import load_folder
from fer_lib.data.jaffe import load_jaffe
from fixtures_data import (JAFFE_FILES, fer_cache, fer_rows, make_ckplus48, make_jaffe, noise, save,  # noqa: F401
                           write_fer2013_csv)


# --- 3. a missing data root says what each loader expected, never a later KeyError ---------------------------

def test_missing_root_quotes_the_loaders_own_messages(tmp_path):
    specs = {"FER2013": ("fer2013", {}), "CK+": ("ckplus", {}), "JAFFE": ("jaffe", {})}
    with pytest.raises(DatasetError) as e:
        load_present(specs, tmp_path / "nonexistent", require_any=True)
    msg = str(e.value)
    assert msg.startswith(f"no dataset found under {tmp_path / 'nonexistent'} (that folder does not exist):")
    assert f"fer2013 not found under {tmp_path / 'nonexistent'}: expected fer2013/fer2013.csv" in msg
    assert "Obtain it from the Kaggle challenge page" in msg and "ckplus not found" in msg
    # some present: the others are listed as absent, with their message
    make_jaffe(tmp_path)
    data, absent = load_present(specs, tmp_path, require_any=True)
    assert list(data) == ["JAFFE"] and absent["FER2013"].startswith("fer2013 not found under")


def test_datasets_notebook_on_an_empty_root_fails_with_the_loaders_messages(tmp_path, monkeypatch):
    """The issue's case, run for real: 00_datasets in the cpu profile on a root with no dataset."""
    import papermill as pm
    from pathlib import Path
    nb = Path(__file__).resolve().parent.parent / "notebooks" / "00_datasets.ipynb"
    monkeypatch.setenv("FER_PROJECT_ROOT", str(tmp_path))  # nothing may be written into the project
    (tmp_path / "empty").mkdir()
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), cwd=str(nb.parent), kernel_name="python3",
                            progress_bar=False, parameters={"profile": "cpu", "data_root": str(tmp_path / "empty")})
    assert e.value.ename == "DatasetError"
    assert e.value.evalue.startswith(f"no dataset found under {tmp_path / 'empty'}:")
    assert f"fer2013 not found under {tmp_path / 'empty'}: expected" in e.value.evalue and "KeyError" not in str(e.value)


# --- 6. an empty class folder keeps its class -----------------------------------------------------------------

def test_empty_class_folder_keeps_its_class_with_a_warning(tmp_path):
    for cls in ("angry", "happy"):
        for i in range(2):
            save(tmp_path / "faces" / cls / f"{i}.png", noise((16, 16)))
    (tmp_path / "faces" / "fear").mkdir()
    with pytest.warns(UserWarning, match=r"fear: empty class folder; class 'fear' is kept"):
        ds = load_folder(tmp_path / "faces")
    assert ds.classes == ("angry", "fear", "happy")  # happy is index 2 whether fear/ holds images or not
    assert sorted(set(ds.labels.tolist())) == [0, 2]
    assert load_folder(tmp_path / "faces").classes == ds.classes  # cached: same classes


def test_empty_ckplus_class_folder_keeps_its_class(tmp_path):
    root = make_ckplus48(tmp_path)
    for f in (root / "fear").iterdir():
        f.unlink()
    with pytest.warns(UserWarning, match="empty class folder"):
        ds = load_ckplus(tmp_path)
    assert "fear" in ds.classes and (ds.labels != ds.classes.index("fear")).all()


# --- 8. cache: a killed writer's temporary file; another file of the same dataset ------------------------------

KILLED_WRITER = """
import sys, time
from fer_lib.data import cache
from fer_lib.data.fer2013 import load_fer2013
def slow(f, arrays):
    f.write(b"PK half an archive" * 1000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
cache._write = slow
load_fer2013(sys.argv[1])
"""


def test_killed_cache_write_leaves_no_lasting_temporary(tmp_path, fer_cache):
    images, labels, usages = fer_rows()
    csv = write_fer2013_csv(tmp_path / "fer2013.csv", images, labels, usages)
    p = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(csv)], stdout=subprocess.PIPE,
                         env=dict(os.environ, FER_CACHE_DIR=str(fer_cache)))
    try:
        assert p.stdout.readline().strip() == b"writing"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    (tmp,) = [f for f in fer_cache.iterdir() if f.name.endswith(".tmp")]  # kill -9 mid-write leaves it ...
    assert tmp.name.startswith(".fer2013-") and f".{p.pid}.tmp" in tmp.name
    ds = load_fer2013(csv)  # ... and the next load removes it (its pid no longer runs)
    assert not tmp.exists() and [f.suffix for f in fer_cache.iterdir()] == [".npz"]
    np.testing.assert_array_equal(ds.images, images)


def test_live_writers_temporary_is_left_alone(fer_cache):
    live = fer_cache / f".fer2013-x.npz.{os.getppid()}.tmp"
    live.write_bytes(b"being written")
    assert cache.remove_dead_temporaries(fer_cache) == [] and live.exists()


def test_another_fer2013_file_does_not_evict_the_first(tmp_path, fer_cache, monkeypatch):
    from fer_lib.data import fer2013
    real = write_fer2013_csv(tmp_path / "real" / "fer2013.csv", *fer_rows(seed=1))
    other = write_fer2013_csv(tmp_path / "tests" / "fer2013.csv", *fer_rows((2, 1, 1), seed=2))
    parses = []
    parse = fer2013.parse_csv
    monkeypatch.setattr(fer2013, "parse_csv", lambda path: parses.append(path) or parse(path))
    load_fer2013(real)
    load_fer2013(other)
    load_fer2013(real)
    assert len(parses) == 2 and len(list(fer_cache.glob("*.npz"))) == 2  # one cache file per source


# --- 9. loader search scope -------------------------------------------------------------------------------------

def test_jaffe_is_not_searched_for_in_the_whole_root(tmp_path):
    make_jaffe(tmp_path)  # <root>/jaffe/: found
    assert len(load_jaffe(tmp_path)) == len(JAFFE_FILES)
    # a misnamed copy elsewhere in the root is not picked up (the old loader searched the whole root)
    (tmp_path / "jaffe").rename(tmp_path / "my_faces")
    (tmp_path / "backup").mkdir()
    make_jaffe(tmp_path / "backup")
    with pytest.raises(DatasetError) as e:
        load_jaffe(tmp_path)
    msg = str(e.value)
    assert "jaffe not found" in msg and "<root>/jaffe/, <root>/jaffedbase/, <root>/JAFFE/" in msg


def test_jaffe_in_the_root_itself_reads_only_its_own_files(tmp_path, fer_cache):
    for name in JAFFE_FILES:
        save(tmp_path / name, noise((32, 32)))
    make_jaffe(tmp_path / "elsewhere" / "deep")  # a second copy below the root: ignored
    ds = load_jaffe(tmp_path)
    assert len(ds) == len(JAFFE_FILES)
    # the cache's check looks at JAFFE's files, not every file under the root
    calls = []
    real = cache.fingerprint
    cache.fingerprint = lambda sources: calls.append(list(sources)) or real(sources)
    try:
        load_jaffe(tmp_path)
    finally:
        cache.fingerprint = real
    assert all(p.is_file() and p.parent == tmp_path for p in map(__import__("pathlib").Path, calls[0]))


def test_ckplus48_with_an_extra_subfolder_names_the_folder(tmp_path):
    root = make_ckplus48(tmp_path / "ckplus")
    (root / "extra").mkdir()
    save(root / "extra" / "x.png", noise((48, 48)))
    with pytest.raises(DatasetError) as e:
        load("ckplus", tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{root}: looks like CK+48") and "['extra']" in msg and "move them out" in msg


def test_loaders_warm_load_does_not_walk_the_data_root(tmp_path, fer_cache):
    """A big unrelated tree under the root costs the warm load nothing (no os.walk/rglob of the root)."""
    make_ckplus48(tmp_path / "ckplus")
    for i in range(300):
        (tmp_path / "unrelated" / str(i % 10)).mkdir(parents=True, exist_ok=True)
        (tmp_path / "unrelated" / str(i % 10) / f"{i}.txt").write_text("x")
    load("ckplus", tmp_path)
    seen = []
    real = cache.fingerprint
    cache.fingerprint = lambda sources: seen.extend(map(str, sources)) or real(sources)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load("ckplus", tmp_path)
    finally:
        cache.fingerprint = real
    assert seen == [str(tmp_path / "ckplus" / "CK+48")]
