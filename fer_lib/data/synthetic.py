"""The embedded synthetic dataset: drawn faces in FER2013's seven classes, generated in code (no files).

Every notebook's `smoke` profile runs on it, so the whole study executes on a machine without any data.
Each face is rendered from a few continuous parameters — mouth curve and openness, brow angle and height,
eye openness, nose wrinkle, mouth asymmetry — drawn per class with overlapping ranges, on top of identity
variation (face shape, tone, eye spacing, hair) and the nuisances the papers attack: random
rotation/scale/translation (STN, paper 1 and 4), low resolution (SR, paper 1; DRGFER, paper 5), occlusion,
noise and background clutter. Deterministic for a given seed. It is a test bed, not a face dataset: numbers
measured on it say that the code learns, nothing about the papers' claims.
"""
from __future__ import annotations

import numpy as np

from .base import FER7, FaceDataset

# Per-class expression parameters: (mean, spread) of
#   mouth_curve (+ smile / - frown), mouth_open, brow_angle (+ inner ends down = angry),
#   brow_raise, eye_open, wrinkle (disgust), asym (one-sided mouth).
_EXPR = {
    "angry":    dict(mouth_curve=(-0.15, .12), mouth_open=(0.05, .05), brow_angle=(0.55, .15), brow_raise=(-0.3, .15), eye_open=(0.6, .15), wrinkle=(0.1, .1), asym=(0.0, .1)),
    "disgust":  dict(mouth_curve=(-0.25, .15), mouth_open=(0.1, .08), brow_angle=(0.3, .15), brow_raise=(-0.2, .15), eye_open=(0.55, .15), wrinkle=(0.8, .2), asym=(0.5, .2)),
    "fear":     dict(mouth_curve=(-0.1, .12), mouth_open=(0.35, .12), brow_angle=(-0.4, .15), brow_raise=(0.5, .15), eye_open=(1.2, .15), wrinkle=(0.0, .1), asym=(0.0, .1)),
    "happy":    dict(mouth_curve=(0.6, .15), mouth_open=(0.2, .15), brow_angle=(0.0, .12), brow_raise=(0.1, .15), eye_open=(0.75, .15), wrinkle=(0.0, .1), asym=(0.0, .1)),
    "sad":      dict(mouth_curve=(-0.5, .15), mouth_open=(0.03, .04), brow_angle=(-0.5, .15), brow_raise=(0.1, .15), eye_open=(0.65, .15), wrinkle=(0.0, .1), asym=(0.0, .1)),
    "surprise": dict(mouth_curve=(0.0, .12), mouth_open=(0.7, .15), brow_angle=(-0.1, .12), brow_raise=(0.8, .15), eye_open=(1.3, .15), wrinkle=(0.0, .1), asym=(0.0, .1)),
    "neutral":  dict(mouth_curve=(0.0, .12), mouth_open=(0.03, .04), brow_angle=(0.0, .12), brow_raise=(0.0, .15), eye_open=(0.9, .15), wrinkle=(0.0, .1), asym=(0.0, .1)),
}
DEFAULT_COUNTS = {"train": 1400, "val": 350, "test": 350}


def _smoothstep(d, width):
    """Anti-aliased inside mask of a signed distance (negative inside)."""
    return np.clip(0.5 - d / width, 0.0, 1.0)


