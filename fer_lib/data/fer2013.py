"""FER2013 (Goodfellow et al. 2013, ICML 2013 representation-learning challenge).

Two layouts users download:
- the challenge file `fer2013.csv` (Kaggle challenge tarball `fer2013/fer2013.csv`, also read gzipped):
  header `emotion,pixels,Usage`, one row per image, `pixels` = 2304 space-separated grey levels of a 48×48
  face, `emotion` 0-6 = angry, disgust, fear, happy, sad, surprise, neutral (= `FER7`), `Usage` =
  Training / PublicTest / PrivateTest (28,709 / 3,589 / 3,589), kept as the split names;
- the Kaggle image-folder export `train/<class>/*.jpg`, `test/<class>/*.jpg` (class folders angry, disgust,
  fear, happy, neutral, sad, surprise). Its "test" folder is PublicTest + PrivateTest together. In the common
  export the file names carry the official split (`Training_10118481.jpg`, `PublicTest_…`, `PrivateTest_…`):
  the split is taken from the names (the source of truth; a name that contradicts its folder is an error),
  so the notebooks' Training/PublicTest/PrivateTest work unchanged. When the names do not carry it, train/ is
  "Training" and test/ is divided — a reading, said in `meta["split_note"]` and warned about — into two
  class-stratified random halves (seed 0) named PublicTest and PrivateTest: they are NOT the official ones.
  The export is JPEG, which is lossy: its pixels differ from the CSV's (RMS about 1.7 grey levels on the
  common export; re-encoding 2,000 CSV images at JPEG quality 95 gives 1.73, at 75 5.35), said in
  `meta["note"]`, so numbers on it are close to, not identical with, CSV-based ones.
"""
from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import numpy as np

from .base import FER7, DatasetError, FaceDataset, first_existing, not_found
from .cache import cached
from .folder import read_images, scan_folder

N_PIXELS = 48 * 48
USAGES = ("Training", "PublicTest", "PrivateTest")
CSV_CANDIDATES = ("fer2013/fer2013.csv.gz", "fer2013/fer2013.csv", "fer2013.csv.gz", "fer2013.csv")
EXPECTED = ("fer2013/fer2013.csv(.gz) or fer2013.csv(.gz) (columns emotion,pixels,Usage), "
            "or the Kaggle image folders train/<class>/*.jpg and test/<class>/*.jpg")


def find_fer2013(root_or_file) -> Path:
    """The CSV file, or the folder of the Kaggle image export, under a data root (or given directly)."""
    if root_or_file is not None and Path(root_or_file).is_file():
        return Path(root_or_file)
    found = first_existing(root_or_file, CSV_CANDIDATES)
    if found is not None:
        return found
    for d in ("", "fer2013"):
        p = first_existing(root_or_file, [d])
        if p is not None and (p / "train").is_dir() and (p / "test").is_dir():
            return p
    raise not_found("fer2013", root_or_file, EXPECTED)


def load_fer2013(root_or_file, cache: bool = True) -> FaceDataset:
    path = find_fer2013(root_or_file)
    if path.is_dir():
        return cached("fer2013", [path], {"layout": "kaggle folders"}, lambda: load_kaggle_folders(path),
                      enabled=cache)
    return cached("fer2013", [path], {}, lambda: parse_csv(path), enabled=cache)


OFFICIAL_NAME = re.compile(r"^(Training|PublicTest|PrivateTest)_")
FOLDER_OF = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}
JPEG_NOTE = ("Kaggle JPEG export: JPEG is lossy, so these pixels differ from fer2013.csv's (RMS about 1.7 grey "
             "levels on the common export); numbers on it are close to, not identical with, CSV-based ones")


