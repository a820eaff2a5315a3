"""fer_lib.core.datapack: data roots packed into parts under the carry limit and unpacked bit for bit."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fer_lib.core.datapack import check, pack, unpack


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "data"
    g = np.random.default_rng(0)
    (r / "fer2013").mkdir(parents=True)
    (r / "fer2013" / "fer2013.csv.gz").write_bytes(g.bytes(5000))          # incompressible, stored
    (r / "ckplus" / "CK+48" / "happy").mkdir(parents=True)
    (r / "ckplus" / "CK+48" / "happy" / "S005_001_01.png").write_bytes(g.bytes(1500))
    (r / "mnist" / "raw").mkdir(parents=True)
    (r / "mnist" / "raw" / "t10k-images").write_bytes(bytes(8000) + g.bytes(300))  # compressible, xz
    (r / "README.md").write_text("tiny\n")
    return r


def _files(r: Path) -> dict:
    return {p.relative_to(r).as_posix(): p.read_bytes() for p in r.rglob("*") if p.is_file()}


def test_round_trip_is_bit_exact_with_small_parts(root, tmp_path):
    m = pack(root, tmp_path / "pack", part_bytes=1000)
    assert len(m["parts"]) > 3 and all(p["size"] <= 1000 for p in m["parts"])
    assert {f["path"]: f["codec"] for f in m["files"]}["mnist/raw/t10k-images"] == "xz"
    assert {f["path"]: f["codec"] for f in m["files"]}["fer2013/fer2013.csv.gz"] == "store"
    r = unpack(tmp_path / "pack", tmp_path / "out")
    assert _files(tmp_path / "out") == _files(root) and len(r["written"]) == 4
    assert unpack(tmp_path / "pack", tmp_path / "out")["same"] == sorted(_files(root))  # idempotent


def test_only_some_datasets(root, tmp_path):
    pack(root, tmp_path / "pack", only=["ckplus", "mnist"])
    unpack(tmp_path / "pack", tmp_path / "out")
    assert sorted(_files(tmp_path / "out")) == ["ckplus/CK+48/happy/S005_001_01.png", "mnist/raw/t10k-images"]
    with pytest.raises(ValueError, match="nope does not exist"):
        pack(root, tmp_path / "p2", only=["nope"])


def test_missing_and_damaged_parts_are_named(root, tmp_path):
    m = pack(root, tmp_path / "pack", part_bytes=1000)
    last = tmp_path / "pack" / m["parts"][-1]["name"]
    data = last.read_bytes()
    last.unlink()
    assert check(tmp_path / "pack")[1] == [last.name]
    with pytest.raises(ValueError, match=f"1 of {len(m['parts'])} parts missing .*{last.name}"):
        unpack(tmp_path / "pack", tmp_path / "out")
    r = unpack(tmp_path / "pack", tmp_path / "out", partial=True)  # what is complete is written
    assert r["waiting"] and r["written"] and not (tmp_path / "out" / r["waiting"][-1]).exists()
    last.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ValueError, match=f"part .*{last.name} is damaged"):
        unpack(tmp_path / "pack", tmp_path / "out")


def test_an_existing_different_file_is_not_replaced(root, tmp_path):
    pack(root, tmp_path / "pack")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "README.md").write_text("mine\n")
    with pytest.raises(ValueError, match="README.md exists with other bytes"):
        unpack(tmp_path / "pack", tmp_path / "out")
    assert (tmp_path / "out" / "README.md").read_text() == "mine\n"
    unpack(tmp_path / "pack", tmp_path / "out", force=True)
    assert (tmp_path / "out" / "README.md").read_text() == "tiny\n"


def test_command_line(root, tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "fer_lib.core.datapack", *a], capture_output=True, text=True)
    p = run("pack", "--data-root", str(root), "--out", str(tmp_path / "pack"), "--part-mb", "0.002")
    assert p.returncode == 0 and "parts" in p.stdout
    assert run("unpack", "--parts", str(tmp_path / "pack"), "--dest", str(tmp_path / "o")).returncode == 0
    assert _files(tmp_path / "o") == _files(root)
    bad = run("unpack", "--parts", str(tmp_path / "nothing"), "--dest", str(tmp_path / "o"))
    assert bad.returncode == 2 and "manifest.json not found" in bad.stderr


REAL = Path(os.environ.get("FER_DATA_ROOT", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


@pytest.mark.skipif(not (REAL / "fer2013" / "fer2013.csv.gz").exists(), reason=f"real FER2013 not under {REAL}")
def test_real_fer2013_round_trip_in_parts_under_28_mb(tmp_path):
    m = pack(REAL, tmp_path / "pack", only=["fer2013", "ferplus"])
    assert len(m["parts"]) >= 4 and all(p["size"] < 28e6 for p in m["parts"])
    unpack(tmp_path / "pack", tmp_path / "out")
    for rel in ("fer2013/fer2013.csv.gz", "ferplus/fer2013new.csv"):
        assert (tmp_path / "out" / rel).read_bytes() == (REAL / rel).read_bytes(), rel
