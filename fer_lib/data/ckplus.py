"""CK+ (Lucey et al. 2010, the Extended Cohn-Kanade dataset).

Two layouts:
- CK+48, the common 48×48 crop set: `CK+48/<class>/S<subject>_<sequence>_<frame>.png`, class folders
  anger, contempt, disgust, fear, happy, sadness, surprise; the last 3 frames of each of the 327 labelled
  sequences (981 images, 118 subjects). `peak_frames` < 3 keeps fewer; neutral frames are not in it.
- the original release: `cohn-kanade-images/S###/###/S###_###_########.png` with labels in
  `Emotion/S###/###/S###_###_########_emotion.txt` (one number; 0=neutral, 1=anger, 2=contempt,
  3=disgust, 4=fear, 5=happy, 6=sadness, 7=surprise). Only labelled sequences are used: their last
  `peak_frames` frames get the label, and with `include_neutral` their first frame is a neutral image.
  Frames are converted to grey, centre-cropped to a square and resized to `size`: no face detection, so the
  face fills less of the image than in CK+48's face crops.
groups = subject ("S010"), sequences = subject_sequence ("S010_004"). There is no official split: every
image's split is "all"; use `splits.group_kfold` (frames of one sequence are near-identical).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import EMOTIONS, DatasetError, FaceDataset, first_existing, not_found
from .cache import cached
from .folder import canonical_class, list_images, read_images, scan_folder, subdirs

CK_CODES = {0: "neutral", 1: "angry", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sad",
            7: "surprise"}
NAME = re.compile(r"(S\d+)_(\d+)_(\d+)")
PLACES = ("ckplus/CK+48", "CK+48", "ckplus", "CK+", "")  # the only places looked in ("" = the root itself)
EXPECTED = ("CK+48/<class>/S###_###_########.png, or the original cohn-kanade-images/S###/###/*.png "
            "with Emotion/S###/###/*_emotion.txt, in one of " + ", ".join(f"<root>/{c}" for c in PLACES[:-1])
            + " or the root itself")


def find_ckplus(root) -> Path:
    """The CK+48 folder, or the folder holding cohn-kanade-images/ and Emotion/, in the documented places only.
    A folder that is clearly CK+48 (emotion sub-folders) but holds other sub-folders too is an error naming it."""
    for c in PLACES:
        p = first_existing(root, [c])
        if p is None or not p.is_dir():
            continue
        if (p / "cohn-kanade-images").is_dir() and (p / "Emotion").is_dir():
            return p
        dirs = subdirs(p)
        odd = [d.name for d in dirs if not canonical_class(d.name)]
        if dirs and not odd:
            return p
        if c and len(odd) < len(dirs):
            raise DatasetError(f"{p}: looks like CK+48 (class folders {[d.name for d in dirs if d.name not in odd]}) "
                               f"but also holds the sub-folder(s) {odd}, which are not emotions; CK+48 holds one "
                               "folder per class only: move them out")
    raise not_found("ckplus", root, EXPECTED)


def load_ckplus(root, peak_frames: int = 3, include_neutral: bool = False, size: int = 48,
                cache: bool = True) -> FaceDataset:
    if peak_frames < 1:
        raise DatasetError(f"ckplus: peak_frames must be >= 1, got {peak_frames}")
    path = find_ckplus(root)
    original = (path / "cohn-kanade-images").is_dir()
    if not original and include_neutral:
        raise DatasetError(f"{path}: CK+48 holds only peak frames; include_neutral needs the original "
                           "cohn-kanade-images + Emotion layout")
    build = (lambda: _original(path, peak_frames, include_neutral, size)) if original else \
        (lambda: _ck48(path, peak_frames, size))
    opts = {"peak_frames": peak_frames, "include_neutral": include_neutral, "size": size}
    return cached("ckplus", [path], opts, build, enabled=cache)


def _parse_name(p: Path) -> tuple[str, str, int]:
    m = NAME.match(p.stem)
    if m is None:
        raise DatasetError(f"{p}: CK+ file names are S<subject>_<sequence>_<frame>")
    return m[1], f"{m[1]}_{m[2]}", int(m[3])


def _ck48(path: Path, peak_frames: int, size: int) -> FaceDataset:
    folders = set()  # every class folder, empty ones included (their class is kept)
    items = [(p, cls, *_parse_name(p)) for p, _, cls in scan_folder(path, folders=folders)]
    # keep each sequence's last `peak_frames` frames
    last: dict[str, list[int]] = {}
    for _, _, _, seq, frame in items:
        last.setdefault(seq, []).append(frame)
    cut = {seq: sorted(frames)[-peak_frames:][0] for seq, frames in last.items()}
    items = [it for it in items if it[4] >= cut[it[3]]]
    return _dataset(path, [(p, cls, subj, seq) for p, cls, subj, seq, _ in items], size, "CK+48", folders)


def _original(path: Path, peak_frames: int, include_neutral: bool, size: int) -> FaceDataset:
    items = []
    for label_file in sorted((path / "Emotion").glob("S*/*/*_emotion.txt")):
        try:
            code = int(float(label_file.read_text().strip()))
        except ValueError:
            raise DatasetError(f"{label_file}: expected one CK+ emotion code (0-7)") from None
        if code not in CK_CODES:
            raise DatasetError(f"{label_file}: unknown CK+ emotion code {code} (expected 0-7)")
        subj, seq = label_file.parent.parent.name, label_file.parent.name
        frames_dir = path / "cohn-kanade-images" / subj / seq
        frames = list_images(frames_dir) if frames_dir.is_dir() else []
        if not frames:
            raise DatasetError(f"{label_file}: no frames in {frames_dir}")
        frames.sort(key=lambda p: _parse_name(p)[2])
        sid = f"{subj}_{seq}"
        items += [(p, CK_CODES[code], subj, sid) for p in frames[-peak_frames:]]
        if include_neutral and len(frames) > peak_frames:  # else the first frame is already a peak frame
            items.append((frames[0], "neutral", subj, sid))
    if not items:
        raise DatasetError(f"{path / 'Emotion'}: no S###/###/*_emotion.txt label files")
    return _dataset(path, items, size, "original")


def _dataset(path: Path, items: list, size: int, layout: str, folders: set = frozenset()) -> FaceDataset:
    images, resized = read_images([it[0] for it in items], grey=True, size=size)
    present = {it[1] for it in items} | set(folders)
    classes = tuple(c for c in EMOTIONS if c in present)
    column = (lambda k: np.asarray([it[k] for it in items], dtype=object))
    return FaceDataset(images, [classes.index(it[1]) for it in items], classes, ["all"] * len(items),
                       name="ckplus", source=str(path), groups=column(2), sequences=column(3),
                       meta={"layout": layout, "resized": resized})
