"""Image folders: `<root>/<split>/<class>/*` or `<root>/<class>/*`, and the image reading shared by every
folder-based loader (CK+, RAF-DB, FERG, JAFFE, FER2013's Kaggle export).

This is the layout of most re-distributed FER sets (e.g. the Kaggle image export of FER2013,
`train/angry/*.jpg`). Class folder names are mapped onto the canonical `EMOTIONS` through `SYNONYMS`
(anger/angry, happiness/happy/joy, ...; a leading number such as `0_angry` is ignored), or through an
explicit `class_map`. Files whose extension is not an image's are ignored; an image that cannot be decoded
raises a DatasetError naming it. An empty class folder keeps its class (with a warning): label indices never
depend on which folders happen to hold images.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .base import EMOTIONS, DatasetError, FaceDataset
from .cache import cached

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm", ".pbm"}

SYNONYMS: dict[str, tuple[str, ...]] = {
    "angry": ("angry", "anger", "angered", "mad"),
    "disgust": ("disgust", "disgusted", "disgusting"),
    "fear": ("fear", "fearful", "afraid", "scared", "fright"),
    "happy": ("happy", "happiness", "joy", "joyful", "smile", "smiling"),
    "sad": ("sad", "sadness", "unhappy"),
    "surprise": ("surprise", "surprised", "surprising"),
    "neutral": ("neutral", "neutrality", "none"),
    "contempt": ("contempt", "contemptuous"),
}
_TO_CANONICAL = {s: c for c, names in SYNONYMS.items() for s in names}


def canonical_class(name: str, class_map: dict | None = None) -> str | None:
    """The canonical emotion for a folder/label name, or None when it is not one."""
    if class_map and name in class_map:
        return class_map[name]
    key = re.sub(r"^\d+[\s._-]+", "", name.strip().lower())  # "0_angry", "3 - happy"
    return _TO_CANONICAL.get(key)


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTS and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if is_image(p))


def subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders (macOS zips add __MACOSX and dot-folders)."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_dir() and not p.name.startswith((".", "__")))


def _to_uint8(im: Image.Image, grey: bool) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # Pillow's convert("L") clips 16-bit values at 255; scale the full range down instead.
        a = np.asarray(im).astype(np.int64)
        if im.mode != "I" or a.max() > 255:
            a = np.clip(a, 0, 65535) >> 8
        im = Image.fromarray(a.astype(np.uint8))
    elif im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(a * 255 if a.max() <= 1 else a, 0, 255).round().astype(np.uint8))
    elif im.mode in ("P", "PA"):
        im = im.convert("RGBA")  # resolve the palette first; alpha is then dropped like any RGBA
    return np.asarray(im.convert("L" if grey else "RGB"))


def crop_resize(a: np.ndarray, size) -> np.ndarray:
    """Resize to `size` (int or (h, w)), centre-cropping first to the target aspect ratio, no face detection."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if a.shape[:2] == (h, w):
        return a
    ih, iw = a.shape[:2]
    if ih * w > iw * h:                       # too tall: crop rows
        ch, cw = round(iw * h / w), iw
    else:                                     # too wide: crop columns
        ch, cw = ih, round(ih * w / h)
    top, left = (ih - ch) // 2, (iw - cw) // 2
    im = Image.fromarray(a[top:top + ch, left:left + cw])
    return np.asarray(im.resize((w, h), Image.Resampling.BILINEAR))


def read_image(path, grey: bool = True, size=None) -> np.ndarray:
    """One image as uint8 (H, W) grey or (H, W, 3) RGB; palette, alpha and 16-bit images are converted."""
    try:
        with Image.open(path) as im:
            im.load()
            a = _to_uint8(im, grey)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from None
    return crop_resize(a, size) if size is not None else a


def read_images(paths: Sequence, grey: bool = True, size=None) -> tuple[np.ndarray, int]:
    """Stack images; without `size`, odd-sized ones are resized to the most common size.
    Returns the array and how many images were resized."""
    arrays = [read_image(p, grey) for p in paths]
    if not arrays:
        return np.zeros((0, 1, 1) if grey else (0, 1, 1, 3), np.uint8), 0
    if size is None:
        size = Counter(a.shape[:2] for a in arrays).most_common(1)[0][0]
    target = (size, size) if isinstance(size, int) else tuple(size)
    resized = sum(a.shape[:2] != target for a in arrays)
    return np.stack([crop_resize(a, target) for a in arrays]), int(resized)


def scan_folder(root: Path, class_map: dict | None = None, folders: set | None = None) -> list[tuple[Path, str, str]]:
    """(image path, split, canonical class) for `<root>/<class>/*` (split "all") or `<root>/<split>/<class>/*`.
    `folders`, when given, receives the canonical class of every class folder, empty ones included."""
    root = Path(root)
    dirs = subdirs(root)
    if not dirs:
        raise DatasetError(f"{root}: no class or split folders")
    flat = all(canonical_class(d.name, class_map) for d in dirs)
    layout = [("all", dirs)] if flat else [(d.name, subdirs(d) or [d]) for d in dirs]  # [d]: not a split
    items = []
    for split, class_dirs in layout:
        for d in class_dirs:
            cls = canonical_class(d.name, class_map)
            if cls is None:
                raise DatasetError(f"{d}: folder name is not an emotion (known: {sorted(_TO_CANONICAL)}); "
                                   f"pass class_map={{'{d.name}': <canonical name>}}")
            found = list_images(d)
            if not found:
                warnings.warn(f"{d}: empty class folder; class {cls!r} is kept (with no images) so that label "
                              "indices do not depend on which folders hold images", stacklevel=3)
            if folders is not None:
                folders.add(cls)
            items += [(p, split, cls) for p in found]
    if not items:
        raise DatasetError(f"{root}: no images found in its class folders")
    return items


def load_folder(root, grey: bool = True, size=None, class_map: dict | None = None,
                classes: Sequence[str] | None = None, name: str = "folder", cache: bool = True) -> FaceDataset:
    """Any image-folder dataset. `classes` fixes the class tuple (default: the canonical emotions that have a
    folder, empty or not, in `EMOTIONS` order); `size` (int or (h, w)) resizes every image, else odd sizes go to the most common."""
    if root is None or not Path(root).is_dir():
        raise DatasetError(f"image folder {root} not found: expected <root>/<class>/* or <root>/<split>/<class>/*")
    root = Path(root)

    def build():
        present = set()  # every class folder, empty ones included
        items = scan_folder(root, class_map, present)
        cls = tuple(classes) if classes else tuple(c for c in EMOTIONS if c in present)
        missing = present - set(cls)
        if missing:
            raise DatasetError(f"{root}: classes {sorted(missing)} are not in {cls}")
        images, resized = read_images([p for p, _, _ in items], grey, size)
        meta = {"resized": resized} if resized else {}
        return FaceDataset(images, [cls.index(c) for _, _, c in items], cls, [s for _, s, _ in items],
                           name=name, source=str(root), meta=meta)

    opts = {"grey": grey, "size": size, "class_map": class_map, "classes": classes}
    return cached(name, [root], opts, build, enabled=cache)
