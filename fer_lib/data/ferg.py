"""FERG-DB (Aneja et al. 2016, Facial Expression Research Group 2D database of stylised characters;
grail.cs.washington.edu/projects/deepexpr/ferg-2d-db.html).

Layout: `FERG_DB_256/<character>/<character>_<emotion>/*.png`, characters aia, bonnie, jules, malcolm,
mery, ray; emotions anger, disgust, fear, joy, neutral, sadness, surprise (the 7 FER2013 classes); 256×256
PNG images. groups = character; no official split (all "all"). The ~55,000 images are resized to `size`
(default 48, as in Deep-Emotion; `size=None` keeps 256×256, several GB) and made grey unless `grey=False`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import FER7, DatasetError, FaceDataset, first_existing, not_found
from .cache import cached
from .folder import canonical_class, list_images, read_images, subdirs

EXPECTED = "FERG_DB_256/<character>/<character>_<emotion>/*.png"


def find_ferg(root) -> Path:
    for c in ("FERG_DB_256", "ferg/FERG_DB_256", "ferg", ""):
        p = first_existing(root, [c])
        if p is not None and p.is_dir() and any(d.name.startswith(ch.name + "_")
                                                for ch in subdirs(p) for d in subdirs(ch)):
            return p
    raise not_found("ferg", root, EXPECTED)


def load_ferg(root, size=48, grey: bool = True, cache: bool = True) -> FaceDataset:
    path = find_ferg(root)

    def build():
        items = []
        for char_dir in subdirs(path):
            for d in subdirs(char_dir):
                prefix = char_dir.name + "_"
                cls = canonical_class(d.name[len(prefix):]) if d.name.startswith(prefix) else None
                if cls is None:
                    raise DatasetError(f"{d}: expected a folder named {prefix}<emotion>")
                items += [(p, cls, char_dir.name) for p in list_images(d)]
        images, resized = read_images([p for p, _, _ in items], grey=grey, size=size)
        return FaceDataset(images, [FER7.index(c) for _, c, _ in items], FER7, ["all"] * len(items),
                           name="ferg", source=str(path),
                           groups=np.asarray([g for _, _, g in items], dtype=object),
                           meta={"resized": resized} if resized else {})

    return cached("ferg", [path], {"size": size, "grey": grey}, build, enabled=cache)
