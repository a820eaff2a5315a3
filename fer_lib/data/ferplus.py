"""FERPlus (Barsoum et al. 2016, "Training deep networks for facial expression recognition with
crowd-sourced label distribution"; github.com/microsoft/FERPlus).

`fer2013new.csv` holds, for each row of FER2013's `fer2013.csv` in the same order, `Usage,Image name` and
10 annotators' votes over `neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF`.
The pixels come from FER2013. Rows with an empty `Image name` are the ones FERPlus removed (not faces).
Votes are turned into labels as in the FERPlus code (`_process_data`): single votes are outliers and zeroed
first (all modes), then
- "majority": a class needs more than half of the remaining votes (unknown and NF votes count in the
  total), else the row is dropped; rows whose majority is unknown/NF are dropped;
- "plurality": the most-voted category; rows with a tie at the top, or topped by unknown/NF, are dropped;
- "probability": rows topped by unknown/NF (ties go to the emotion) or with no emotion vote left are dropped;
  `soft_labels` = the remaining votes over the 8 emotions, normalised; label = their argmax (a tie goes to
  the first in `EMOTIONS` order).
Classes are all 8 `EMOTIONS` (contempt included). Split names stay FER2013's Training/PublicTest/PrivateTest
(the FERPlus repo's FER2013Train/FER2013Valid/FER2013Test). FERPlus is not cached separately: it is
derived in milliseconds from the (cached) FER2013 arrays.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import EMOTIONS, DatasetError, FaceDataset, first_existing, not_found
from .fer2013 import find_fer2013, load_fer2013

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "NF")
TO_CANONICAL = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt"}
MODES = ("majority", "plurality", "probability")
EXPECTED = "ferplus/fer2013new.csv (or fer2013new.csv) next to FER2013's fer2013/fer2013.csv(.gz)"


def find_ferplus(root) -> Path:
    if root is not None and Path(root).is_file():
        return Path(root)
    found = first_existing(root, ("ferplus/fer2013new.csv", "FERPlus/fer2013new.csv", "fer2013new.csv"))
    if found is None:
        raise not_found("ferplus", root, EXPECTED)
    return found


def read_votes(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, keep_default_na=False, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DatasetError(f"{path}: cannot parse ({e})") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in ("Usage", "Image name", *VOTE_COLUMNS) if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: missing columns {missing}")
    for c in VOTE_COLUMNS:
        v = pd.to_numeric(df[c].str.strip(), errors="coerce")
        if v.isna().any() or (v < 0).any():
            row = int(np.flatnonzero(v.isna().to_numpy() | (v < 0).to_numpy())[0])
            raise DatasetError(f"{path} line {row + 2}: bad vote count {df[c].iloc[row]!r} in column {c}")
        df[c] = v
    return df


def load_ferplus(root, mode: str = "majority", fer2013=None, cache: bool = True) -> FaceDataset:
    """`root`: the fer2013new.csv file, its folder or a data root; `fer2013`: FER2013's CSV or its root
    (default: searched next to the FERPlus file and in the data root)."""
    if mode not in MODES:
        raise DatasetError(f"ferplus: mode must be one of {MODES}, got {mode!r}")
    path = find_ferplus(root)
    if fer2013 is None:
        for place in (path.parent, path.parent.parent):
            try:
                fer2013 = find_fer2013(place)
                break
            except DatasetError:
                pass
        else:
            raise not_found("fer2013", path.parent, "FER2013's fer2013.csv(.gz), whose pixels FERPlus relabels")
    fer = load_fer2013(fer2013, cache=cache)
    df = read_votes(path)
    if len(df) != len(fer) or not (df["Usage"].str.strip().to_numpy() == fer.split).all():
        raise DatasetError(f"{path}: {len(df)} rows do not line up with FER2013's {len(fer)} rows "
                           f"({fer.source}); both files must be in the original row order")

    named = (df["Image name"].str.strip() != "").to_numpy()
    votes = df[list(VOTE_COLUMNS)].to_numpy(dtype=np.float64)
    votes[votes <= 1] = 0                        # single votes are outliers (FERPlus code)
    total, top, best = votes.sum(1), votes.argmax(1), votes.max(1)
    emotion_top = top < 8                        # not unknown / NF
    meta = {"mode": mode, "rows": len(df), "dropped_no_image_name": int((~named).sum())}
    if mode == "majority":
        majority = best > 0.5 * total
        keep = named & majority & emotion_top
        meta["dropped_no_majority"] = int((named & ~majority).sum())
        meta["dropped_unknown_nf"] = int((named & majority & ~emotion_top).sum())
    elif mode == "plurality":
        unique = (votes == best[:, None]).sum(1) == 1
        keep = named & unique & emotion_top & (total > 0)
        meta["dropped_tie"] = int((named & ~unique).sum())
        meta["dropped_unknown_nf"] = int((named & unique & ~emotion_top).sum())
    else:
        has_emotion = votes[:, :8].sum(1) > 0
        keep = named & emotion_top & has_emotion
        meta["dropped_unknown_nf"] = int((named & ~keep).sum())
    meta["kept"] = int(keep.sum())

    # FERPlus column order -> canonical EMOTIONS order.
    order = [VOTE_COLUMNS.index(next(k for k, v in TO_CANONICAL.items() if v == e)) for e in EMOTIONS]
    emo = votes[keep][:, order]
    labels = emo.argmax(1)
    soft = (emo / emo.sum(1, keepdims=True)).astype(np.float32) if mode == "probability" else None
    out = fer.subset(keep)
    return FaceDataset(out.images, labels, EMOTIONS, out.split, name="ferplus", source=str(path),
                       soft_labels=soft, meta=meta)
