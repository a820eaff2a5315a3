"""JAFFE (Lyons et al. 1998, Japanese Female Facial Expression database; zenodo.org/record/3451524).

Layout: one folder of `<poser>.<EXPR><n>.<id>.tiff` files, e.g. `KA.AN1.39.tiff`: 10 posers, EXPR codes
AN DI FE HA NE SA SU (the 7 FER2013 classes), 256×256 grey, 213 images. Other files (README, .DS_Store)
are ignored. Looked for only in the documented places (`PLACES`: jaffe/, jaffedbase/, JAFFE/,
jaffe/jaffedbase/, searched recursively; the data root itself, its own files only) — never in the whole data
root, where a second copy under another name would silently double the data. groups = poser; no official
split (all "all").
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
PLACES = ("jaffe", "jaffedbase", "JAFFE", "jaffe/jaffedbase")
EXPECTED = ("<poser>.<EXPR><n>.<id>.tiff files (e.g. KA.AN1.39.tiff) in " + ", ".join(f"<root>/{c}/" for c in PLACES)
            + " or directly in the root")


def _files(folder: Path, recursive: bool = True) -> list[Path]:
    return sorted(p for p in (folder.rglob("*") if recursive else folder.iterdir())
                  if NAME.match(p.name) and is_image(p))


def find_jaffe(root) -> tuple[Path, list[Path]]:
    """The JAFFE folder and its image files (the data root itself: only the files directly in it)."""
    for c in (*PLACES, ""):
        p = first_existing(root, [c])
        if p is not None and p.is_dir():
            files = _files(p, recursive=bool(c))
            if files:
                return p, files
    raise not_found("jaffe", root, EXPECTED)


def load_jaffe(root, size=None, cache: bool = True) -> FaceDataset:
    path, files = find_jaffe(root)

    def build():
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

    # the files themselves are the cache's source: when they sit in the data root, no walk of the whole root
    return cached("jaffe", files, {"size": size}, build, enabled=cache)
