"""JAFFE (Lyons et al. 1998, Japanese Female Facial Expression database; zenodo.org/record/3451524).

Layout: one folder of `<poser>.<EXPR><n>.<id>.tiff` files, e.g. `KA.AN1.39.tiff`: 10 posers, EXPR codes
AN DI FE HA NE SA SU (the 7 FER2013 classes), 256×256 grey, 213 images. Other files (README, .DS_Store)
are ignored; the folder is searched recursively. groups = poser; no official split (all "all").
`size` resizes (default: native 256×256).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import FER7, DatasetError, FaceDataset, first_existing, not_found
from .cache import cached
from .folder import is_image, read_images

JAFFE_CODES = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad",
               "SU": "surprise"}
NAME = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d+)\.(\d+)\.tiff?$", re.IGNORECASE)
EXPECTED = "<poser>.<EXPR><n>.<id>.tiff files (e.g. KA.AN1.39.tiff) in jaffe/ or jaffedbase/"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if NAME.match(p.name) and is_image(p))


def find_jaffe(root) -> Path:
    for c in ("jaffe", "jaffedbase", "JAFFE", ""):
        p = first_existing(root, [c])
        if p is not None and p.is_dir() and _files(p):
            return p
    raise not_found("jaffe", root, EXPECTED)


def load_jaffe(root, size=None, cache: bool = True) -> FaceDataset:
    path = find_jaffe(root)

    def build():
        files = _files(path)
        items = []
        for f in files:
            poser, code = NAME.match(f.name).group(1, 2)
            if code.upper() not in JAFFE_CODES:
                raise DatasetError(f"{f}: unknown JAFFE expression code {code} (expected {sorted(JAFFE_CODES)})")
            items.append((f, JAFFE_CODES[code.upper()], poser.upper()))
        images, resized = read_images(files, grey=True, size=size)
        return FaceDataset(images, [FER7.index(c) for _, c, _ in items], FER7, ["all"] * len(items),
                           name="jaffe", source=str(path),
                           groups=np.asarray([g for _, _, g in items], dtype=object),
                           meta={"resized": resized} if resized else {})

    return cached("jaffe", [path], {"size": size}, build, enabled=cache)
