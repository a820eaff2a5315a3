"""Builders of small synthetic datasets in each real on-disk layout, for the data-loader tests.

Nothing here copies real data: every image is random noise written by the test into tmp_path.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def fer_cache(tmp_path_factory, monkeypatch):
    """Every fixture test caches into its own temporary folder, never ~/.cache."""
    d = tmp_path_factory.mktemp("fer_cache")
    monkeypatch.setenv("FER_CACHE_DIR", str(d))
    return d


def noise(shape, seed=None) -> np.ndarray:
    rng = RNG if seed is None else np.random.default_rng(seed)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def save(path: Path, array_or_image, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path, **kw)
    return path


# --- FER2013 / FERPlus ---------------------------------------------------------------------------------

def fer_rows(n_per_usage=(6, 3, 3), seed=1):
    """Random FER2013 rows: images (N, 48, 48), labels, usages; every class appears in Training."""
    rng = np.random.default_rng(seed)
    usages = sum(([u] * n for u, n in zip(("Training", "PublicTest", "PrivateTest"), n_per_usage)), [])
    labels = np.arange(len(usages)) % 7
    images = rng.integers(0, 256, size=(len(usages), 48, 48), dtype=np.uint8)
    return images, labels, usages


def fer_line(image, label, usage) -> str:
    return f"{label},{' '.join(map(str, image.ravel()))},{usage}"


def write_fer2013_csv(path: Path, images, labels, usages, gz=False, extra_lines=(), newline="\n") -> Path:
    """The challenge CSV; `extra_lines` are appended verbatim (for malformed rows)."""
    lines = ["emotion,pixels,Usage"] + [fer_line(*r) for r in zip(images, labels, usages)] + list(extra_lines)
    data = (newline.join(lines) + newline).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_ferplus_csv(path: Path, usages, names, votes) -> Path:
    """fer2013new.csv: Usage,Image name, 10 vote columns."""
    head = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    lines = [head] + [f"{u},{n}," + ",".join(map(str, v)) for u, n, v in zip(usages, names, votes)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def make_kaggle_fer_folders(root: Path, per_class=2, official_names=True) -> Path:
    """Kaggle image export: train/<class>/*.jpg, test/<class>/*.jpg (48x48 grey JPEG). With `official_names`
    the file names carry FER2013's split as in the common export (Training_<id>.jpg in train/, PublicTest_<id>
    and PrivateTest_<id> in test/, `per_class` of each per class); without, plain names."""
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    n = 0
    for folder in classes:
        for split, usage in (("train", "Training"), ("test", "PublicTest"), ("test", "PrivateTest")):
            for i in range(per_class):
                n += 1
                name = f"{usage}_{10000000 + 37 * n}.jpg" if official_names else f"im{n}.jpg"
                save(root / split / folder / name, noise((48, 48)))
    return root


# --- CK+ ---------------------------------------------------------------------------------------------

CK48_SEQUENCES = [  # (class folder, subject, sequence, last frame)
    ("anger", "S010", "004", 19), ("happy", "S010", "006", 15), ("surprise", "S011", "001", 12),
    ("sadness", "S011", "002", 30), ("contempt", "S012", "003", 9), ("disgust", "S012", "005", 14),
    ("fear", "S013", "001", 20), ("happy", "S013", "002", 11), ("anger", "S014", "001", 8),
    ("surprise", "S014", "002", 16),
]


def make_ckplus48(root: Path) -> Path:
    """CK+48/<class>/S<subj>_<seq>_<frame>.png, last 3 frames of each sequence, 48x48 grey."""
    for cls, subj, seq, last in CK48_SEQUENCES:
        for frame in range(last - 2, last + 1):
            save(root / "CK+48" / cls / f"{subj}_{seq}_{frame:08d}.png", noise((48, 48)))
    (root / "CK+48" / "Thumbs.db").write_bytes(b"junk")
    return root / "CK+48"


CK_ORIGINAL = [  # (subject, sequence, n frames, emotion code or None, colour)
    ("S005", "001", 6, 3, False), ("S005", "002", 4, None, False), ("S010", "001", 5, 7, True),
    ("S010", "002", 7, 2, False), ("S011", "004", 5, 5, False),
]


def make_ckplus_original(root: Path) -> Path:
    """cohn-kanade-images/S###/###/*.png (64x50, some RGB) + Emotion/S###/###/*_emotion.txt."""
    for subj, seq, n, code, colour in CK_ORIGINAL:
        for f in range(1, n + 1):
            a = np.full((50, 64, 3) if colour else (50, 64), 10 * f, np.uint8)
            save(root / "cohn-kanade-images" / subj / seq / f"{subj}_{seq}_{f:08d}.png", a)
        (root / "Emotion" / subj / seq).mkdir(parents=True, exist_ok=True)
        if code is not None:
            (root / "Emotion" / subj / seq / f"{subj}_{seq}_{n:08d}_emotion.txt").write_text(
                f"   {code:.7e}\n")
    (root / "cohn-kanade-images" / ".DS_Store").write_bytes(b"\0")
    return root


# --- RAF-DB, FERG, JAFFE, MNIST ------------------------------------------------------------------------

RAF_ROWS = [("train_00001.jpg", 5), ("train_00002.jpg", 1), ("train_00003.jpg", 7), ("train_00004.jpg", 4),
            ("test_0001.jpg", 6), ("test_0002.jpg", 2), ("test_0003.jpg", 3)]


def make_rafdb(root: Path, rows=RAF_ROWS) -> Path:
    """basic/EmoLabel/list_patition_label.txt + basic/Image/aligned/<name>_aligned.jpg (100x100 RGB)."""
    basic = root / "basic"
    (basic / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (basic / "EmoLabel" / "list_patition_label.txt").write_text("".join(f"{n} {l}\n" for n, l in rows))
    for n, _ in rows:
        save(basic / "Image" / "aligned" / f"{Path(n).stem}_aligned.jpg", noise((100, 100, 3)), quality=95)
    return basic


FERG_CHARACTERS = ("aia", "bonnie", "jules", "malcolm")
FERG_EMOTIONS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def make_ferg(root: Path, per_folder=1) -> Path:
    """FERG_DB_256/<character>/<character>_<emotion>/<character>_<emotion>_<n>.png (64x64 RGBA here)."""
    base = root / "FERG_DB_256"
    for ch in FERG_CHARACTERS:
        for emo in FERG_EMOTIONS:
            for i in range(per_folder):
                save(base / ch / f"{ch}_{emo}" / f"{ch}_{emo}_{i + 1}.png", noise((64, 64, 4)))
    (base / "README.txt").write_text("FERG")
    return base


JAFFE_FILES = ["KA.AN1.39.tiff", "KA.HA2.30.tiff", "KL.DI1.158.tiff", "KL.NE1.155.tiff", "KM.FE3.131.tiff",
               "KM.SA1.14.tiff", "KR.SU1.74.tiff", "KR.AN2.84.tiff", "NA.HA1.202.tiff", "NA.SU2.219.tiff"]


def make_jaffe(root: Path) -> Path:
    d = root / "jaffe"
    for name in JAFFE_FILES:
        save(d / name, noise((256, 256)))
    (d / "README").write_text("JAFFE")
    (d / ".DS_Store").write_bytes(b"\0")
    return d


def write_idx(path: Path, array: np.ndarray, gz=False) -> None:
    data = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.with_name(path.name + ".gz") if gz else path).write_bytes(gzip.compress(data) if gz else data)


def make_mnist(root: Path, n_train=20, n_test=10, gz=False) -> Path:
    raw = root / "MNIST" / "raw"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", noise((n, 28, 28)), gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8), gz)
    return raw


# --- generic folder ------------------------------------------------------------------------------------

def make_mixed_folder(root: Path) -> Path:
    """<root>/<split>/<class>/ with grey, RGB, palette, RGBA, 16-bit and odd-sized images, plus junk files."""
    rgb = noise((48, 48, 3), seed=5)
    save(root / "train" / "Angry" / "grey.png", noise((48, 48)))
    save(root / "train" / "Angry" / "rgb.png", rgb)
    save(root / "train" / "happiness" / "palette.png", Image.fromarray(rgb).convert("P"), transparency=0)
    save(root / "train" / "happiness" / "rgba.png", noise((48, 48, 4)))
    save(root / "train" / "joy" / "deep16.png", Image.fromarray(np.full((48, 48), 100 * 256, np.uint16)))
    save(root / "test" / "0_sad" / "odd.jpg", noise((60, 40, 3)))
    save(root / "test" / "surprised" / "gif.gif", Image.fromarray(noise((48, 48))).convert("P"))
    (root / "train" / "Angry" / "notes.txt").write_text("not an image")
    (root / "train" / "Angry" / ".DS_Store").write_bytes(b"\0")
    (root / "test" / "labels.csv").write_text("a,b\n")
    (root / "__MACOSX").mkdir(parents=True, exist_ok=True)
    return root