def load_kaggle_folders(path: Path, seed: int = 0) -> FaceDataset:
    """The Kaggle image export (train/, test/), with FER2013's official split recovered from the file names."""
    items = scan_folder(path)
    folders = {s.lower() for _, s, _ in items}
    if folders - {"train", "test"}:
        raise DatasetError(f"{path}: expected the folders train/ and test/, found {sorted(folders)}")
    official = [OFFICIAL_NAME.match(p.name) for p, _, _ in items]
    named = sum(m is not None for m in official)
    if 0 < named < len(items):
        odd = next(p for (p, _, _), m in zip(items, official) if m is None)
        raise DatasetError(f"{path}: {named} of {len(items)} file names carry FER2013's split (Training_…, "
                           f"PublicTest_…, PrivateTest_…) but not all, e.g. {odd}")
    labels = np.asarray([FER7.index(c) for _, _, c in items])
    meta = {"layout": "kaggle folders", "note": JPEG_NOTE}
    if named:
        split = [m[1] for m in official]
        for (p, folder, _), s in zip(items, split):
            if FOLDER_OF[s] != folder.lower():
                raise DatasetError(f"{p}: its name says {s}, but it sits in {folder}/ (the name is taken as the "
                                   "source of the split; fix the file's place)")
        meta["split_note"] = "official split, read from the file names (Training_…, PublicTest_…, PrivateTest_…)"
    else:
        split = np.where([f.lower() == "train" for _, f, _ in items], "Training", "test").astype(object)
        test = np.flatnonzero(split == "test")
        rng = np.random.default_rng(seed)
        for c in np.unique(labels[test]):  # class-stratified halves of test/
            idx = rng.permutation(test[labels[test] == c])
            split[idx[:(len(idx) + 1) // 2]] = "PublicTest"
            split[idx[(len(idx) + 1) // 2:]] = "PrivateTest"
        meta["split_note"] = (f"file names carry no official split: train/ is Training; test/ ({len(test)} images "
                              f"= PublicTest + PrivateTest) was divided into class-stratified random halves "
                              f"(seed {seed}) named PublicTest and PrivateTest — NOT the official ones, so "
                              "PrivateTest numbers on them are not comparable with the papers'")
        warnings.warn(f"{path}: {meta['split_note']}", stacklevel=3)
    order = np.argsort([USAGES.index(s) for s in split], kind="stable")  # Training first, as in the CSV
    images, resized = read_images([items[i][0] for i in order], grey=True, size=48)
    if resized:
        meta["resized"] = resized
    return FaceDataset(images, labels[order], FER7, [split[i] for i in order], name="fer2013", source=str(path),
                       meta=meta)


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"  # by content, not suffix: some downloads are gzipped without .gz
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            return f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None


def parse_csv(path) -> FaceDataset:
    """Parse the challenge CSV. Any malformed row raises a DatasetError naming the file and line."""
    path = Path(path)
    lines = _read_bytes(path).split(b"\n")
    header = [h.strip().strip(b'"').strip().lower() for h in lines[0].lstrip(b"\xef\xbb\xbf").split(b",")]
    col = {h.decode(errors="replace"): i for i, h in enumerate(header)}
    if "emotion" not in col or "pixels" not in col:
        raise DatasetError(f"{path} line 1: header {lines[0][:80]!r} lacks the 'emotion' and 'pixels' columns")
    ie, ip, iu, ncol = col["emotion"], col["pixels"], col.get("usage"), len(header)
    label_of = {str(i).encode(): i for i in range(len(FER7))}
    usage_of = {u.encode(): u for u in USAGES}

    images = np.empty((len(lines), N_PIXELS), np.uint8)
    labels, split = [], []

    def bad(lineno, what):
        return DatasetError(f"{path} line {lineno}: {what}")

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # older numpy warns (not raises) on bad text
        for lineno, line in enumerate(lines[1:], start=2):
            line = line.rstrip(b"\r")
            if not line.strip():
                continue
            fields = line.split(b",")
            if len(fields) != ncol:
                raise bad(lineno, f"{len(fields)} fields, expected {ncol}")
            lab = label_of.get(fields[ie].strip().strip(b'"'))
            if lab is None:
                raise bad(lineno, f"unknown emotion label {fields[ie][:20]!r} (expected 0-6)")
            usage = "all"
            if iu is not None:
                usage = usage_of.get(fields[iu].strip().strip(b'"'))
                if usage is None:
                    raise bad(lineno, f"unknown Usage {fields[iu][:20]!r} (expected one of {USAGES})")
            try:  # int32, since uint8 parsing silently wraps 300 to 44
                px = np.fromstring(fields[ip].strip(b' "'), sep=" ", dtype=np.int32)
            except (ValueError, DeprecationWarning):
                raise bad(lineno, "non-numeric pixel value") from None
            if px.size != N_PIXELS:
                raise bad(lineno, f"{px.size} pixel values, expected {N_PIXELS}")
            if px.min() < 0 or px.max() > 255:
                raise bad(lineno, "pixel value outside 0-255")
            images[len(labels)] = px
            labels.append(lab)
            split.append(usage)
    if not labels:
        raise DatasetError(f"{path}: no data rows")
    return FaceDataset(images[:len(labels)].reshape(-1, 48, 48), labels, FER7, split,
                       name="fer2013", source=str(path))
