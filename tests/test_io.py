"""fer_lib.core.io: the one atomic-write helper: the old file or the new one, never half of either, no temporary left."""
import pytest
import torch

from fer_lib.core.io import atomic_path, atomic_torch_save, atomic_write, atomic_write_bytes, atomic_write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "sub" / "a.txt", "old")   # folders created
    assert path.read_text() == "old"

    def half(f):
        f.write("ne")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, half, "w")
    assert path.read_text() == "old" and sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and len(list(path.parent.iterdir())) == 1


def test_atomic_path_keeps_the_suffix_and_moves_only_on_success(tmp_path):
    out = tmp_path / "clip.mp4"
    with atomic_path(out, keep_suffix=True) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".clip.") and tmp.suffix == ".mp4"
        tmp.write_bytes(b"video")
    assert out.read_bytes() == b"video" and not tmp.exists()
    with pytest.raises(ValueError):
        with atomic_path(out) as tmp:
            assert tmp.name.endswith(".tmp")
            tmp.write_bytes(b"half")
            raise ValueError
    assert out.read_bytes() == b"video" and sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


@pytest.mark.parametrize("fsync", [True, False])
def test_torch_save_round_trip(tmp_path, fsync):
    path = atomic_torch_save({"w": torch.arange(3)}, tmp_path / "m.pt", fsync=fsync)
    assert torch.equal(torch.load(path)["w"], torch.arange(3))
