"""Offline test media for paper 3's real-time pipeline (Zhao, §III.A, §IV.D): videos with known face boxes.

Nothing is downloaded. The faces are real photographs that ship inside installed packages:
  - "astronaut": scikit-image's `skimage.data.astronaut()` (Eileen Collins, NASA, public domain);
  - "hopper":    matplotlib's `sample_data/grace_hopper.jpg` (Grace Hopper, US Navy, public domain);
  - "astronaut_flip": the astronaut mirrored (a third, differently lit "person" for the 3-face clips).
(`skimage.data.camera()` shows a man mostly hidden behind his camera, `lfw_subset()` holds 25×25 crops: neither
is used.) Each head is cut out with a feathered elliptical mask, scaled, moved (and optionally rotated) along
a smooth path and pasted over a background photo that holds no face (skimage's coffee, rocket, brick, ...),
with a little sensor noise per frame.

Ground truth: the face box in each source photo was annotated by hand, by eye, from the photo itself
(hairline/brows to chin, cheek to cheek; ears and hair excluded), not taken from either detector. Every frame's
truth box is that box carried through the same scale/shift/rotation as the pixels (for a rotation: the
axis-aligned box of the rotated corners). Detectors draw face boxes by different conventions (Haar's are larger
squares), so IoU with this truth measures both localisation and convention; `score` reports it per detector.

Frames are BGR uint8 (OpenCV's order, what `cv2.VideoCapture` yields), boxes are float (x1, y1, x2, y2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

__all__ = ["FACES", "BACKGROUNDS", "Clip", "face_photo", "make_clip", "write_video", "write_frames",
           "iou_matrix", "score"]

# Hand-annotated face boxes (x1, y1, x2, y2) in the source photos' own pixels.
FACES = {
    "astronaut": (182, 68, 268, 174),
    "hopper": (178, 140, 352, 345),
}
# skimage.data photos without a face (a cat is a face for some detectors: chelsea is left out on purpose).
BACKGROUNDS = ("coffee", "rocket", "brick", "gravel", "grass", "motorcycle_left", "hubble_deep_field", "plain")


def face_photo(name: str) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """(RGB uint8 photo, hand-annotated face box) for one of FACES (or "<name>_flip", mirrored)."""
    base = name.removesuffix("_flip")
    if base == "astronaut":
        from skimage import data
        img = data.astronaut()
    elif base == "hopper":
        import matplotlib
        import matplotlib.pyplot as plt
        img = plt.imread(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    else:
        raise ValueError(f"unknown face {name!r}; known: {sorted(FACES)} (+ '_flip')")
    img = np.ascontiguousarray(img[..., :3]).astype(np.uint8)
    x1, y1, x2, y2 = FACES[base]
    if name.endswith("_flip"):
        w = img.shape[1]
        img = np.ascontiguousarray(img[:, ::-1])
        x1, x2 = w - x2, w - x1
    return img, (float(x1), float(y1), float(x2), float(y2))


def _head_patch(name: str):
    """The head cut out of its photo: (BGR patch, alpha in [0, 1], face box in patch pixels)."""
    img, (x1, y1, x2, y2) = face_photo(name)
    fw, fh = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    # The head (hair, ears, a bit of neck) around the face: 1.7 × the face box, clipped to the photo.
    px1, py1 = int(max(0, cx - 0.85 * fw)), int(max(0, cy - 0.85 * fh))
    px2, py2 = int(min(img.shape[1], cx + 0.85 * fw)), int(min(img.shape[0], cy + 0.85 * fh))
    patch = cv2.cvtColor(img[py1:py2, px1:px2], cv2.COLOR_RGB2BGR)
    h, w = patch.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - (cx - px1)) / (0.85 * fw), (yy - (cy - py1)) / (0.85 * fh))
    alpha = np.clip((1.0 - r) / 0.25, 0.0, 1.0)  # feathered ellipse: no hard rectangle edge to detect
    return patch, alpha.astype(np.float32), (x1 - px1, y1 - py1, x2 - px1, y2 - py1)


def _background(name: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = size
    if name == "plain":
        g = np.linspace(90, 170, w, dtype=np.float32)[None, :, None]
        return np.broadcast_to(g, (h, w, 3)).astype(np.uint8).copy()
    from skimage import data
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]).astype(np.uint8), cv2.COLOR_RGB2BGR)
    # Cover the frame (scale up if needed), then a random crop.
    s = max(w / img.shape[1], h / img.shape[0], 1.0)
    img = cv2.resize(img, (int(np.ceil(img.shape[1] * s)), int(np.ceil(img.shape[0] * s))))
    ox, oy = rng.integers(0, img.shape[1] - w + 1), rng.integers(0, img.shape[0] - h + 1)
    return np.ascontiguousarray(img[oy:oy + h, ox:ox + w])


@dataclass
class Clip:
    """A generated video: BGR frames, per-frame truth boxes (k, 4) float xyxy (one row per face, fixed order)."""
    frames: list[np.ndarray]
    boxes: list[np.ndarray]
    faces: list[str]
    fps: float = 30.0
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.frames[0].shape[:2]
        return w, h


def _paste(frame: np.ndarray, patch: np.ndarray, alpha: np.ndarray, M: np.ndarray) -> None:
    """Blend `patch` warped by the 2×3 affine `M` into `frame` (in place)."""
    h, w = frame.shape[:2]
    ph, pw = patch.shape[:2]
    corners = np.array([[0, 0, 1], [pw, 0, 1], [pw, ph, 1], [0, ph, 1]], np.float64) @ M.T
    # Warp only into the patch's footprint on the frame (a whole-frame warp per face is 10× slower).
    x1, y1 = max(0, int(np.floor(corners[:, 0].min()))), max(0, int(np.floor(corners[:, 1].min())))
    x2, y2 = min(w, int(np.ceil(corners[:, 0].max())) + 1), min(h, int(np.ceil(corners[:, 1].max())) + 1)
    if x2 <= x1 or y2 <= y1:
        return
    Mr = M.copy()
    Mr[:, 2] -= (x1, y1)
    size = (x2 - x1, y2 - y1)
    warped = cv2.warpAffine(patch, Mr, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = cv2.warpAffine(alpha, Mr, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    roi = frame[y1:y2, x1:x2]
    roi[:] = warped * a + roi * (1.0 - a)


def make_clip(n_frames: int = 60, size: tuple[int, int] = (640, 480), n_faces: int = 1, *, seed: int = 0,
              face_px: tuple[float, float] | None = None, background: str = "coffee", rotate: float = 0.0,
              noise: float = 3.0, fps: float = 30.0, faces: list[str] | None = None) -> Clip:
    """A clip of `n_frames` with `n_faces` real faces moving, scaling (and rotating up to ±`rotate` degrees).

    face_px: (min, max) width of the truth face box in pixels, swept slowly (default: 0.15-0.21 × frame width
    for one face, 0.11-0.15 × for several). With several faces each keeps to its own vertical lane so the
    truth boxes never overlap. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    faces = list(faces or ["astronaut", "hopper", "astronaut_flip"][:n_faces])
    if len(faces) != n_faces:
        raise ValueError(f"{n_faces} faces asked for but {len(faces)} named")
    if face_px is None:
        face_px = (0.15 * w, 0.21 * w) if n_faces == 1 else (0.11 * w, 0.15 * w)
    bg = _background(background, size, rng)
    patches = [_head_patch(f) for f in faces]
    lane_w = w / n_faces
    paths = []
    for k in range(n_faces):
        # A smooth Lissajous path per face: random phases and periods of 2-5 s, so motion is webcam-like.
        paths.append(dict(px=rng.uniform(0, 2 * np.pi), py=rng.uniform(0, 2 * np.pi), ps=rng.uniform(0, 2 * np.pi),
                          pr=rng.uniform(0, 2 * np.pi), tx=rng.uniform(2, 5) * fps, ty=rng.uniform(2, 5) * fps,
                          ts=rng.uniform(3, 6) * fps, tr=rng.uniform(2, 4) * fps))
    frames, boxes = [], []
    for t in range(n_frames):
        frame = bg.astype(np.float32)
        fb = []
        for k, ((patch, alpha, (bx1, by1, bx2, by2)), p) in enumerate(zip(patches, paths)):
            fw_t = face_px[0] + (face_px[1] - face_px[0]) * 0.5 * (1 + np.sin(2 * np.pi * t / p["ts"] + p["ps"]))
            s = fw_t / (bx2 - bx1)
            fh_t = (by2 - by1) * s
            # Face centre: inside its lane (x) and the frame (y), keeping a head-sized margin.
            mx, my = 0.5 * fw_t + 4, 0.6 * fh_t + 4
            lx1, lx2 = k * lane_w + mx, (k + 1) * lane_w - mx
            cx = lx1 + (lx2 - lx1) * 0.5 * (1 + np.sin(2 * np.pi * t / p["tx"] + p["px"]))
            cy = my + (h - 2 * my) * 0.5 * (1 + np.sin(2 * np.pi * t / p["ty"] + p["py"]))
            ang = rotate * np.sin(2 * np.pi * t / p["tr"] + p["pr"])
            # Affine: patch face centre -> (cx, cy), scale s, rotation ang (degrees, counter-clockwise on screen).
            pcx, pcy = (bx1 + bx2) / 2, (by1 + by2) / 2
            M = cv2.getRotationMatrix2D((pcx, pcy), ang, s)
            M[:, 2] += np.array([cx - pcx, cy - pcy])
            _paste(frame, patch, alpha, M)
            corners = np.array([[bx1, by1, 1], [bx2, by1, 1], [bx2, by2, 1], [bx1, by2, 1]], np.float64) @ M.T
            fb.append([corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()])
        if noise:
            frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(noise)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        boxes.append(np.array(fb, dtype=np.float64).reshape(-1, 4))
    return Clip(frames, boxes, faces, fps, dict(seed=seed, size=size, background=background, rotate=rotate,
                                                face_px=tuple(float(v) for v in face_px), noise=noise))


