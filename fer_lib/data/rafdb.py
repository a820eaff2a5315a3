"""RAF-DB basic set (Li, Deng & Du 2017, Real-world Affective Faces; whdeng.cn/raf).

Layout of the basic set: `EmoLabel/list_patition_label.txt` (sic), lines `train_00001.jpg 5` /
`test_0001.jpg 7`, labels 1-7 = surprise, fear, disgust, happiness, sadness, anger, neutral; images
`Image/aligned/train_00001_aligned.jpg`, 100×100 RGB aligned faces. Splits "train" / "test" from the file
name. Images stay colour unless `grey=True`; `size` resizes them.
"""
from __future__ import annotations

from pathlib import Path

from .base import FER7, DatasetError, FaceDataset, first_existing, not_found
from .cache import cached
from .folder import read_images

RAF_LABELS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}
LABEL_FILE = "EmoLabel/list_patition_label.txt"
EXPECTED = f"{LABEL_FILE} and Image/aligned/<name>_aligned.jpg (the RAF-DB basic set)"


def find_rafdb(root) -> Path:
    for c in ("", "basic", "rafdb", "rafdb/basic", "RAF-DB", "RAF-DB/basic", "raf-basic"):
        p = first_existing(root, [c])
        if p is not None and (p / LABEL_FILE).is_file():
            return p
    raise not_found("rafdb", root, EXPECTED)


def read_label_file(path: Path) -> list[tuple[str, str, str]]:
    """(image file name, split, canonical class) per line; a bad line raises naming file and line."""
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in RAF_LABELS:
            raise DatasetError(f"{path} line {lineno}: expected '<name>.jpg <label 1-7>', got {line[:60]!r}")
        rows.append((parts[0], parts[0].split("_")[0], RAF_LABELS[int(parts[1])]))
    if not rows:
        raise DatasetError(f"{path}: no labels")
    return rows


def load_rafdb(root, grey: bool = False, size=None, cache: bool = True) -> FaceDataset:
    path = find_rafdb(root)

    def build():
        rows = read_label_file(path / LABEL_FILE)
        aligned = path / "Image" / "aligned"
        files = [aligned / f"{Path(name).stem}_aligned.jpg" for name, _, _ in rows]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DatasetError(f"{missing[0]} (and {len(missing) - 1} more) listed in {LABEL_FILE} not found")
        images, resized = read_images(files, grey=grey, size=size)
        return FaceDataset(images, [FER7.index(c) for _, _, c in rows], FER7, [s for _, s, _ in rows],
                           name="rafdb", source=str(path), meta={"resized": resized} if resized else {})

    return cached("rafdb", [path / LABEL_FILE, path / "Image" / "aligned"], {"grey": grey, "size": size},
                  build, enabled=cache)