def _draw_face(rng: np.random.Generator, cls: str, size: int, hard: float) -> np.ndarray:
    """One float image in [0, 1], rendered at `size`×`size`."""
    p = {k: rng.normal(m, s) for k, (m, s) in _EXPR[cls].items()}
    # Nuisance pose: rotation, scale, translation (what an STN should undo).
    ang = rng.normal(0, 12 * hard) * np.pi / 180
    scale = np.exp(rng.normal(0, 0.1 * hard))
    tx, ty = rng.normal(0, 0.06 * hard, 2)
    lin = (np.arange(size) + 0.5) / size * 2 - 1
    X, Y = np.meshgrid(lin, lin)
    c, s = np.cos(ang), np.sin(ang)
    x = (c * (X - tx) + s * (Y - ty)) / scale
    y = (-s * (X - tx) + c * (Y - ty)) / scale
    px = 2.0 / size / scale  # one pixel in face coordinates, for anti-aliasing

    # Background: gradient plus clutter blobs.
    img = rng.uniform(0.1, 0.6) + rng.uniform(-0.2, 0.2) * X + rng.uniform(-0.2, 0.2) * Y
    for _ in range(rng.poisson(3 * hard)):
        cx, cy, r = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.05, 0.3)
        img = img + rng.uniform(-0.3, 0.3) * _smoothstep(np.hypot(X - cx, Y - cy) - r, 2.0 / size)

    # Identity: face shape, skin tone, eye spacing, hair.
    fw, fh = rng.uniform(0.58, 0.72), rng.uniform(0.75, 0.88)
    tone = rng.uniform(0.55, 0.9)
    dark = tone - rng.uniform(0.35, 0.5)
    face = _smoothstep(np.hypot(x / fw, y / fh) - 1, px / fw)
    img = img * (1 - face) + tone * face
    hair = face * _smoothstep(y + fh * rng.uniform(0.55, 0.8), px) * (rng.random() < 0.7)
    img = img * (1 - hair) + rng.uniform(0.05, 0.3) * hair

    ex, ey = rng.uniform(0.24, 0.32), rng.uniform(-0.22, -0.12)
    for side in (-1, 1):
        # Eye: an ellipse whose height is the eye openness.
        eh = 0.07 * max(p["eye_open"], 0.15)
        eye = _smoothstep(np.hypot((x - side * ex) / 0.1, (y - ey) / eh) - 1, px / eh)
        img = img * (1 - eye) + dark * eye
        # Brow: a thick segment; inner end lowered by brow_angle, whole brow lifted by brow_raise.
        by = ey - 0.16 - 0.08 * p["brow_raise"]
        t = np.clip((x * side - (ex - 0.12)) / 0.24, 0, 1)  # 0 at the inner end, 1 at the outer end
        line_y = by + 0.1 * p["brow_angle"] * (1 - t) - 0.03 * (1 - t) * (p["brow_angle"] < 0)
        bx = side * (ex - 0.12 + 0.24 * t)
        brow = _smoothstep(np.hypot(x - bx, y - line_y) - 0.025, px)
        img = img * (1 - brow) + dark * brow

    # Nose, with wrinkle lines for disgust.
    nose = _smoothstep(np.abs(x) - 0.02, px) * _smoothstep(np.abs(y - 0.05) - 0.12, px)
    img = img - 0.15 * nose
    if p["wrinkle"] > 0.3:
        for side in (-1, 1):
            w = _smoothstep(np.hypot(x - side * 0.09, y + 0.02) - 0.06, px) * _smoothstep(0.045 - np.hypot(x - side * 0.09, y + 0.02), px)
            img = img - 0.25 * min(p["wrinkle"], 1.2) * w

    # Mouth: a parabola y = my - curve * x² (+ asymmetry), thickened by openness.
    my, mw = 0.42, rng.uniform(0.22, 0.3)
    curve_y = my - 0.9 * p["mouth_curve"] * (x / mw) ** 2 * mw + 0.1 * p["asym"] * x / mw * mw
    half = 0.02 + 0.09 * max(p["mouth_open"], 0)
    mouth = _smoothstep(np.abs(y - curve_y) - half, px) * _smoothstep(np.abs(x) - mw, px)
    img = img * (1 - mouth) + (dark - 0.1) * mouth

    # Occlusion: a grey bar or patch (hand, glasses, scarf).
    if rng.random() < 0.25 * hard:
        ox, oy = rng.uniform(-0.6, 0.6, 2)
        occ = _smoothstep(np.maximum(np.abs(X - ox) - rng.uniform(0.1, 0.4), np.abs(Y - oy) - rng.uniform(0.05, 0.2)), 2.0 / size)
        img = img * (1 - occ) + rng.uniform(0, 1) * occ
    # Lighting and noise.
    img = img * rng.uniform(0.7, 1.2) + rng.normal(0, 0.04 * hard, img.shape)
    return np.clip(img, 0, 1)