def write_video(clip: Clip, path: str | Path, fourcc: str = "mp4v") -> Path:
    """Write the clip as a video file (mp4v in .mp4 by default)."""
    path = Path(path)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), clip.fps, clip.size)
    if not vw.isOpened():
        raise OSError(f"cannot write video {path}")
    for f in clip.frames:
        vw.write(f)
    vw.release()
    return path


def write_frames(clip: Clip, folder: str | Path, ext: str = "png") -> Path:
    """Write the clip as numbered images in a folder (the CLI's image-folder input)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(clip.frames):
        cv2.imwrite(str(folder / f"{i:05d}.{ext}"), f)
    return folder


def iou_matrix(a, b) -> np.ndarray:
    """IoU of every box in `a` (n, 4) with every box in `b` (m, 4), boxes xyxy."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def score(pred_boxes: list, truth_boxes: list, thr: float = 0.5) -> dict:
    """Detection quality over a clip: predicted vs truth boxes per frame, one-to-one (Hungarian) matching.

    recall = truth faces matched at IoU >= thr / all truth faces; precision = matched / all predicted boxes;
    mean_iou / min_iou over every truth face (an unmatched face counts its best IoU, 0 if nothing overlaps);
    frames_ok = share of frames where every truth face is matched."""
    from scipy.optimize import linear_sum_assignment
    if len(pred_boxes) != len(truth_boxes):
        raise ValueError(f"{len(pred_boxes)} frames predicted but {len(truth_boxes)} in the truth")
    ious, n_pred, n_hit, ok = [], 0, 0, 0
    for p, t in zip(pred_boxes, truth_boxes):
        p = np.asarray(p, dtype=np.float64).reshape(-1, 4)
        t = np.asarray(t, dtype=np.float64).reshape(-1, 4)
        n_pred += len(p)
        best = np.zeros(len(t))
        if len(p) and len(t):
            m = iou_matrix(t, p)
            r, c = linear_sum_assignment(-m)
            best[r] = m[r, c]
        hits = int((best >= thr).sum())
        n_hit += hits
        ok += hits == len(t)
        ious.extend(best.tolist())
    n_truth = len(ious)
    return {"recall": n_hit / n_truth if n_truth else float("nan"),
            "precision": n_hit / n_pred if n_pred else float("nan"),
            "mean_iou": float(np.mean(ious)) if ious else float("nan"),
            "min_iou": float(np.min(ious)) if ious else float("nan"),
            "frames_ok": ok / len(truth_boxes) if truth_boxes else float("nan"),
            "false_positives": n_pred - n_hit, "faces": n_truth, "frames": len(truth_boxes)}
