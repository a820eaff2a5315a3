"""MNIST (LeCun et al. 1998) in torchvision's raw layout, read directly with numpy.

Layout: `<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte` (also `.gz`), the IDX files of
yann.lecun.com/exdb/mnist (big-endian header: magic 2051 images / 2049 labels, counts, rows, cols; then
uint8 data). Classes "0".."9"; splits "train" / "test". A training file with fewer than the official
60,000 images (a subset) is flagged in `meta["note"]`.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .base import DatasetError, FaceDataset, first_existing, not_found
from .cache import cached

DIGITS = tuple(str(i) for i in range(10))
EXPECTED = ("MNIST/raw/ holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            "t10k-labels-idx1-ubyte (each optionally .gz)")


def find_mnist(root) -> Path:
    for c in ("mnist/MNIST/raw", "MNIST/raw", "raw", ""):
        p = first_existing(root, [c])
        if p is not None and p.is_dir() and _idx(p, "t10k-images-idx3-ubyte", required=False):
            return p
    raise not_found("mnist", root, EXPECTED)


def _idx(folder: Path, name: str, required: bool = True) -> Path | None:
    for f in (folder / name, folder / (name + ".gz")):
        if f.is_file():
            return f
    if required:
        raise not_found("mnist", folder, EXPECTED + f"; missing {name}")
    return None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (uint8 data) as an array of its declared shape."""
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 8 or not 1 <= data[3] <= 3:
        raise DatasetError(f"{path}: not an IDX file of uint8 data")
    ndim = data[3]
    shape = tuple(int(x) for x in np.frombuffer(data, ">u4", count=ndim, offset=4))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DatasetError(f"{path}: header says {shape}, file holds {body.size} values (truncated?)")
    return body.reshape(shape)


def load_mnist(root, cache: bool = True) -> FaceDataset:
    path = find_mnist(root)
    files = {(s, k): _idx(path, f"{p}-{k}") for s, p in (("train", "train"), ("test", "t10k"))
             for k in ("images-idx3-ubyte", "labels-idx1-ubyte")}

    def build():
        images, labels, split = [], [], []
        for s in ("train", "test"):
            x, y = read_idx(files[s, "images-idx3-ubyte"]), read_idx(files[s, "labels-idx1-ubyte"])
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or (len(y) and y.max() > 9):
                raise DatasetError(f"{files[s, 'images-idx3-ubyte']}: {x.shape} images do not match "
                                   f"{y.shape} digit labels")
            images.append(x)
            labels.append(y)
            split += [s] * len(y)
        n_train = len(labels[0])
        meta = {} if n_train >= 60000 else {
            "note": f"training set has {n_train} images, a subset of the official 60,000"}
        return FaceDataset(np.concatenate(images), np.concatenate(labels), DIGITS, split, name="mnist",
                           source=str(path), meta=meta)

    return cached("mnist", list(files.values()), {}, build, enabled=cache)