def _low_res(img: np.ndarray, factor: int) -> np.ndarray:
    """Box-downsample by `factor` then nearest-upsample: a cheap, deterministic low-resolution nuisance."""
    h, w = img.shape
    hh, ww = h // factor, w // factor
    small = img[:hh * factor, :ww * factor].reshape(hh, factor, ww, factor).mean(axis=(1, 3))
    up = np.repeat(np.repeat(small, factor, 0), factor, 1)
    out = img.copy()
    out[:hh * factor, :ww * factor] = up
    return out


def make_synthetic(counts: dict[str, int] | None = None, size: int = 48, seed: int = 0,
                   hard: float = 1.0, low_res_p: float = 0.15, rgb: bool = False) -> FaceDataset:
    """Generate the synthetic FER dataset.

    counts: images per split (default train 1400 / val 350 / test 350), classes balanced within a split.
    size: image side in pixels (48 like FER2013; any size on request).
    hard: scales every nuisance (0 = clean frontal faces; 1 = default).
    low_res_p: fraction of images degraded by ×2, ×4 or ×6 block downsampling.
    rgb: return (N, H, W, 3) with a mild colour tint instead of grey.
    """
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    for k, v in counts.items():
        if not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"make_synthetic: counts[{k!r}] must be a non-negative int, got {v!r}")
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"make_synthetic: size must be an int >= 8, got {size!r}")
    if hard < 0:
        raise ValueError(f"make_synthetic: hard must be >= 0, got {hard!r}")
    images, labels, split, ident = [], [], [], []
    for si, (name, n) in enumerate(counts.items()):
        # One generator per split: adding a split or changing its size leaves the others unchanged.
        rng = np.random.default_rng([seed, si, n, size])
        order = rng.permutation(np.arange(n) % len(FER7))
        for cls_idx in order:
            img = _draw_face(rng, FER7[cls_idx], size, hard)
            if rng.random() < low_res_p:
                img = _low_res(img, int(rng.choice([2, 4, 6])))
            images.append(img)
            labels.append(cls_idx)
            split.append(name)
            ident.append(f"{name}-{rng.integers(0, 10**6)}")
    arr = (np.stack(images) * 255 + 0.5).astype(np.uint8) if images else np.zeros((0, size, size), np.uint8)
    if rgb:
        tint = np.array([1.0, 0.92, 0.85])
        arr = np.clip(arr[..., None] * tint, 0, 255).astype(np.uint8)
    return FaceDataset(images=arr, labels=np.array(labels, dtype=np.int64), classes=FER7,
                       split=np.array(split, dtype=object), name="synthetic",
                       source=f"fer_lib.data.synthetic(seed={seed}, size={size}, hard={hard})",
                       groups=np.array(ident, dtype=object),
                       meta={"seed": seed, "size": size, "hard": hard, "low_res_p": low_res_p,
                             "note": "generated faces; measures that code learns, not the papers' claims"})


def plant_duplicates(ds: FaceDataset, train: str = "Training") -> FaceDataset:
    """Copy four training images into the other splits (one copy relabelled, one within training), so that the
    leakage audit has something to find on synthetic stand-ins of a real dataset (00_datasets, smoke)."""
    src = np.flatnonzero(ds.split == train)[:4]
    others = [s for s in ds.splits if s != train]
    split = np.array([others[0], others[-1], others[-1], train], dtype=object)
    labels = ds.labels[src].copy()
    labels[2] = (labels[2] + 1) % len(ds.classes)
    return FaceDataset(np.concatenate([ds.images, ds.images[src]]), np.concatenate([ds.labels, labels]),
                       ds.classes, np.concatenate([ds.split, split]), name=ds.name, source=ds.source + " + 4 copies",
                       groups=np.concatenate([ds.groups, ds.groups[src]]), meta=ds.meta)
