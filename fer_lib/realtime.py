"""Paper 3 (Zhao), §III.A, §IV.D, §V: the real-time pipeline — frames → faces → 48×48 grey crops → classifier.

    python -m fer_lib.realtime INPUT [-o OUTPUT.mp4] [--detector mtcnn|haar] [--track-every 5]
                               [--checkpoint PATH] [--device auto|cpu|cuda] [--csv PATH] [--max-frames N]
                               [--min-face 40] [--margin 0] [--track-scale 1] [--no-verify]
                               [--dtype float32|bfloat16] [--fps 30]

INPUT is a video file, a folder of images (sorted by name) or a camera index (0, 1, ...). Writes an annotated
video and a per-frame CSV (frame, face, box, source, label, probabilities, stage timings) and prints a timing
summary. Outputs are written under temporary names and renamed at the end: an error leaves nothing behind.

What the paper says and the readings taken (each one a parameter):
- Detector: MTCNN (P-Net/R-Net/O-Net cascade, §III.A) — facenet-pytorch's implementation, whose weights ship
  inside the package (nothing is downloaded); thresholds (0.6, 0.7, 0.7) and pyramid factor 0.709 are its
  defaults. OpenCV's Haar cascade `haarcascade_frontalface_default.xml` (the "default OpenCV haar cascade" of
  §IV.D) with scaleFactor 1.1, minNeighbors 5 (OpenCV's tutorial values) is the alternative. Smallest face
  `min_face` = 40 px for both (the paper gives none; a face under ~40 px has to be upsampled to reach 48×48).
- Tracker: OpenCV KCF with its default parameters (§III.A). "Detecting one frame and tracking five":
  `track_every=5` tracked frames after each detection (a 6-frame cycle); 0 = detect every frame. "The last
  detected face frame is updated to refresh" read as: each detection re-initialises one KCF per detected face.
  When any tracker fails the detector runs again on that same frame. Failure = KCF says so, or the box leaves
  the frame, or (our addition: OpenCV's KCF reports success even on a blank frame) the detector's own check
  finds no face in the tracked box: MTCNN's O-Net on the box (probability < 0.7, its own threshold), or the
  Haar cascade on the box's neighbourhood. `verify=False` turns that check off.
  Face ids survive re-detection by IoU matching (≥ 0.3) with the tracked boxes.
- Crop: a square window on the box centre, side = the box's longer side × (1 + `margin`), margin 0; grey,
  resized to 48×48 with area interpolation, normalised like training ((x/255 − mean)/std, mean = std = 0.5
  unless the checkpoint says otherwise). Padding by edge replication where the window leaves the frame.
- Classifier: any fer_lib model with one grey 48×48 input channel, run once per frame on all faces together.
  The paper's "depthwise separable" network and its parallel gender branch are not described anywhere in the
  paper (and no gender labels exist in FER2013): not reproduced. Default model: ZhaoCNN (§III.B).
- Timings: perf_counter around each stage of each frame; end-to-end = detect + track + crop + classify of a
  frame (reading and writing the video are timed apart). The paper never states its hardware.
Without a checkpoint the classifier is an untrained ZhaoCNN: the boxes and timings are real, the labels are
meaningless, and the outputs say so.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

from .data.base import FER7
from .core.io import atomic_path, atomic_torch_save
from .testmedia import iou_matrix

__all__ = ["RealtimeError", "CheckpointError", "MTCNNDetector", "HaarDetector", "make_detector", "make_kcf",
           "FaceTracker", "crop_faces", "Classifier", "build_model", "save_checkpoint", "load_checkpoint",
           "untrained_classifier", "RealtimePipeline", "FrameResult", "evaluate_clip", "annotate", "open_input", "run", "summarise", "main",
           "NO_CHECKPOINT", "STAGES", "DEFAULT_CHECKPOINT"]

STAGES = ("detect", "track", "crop", "classify")
# Where notebook 03b looks for a trained classifier (cpu and full profiles), relative to the project root:
# write it with save_checkpoint(DEFAULT_CHECKPOINT, model, "ZhaoCNN", kwargs, classes, mean, std).
DEFAULT_CHECKPOINT = Path("checkpoints") / "03_zhao_cnn_vgg_resnet" / "realtime_classifier.pt"
NO_CHECKPOINT = "labels are meaningless: no checkpoint"
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


class RealtimeError(ValueError):
    """A bad input, output or option: the CLI prints it as one line and exits with status 2."""


class CheckpointError(RealtimeError):
    """A checkpoint that cannot be read or does not fit its architecture."""


# ------------------------------------------------------------------------------------------------ detectors
def _square_crops(frame: np.ndarray, boxes, size: int, border=cv2.BORDER_CONSTANT) -> np.ndarray:
    """(n, size, size[, C]) crops of square windows on the boxes' centres (side = longer side), padded at edges."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes), size, size) + frame.shape[2:], np.uint8)
    h, w = frame.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        side = max(x2 - x1, y2 - y1)
        a, b = int(round((x1 + x2 - side) / 2)), int(round((y1 + y2 - side) / 2))
        s = max(1, int(round(side)))
        win = frame[max(b, 0):min(b + s, h), max(a, 0):min(a + s, w)]
        if win.size == 0:
            continue
        if win.shape[:2] != (s, s):  # the window leaves the frame
            win = cv2.copyMakeBorder(win, max(0, -b), max(0, b + s - h), max(0, -a), max(0, a + s - w), border)
        out[i] = cv2.resize(win, (size, size), interpolation=cv2.INTER_AREA)
    return out


class MTCNNDetector:
    """MTCNN (paper 3 §III.A) from facenet-pytorch; weights bundled with the package, nothing downloaded."""
    name = "mtcnn"

    def __init__(self, device: str | torch.device = "cpu", min_face: int = 40,
                 thresholds=(0.6, 0.7, 0.7), factor: float = 0.709):
        try:
            from facenet_pytorch import MTCNN
        except ImportError as e:  # facenet-pytorch is installed by the Makefile with --no-deps
            raise RealtimeError("detector 'mtcnn' needs facenet-pytorch (make venv installs it; "
                                f"or use --detector haar): {e}") from None
        self.device = torch.device(device)
        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_face, thresholds=list(thresholds), factor=factor,
                           device=self.device)
        self.verify_thresh = thresholds[2]

    def __call__(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n, 4) float xyxy and scores (n,) for one BGR frame."""
        boxes, probs = self.mtcnn.detect(np.ascontiguousarray(frame_bgr[..., ::-1]))
        if boxes is None:
            return np.zeros((0, 4)), np.zeros(0)
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(probs, dtype=np.float64).reshape(-1)

    @torch.inference_mode()
    def verify(self, frame_bgr: np.ndarray, boxes) -> np.ndarray:
        """Is each box still a face? MTCNN's own last stage (O-Net) on the squared box, as MTCNN feeds it:
        RGB 48×48, (x − 127.5)/128; face probability ≥ its O-Net threshold (0.7)."""
        crops = _square_crops(frame_bgr, boxes, 48)[..., ::-1]
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2).float()
        prob = self.mtcnn.onet((x - 127.5) * 0.0078125)[2][:, 1]
        return (prob >= self.verify_thresh).cpu().numpy()


class HaarDetector:
    """OpenCV's default frontal-face Haar cascade (the detector paper 3 §IV.D started from, Fig. 5)."""
    name = "haar"

    def __init__(self, min_face: int = 40, scale_factor: float = 1.1, min_neighbors: int = 5,
                 cascade: str = "haarcascade_frontalface_default.xml"):
        path = cascade if os.path.isabs(cascade) else os.path.join(cv2.data.haarcascades, cascade)
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RealtimeError(f"cannot load the Haar cascade {path}")
        self.min_face, self.scale_factor, self.min_neighbors = min_face, scale_factor, min_neighbors

    def __call__(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        r = self.cascade.detectMultiScale(grey, self.scale_factor, self.min_neighbors,
                                          minSize=(self.min_face, self.min_face))
        r = np.asarray(r, dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], 1)
        return boxes, np.ones(len(boxes))  # the cascade gives no score

    def verify(self, frame_bgr: np.ndarray, boxes) -> np.ndarray:
        """Is each box still a face? The cascade run on the box's square window grown by half, at 96×96."""
        wins = _square_crops(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY),
                             [_grow(b, 1.5) for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4)], 96,
                             cv2.BORDER_REPLICATE)
        # the face fills 96/1.5 = 64 px of the window: look for faces of 40-96 px
        return np.array([len(self.cascade.detectMultiScale(w, self.scale_factor, self.min_neighbors,
                                                           minSize=(40, 40))) > 0 for w in wins], dtype=bool)


def _grow(box, factor: float) -> np.ndarray:
    x1, y1, x2, y2 = box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh])


def make_detector(name: str, device: str | torch.device = "cpu", min_face: int = 40, **kw):
    if name == "mtcnn":
        return MTCNNDetector(device, min_face, **kw)
    if name == "haar":
        return HaarDetector(min_face, **kw)
    raise RealtimeError(f"unknown detector {name!r}; choose mtcnn or haar")


# ------------------------------------------------------------------------------------------------ tracking
def make_kcf():
    """A fresh OpenCV KCF tracker (default parameters; opencv-contrib names it in cv2 or cv2.legacy)."""
    if hasattr(cv2, "TrackerKCF_create"):
        return cv2.TrackerKCF_create()
    return cv2.legacy.TrackerKCF_create()


@dataclass
class Track:
    id: int
    box: np.ndarray          # xyxy float
    source: str              # "detect" or "track": where this frame's box came from
    kcf: object = None


class FaceTracker:
    """Paper 3 §III.A: detect one frame, track `track_every` frames with KCF, re-detect when tracking fails.

    Tracking fails when KCF says so, when a box leaves the frame, or (`verify=True`) when the detector's own
    check finds no face in a tracked box any more (`detector.verify`: MTCNN's O-Net, or the Haar cascade on the
    box's neighbourhood). The check is needed because OpenCV's KCF reports success even on a blank frame
    (tests/test_realtime.py shows it); its cost is counted in the track stage."""

    def __init__(self, detector, track_every: int = 5, max_faces: int = 10, id_iou: float = 0.3,
                 track_scale: float = 1.0, verify: bool = True):
        if track_every < 0:
            raise RealtimeError(f"track_every={track_every}: must be >= 0 (0 = detect every frame)")
        if not 0 < track_scale <= 1:
            raise RealtimeError(f"track_scale={track_scale}: must be in (0, 1]")
        self.detector, self.track_every, self.max_faces, self.id_iou = detector, track_every, max_faces, id_iou
        # KCF's cost grows with the face's size in pixels; track_scale < 1 runs it on a shrunk frame.
        self.track_scale = track_scale
        self.verify = verify and hasattr(detector, "verify")
        self.tracks: list[Track] = []
        self.frame_index, self.last_detect, self.next_id = 0, -10**9, 0
        self.n_detect, self.n_redetect = 0, 0

    def _small(self, frame: np.ndarray) -> np.ndarray:
        if self.track_scale == 1:
            return frame
        return cv2.resize(frame, None, fx=self.track_scale, fy=self.track_scale, interpolation=cv2.INTER_AREA)

    def _detect(self, frame: np.ndarray, timings: dict) -> None:
        t = time.perf_counter()
        boxes, scores = self.detector(frame)
        timings["detect"] += time.perf_counter() - t
        self.n_detect += 1
        t = time.perf_counter()
        h, w = frame.shape[:2]
        boxes = np.clip(boxes, 0, [w, h, w, h])
        keep = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        boxes, scores = boxes[keep], scores[keep]
        boxes = boxes[np.argsort(-scores, kind="stable")[: self.max_faces]]
        # Keep ids: match each new box to the previous tracks by IoU (greedy, best first).
        old = self.tracks
        ids = [None] * len(boxes)
        if old and len(boxes):
            m = iou_matrix(boxes, np.stack([tr.box for tr in old]))
            while m.size and m.max() >= self.id_iou:
                i, j = np.unravel_index(np.argmax(m), m.shape)
                ids[i] = old[j].id
                m[i, :], m[:, j] = -1, -1
        tracks, small = [], None
        for b, tid in zip(boxes, ids):
            if tid is None:
                tid, self.next_id = self.next_id, self.next_id + 1
            kcf = None
            if self.track_every > 0:  # no tracker is needed when every frame is detected
                if small is None:
                    small = self._small(frame)
                kcf = make_kcf()
                x1, y1, x2, y2 = b * self.track_scale
                kcf.init(small, (int(round(x1)), int(round(y1)), max(1, int(round(x2 - x1))),
                                 max(1, int(round(y2 - y1)))))
            tracks.append(Track(tid, b.astype(np.float64), "detect", kcf))
        self.tracks = tracks
        self.last_detect = self.frame_index
        timings["track"] += time.perf_counter() - t

    def _track(self, frame: np.ndarray) -> bool:
        """Update every KCF; False (boxes left as they were) as soon as one face is lost."""
        h, w = frame.shape[:2]
        small, boxes = self._small(frame), []
        for tr in self.tracks:
            ok, (x, y, bw, bh) = tr.kcf.update(small)
            box = np.array([x, y, x + bw, y + bh], dtype=np.float64) / self.track_scale
            bw, bh = box[2] - box[0], box[3] - box[1]
            # A box mostly outside the frame is a lost face, whatever KCF says.
            inside = max(0.0, min(box[2], w) - max(box[0], 0)) * max(0.0, min(box[3], h) - max(box[1], 0))
            if not ok or inside < 0.5 * bw * bh:
                return False
            boxes.append(box)
        if self.verify and not self.detector.verify(frame, np.stack(boxes)).all():
            return False
        for tr, box in zip(self.tracks, boxes):
            tr.box, tr.source = box, "track"
        return True

    def step(self, frame: np.ndarray) -> tuple[list[Track], dict]:
        """Boxes for one frame (BGR uint8) and the seconds spent detecting and tracking."""
        timings = {"detect": 0.0, "track": 0.0}
        due = (self.track_every == 0 or not self.tracks
               or self.frame_index - self.last_detect > self.track_every)
        if not due:
            t = time.perf_counter()
            ok = self._track(frame)
            timings["track"] += time.perf_counter() - t
            if not ok:
                self.n_redetect += 1
                due = True
        if due:
            self._detect(frame, timings)
        self.frame_index += 1
        return list(self.tracks), timings


# ------------------------------------------------------------------------------------------------ crop
def crop_faces(frame: np.ndarray, boxes, size: int = 48, margin: float = 0.0) -> np.ndarray:
    """(n, size, size) uint8 grey crops: a square window on each box centre, side = longer side × (1 + margin),
    edge pixels replicated where the window leaves the frame."""
    grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if margin:
        boxes = np.stack([_grow(b, 1 + margin) for b in boxes]) if len(boxes) else boxes
    return _square_crops(grey, boxes, size, cv2.BORDER_REPLICATE)


# ------------------------------------------------------------------------------------------------ classifier
def build_model(arch: str, kwargs: dict | None = None) -> nn.Module:
    """A model of the registry (fer_lib.models.create_model) by name: "ZhaoCNN", "resnet18", ... ("cnn.ZhaoCNN",
    the older "module.Name" form, still reads)."""
    from .models import registry
    kwargs, name = dict(kwargs or {}), arch.rsplit(".", 1)[-1]
    if registry.ALIASES.get(name, name) not in registry.MODELS:
        raise CheckpointError(f"unknown architecture {arch!r}: registered models are {', '.join(registry.MODELS)}")
    try:
        return registry.create_model(name, **kwargs)
    except TypeError as e:
        raise CheckpointError(f"architecture {arch!r} does not take kwargs {kwargs}: {e}") from None


class Classifier:
    """A model on 48×48 grey crops, batched over all faces of a frame; returns class probabilities."""

    def __init__(self, model: nn.Module, classes=FER7, mean: float = 0.5, std: float = 0.5,
                 device: str | torch.device = "cpu", name: str = "", note: str = "", size: int = 48,
                 dtype: str = "float32"):
        if dtype not in ("float32", "bfloat16"):
            raise RealtimeError(f"dtype={dtype!r}: choose float32 or bfloat16")
        self.device, self.dtype = torch.device(device), getattr(torch, dtype)
        # bfloat16 halves the weight bytes: ZhaoCNN's 9216x4096 layer is memory-bound at 1-3 faces on a CPU.
        self.model = model.to(self.device, self.dtype).eval()
        self.classes, self.mean, self.std = tuple(classes), float(mean), float(std)
        self.name, self.note, self.size = name or type(model).__name__, note, size

    @torch.inference_mode()
    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if not len(crops):
            return np.zeros((0, len(self.classes)), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).unsqueeze(1).float()
        x = ((x / 255.0 - self.mean) / self.std).to(self.dtype)
        return self.model(x).float().softmax(1).cpu().numpy()

    def describe(self) -> str:
        dt = "" if self.dtype == torch.float32 else f", {str(self.dtype).removeprefix('torch.')}"
        return f"{self.name}" + (f" ({self.note}{dt})" if self.note or dt else "")


def _check_io(model: nn.Module, classes, size: int = 48, what: str = "model") -> None:
    """The model must map (1, 1, size, size) to (1, len(classes)): grey crops in, one score per class out."""
    model.eval()
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, 1, size, size, device=next(model.parameters()).device))
    except Exception as e:
        raise CheckpointError(f"{what} cannot take a (1, 1, {size}, {size}) grey crop: {e}") from None
    if tuple(out.shape) != (1, len(classes)):
        raise CheckpointError(f"{what} outputs shape {tuple(out.shape)} for one crop but the checkpoint names "
                              f"{len(classes)} classes {list(classes)}")


def save_checkpoint(path: str | Path, model: nn.Module, arch: str, kwargs: dict | None = None,
                    classes=FER7, mean: float = 0.5, std: float = 0.5, **extra) -> Path:
    """torch.save {"model": state_dict, "arch", "kwargs", "classes", "mean", "std", ...} (atomic rename).

    `arch` + `kwargs` must rebuild `model` through `build_model`: checked here, so a bad checkpoint fails when
    written rather than when read."""
    kwargs, classes = dict(kwargs or {}), list(classes)
    probe = build_model(arch, kwargs)
    _compare_state(probe.state_dict(), model.state_dict(), f"{arch}({kwargs})", "model")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return atomic_torch_save({"model": state, "arch": arch, "kwargs": kwargs, "classes": classes,
                              "mean": float(mean), "std": float(std), **extra}, path)


def _compare_state(want: dict, have: dict, arch_desc: str, where: str) -> None:
    missing = [k for k in want if k not in have]
    unexpected = [k for k in have if k not in want]
    wrong = [(k, tuple(have[k].shape), tuple(want[k].shape)) for k in want
             if k in have and tuple(have[k].shape) != tuple(want[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape mismatch " + "; ".join(f"{k}: {where} {h} vs {arch_desc} {w}"
                                                       for k, h, w in wrong[:3])
                         + (f" (+{len(wrong) - 3} more)" if len(wrong) > 3 else ""))
        if missing:
            parts.append(f"{len(missing)} missing weights (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected weights (e.g. {unexpected[0]})")
        raise CheckpointError(f"{where} does not fit {arch_desc}: " + ", ".join(parts))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", dtype: str = "float32") -> Classifier:
    """Rebuild a Classifier from a `save_checkpoint` file; CheckpointError names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path}: cannot be read by torch.load ({type(e).__name__}: {e})") from None
    need = ("model", "arch", "kwargs", "classes")
    if not isinstance(ck, dict) or any(k not in ck for k in need):
        have = sorted(ck) if isinstance(ck, dict) else type(ck).__name__
        raise CheckpointError(f"checkpoint {path}: not a fer_lib.realtime checkpoint (needs keys {list(need)}, "
                              f"has {have}); write it with fer_lib.realtime.save_checkpoint")
    model = build_model(ck["arch"], ck["kwargs"])
    _compare_state(model.state_dict(), ck["model"], f"{ck['arch']}({ck['kwargs']})", f"checkpoint {path}")
    model.load_state_dict(ck["model"])
    model.to(torch.device(device))
    _check_io(model, ck["classes"], what=f"checkpoint {path} ({ck['arch']})")
    return Classifier(model, ck["classes"], ck.get("mean", 0.5), ck.get("std", 0.5), device,
                      name=ck["arch"], note=f"checkpoint {path.name}", dtype=dtype)


def untrained_classifier(device: str | torch.device = "cpu", arch: str = "ZhaoCNN", seed: int = 0,
                         dtype: str = "float32", **kwargs) -> Classifier:
    """A randomly initialised model (seeded, the global RNG left untouched): real timings, meaningless labels."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch, {"num_classes": len(FER7), **kwargs})
    return Classifier(model, FER7, device=device, name=arch, note=f"untrained; {NO_CHECKPOINT}", dtype=dtype)


# ------------------------------------------------------------------------------------------------ pipeline
@dataclass
class FrameResult:
    index: int
    ids: list[int]
    boxes: np.ndarray            # (n, 4) xyxy
    sources: list[str]
    probs: np.ndarray            # (n, C)
    labels: list[str]
    times: dict                  # seconds: detect, track, crop, classify, total


class RealtimePipeline:
    """detect/track → crop → classify, one frame at a time. `process(frame)` returns a FrameResult."""

    def __init__(self, detector="mtcnn", classifier: Classifier | None = None, track_every: int = 5,
                 device: str | torch.device = "cpu", min_face: int = 40, margin: float = 0.0, max_faces: int = 10,
                 track_scale: float = 1.0, verify: bool = True):
        self.detector = make_detector(detector, device, min_face) if isinstance(detector, str) else detector
        self.classifier = classifier or untrained_classifier(device)
        self.tracker = FaceTracker(self.detector, track_every, max_faces, track_scale=track_scale, verify=verify)
        self.margin = margin
        self.frame_index = 0

    def process(self, frame: np.ndarray) -> FrameResult:
        t0 = time.perf_counter()
        tracks, times = self.tracker.step(frame)
        boxes = np.stack([tr.box for tr in tracks]) if tracks else np.zeros((0, 4))
        t = time.perf_counter()
        crops = crop_faces(frame, boxes, self.classifier.size, self.margin)
        times["crop"] = time.perf_counter() - t
        t = time.perf_counter()
        probs = self.classifier(crops)
        times["classify"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - t0
        labels = [self.classifier.classes[i] for i in probs.argmax(1)] if len(probs) else []
        r = FrameResult(self.frame_index, [tr.id for tr in tracks], boxes, [tr.source for tr in tracks], probs,
                        labels, times)
        self.frame_index += 1
        return r

    def describe(self) -> str:
        te = self.tracker.track_every
        ts = self.tracker.track_scale
        policy = ("detect every frame" if te == 0 else
                  f"detect 1, track {te} (KCF{f' at {ts:g}x resolution' if ts != 1 else ''})")
        return f"detector {self.detector.name}, {policy}; classifier {self.classifier.describe()}"


def evaluate_clip(clip, detector="mtcnn", track_every: int = 5, classifier: Classifier | None = None,
                  device: str | torch.device = "cpu", warmup: int = 3, thr: float = 0.5, keep: bool = False,
                  **kw) -> dict:
    """Run the pipeline over a `fer_lib.testmedia.Clip`: stage timings (`summarise`) + detection scores
    against the clip's truth boxes (`testmedia.score`: recall, precision, IoU). `warmup` frames are run first
    on a throw-away tracker (first calls allocate); the timed pass starts from a fresh tracker at frame 0.
    keep=True adds the FrameResults under "results"."""
    from .testmedia import score
    pipe = RealtimePipeline(detector, classifier, track_every, device, **kw)
    for f in clip.frames[:warmup]:
        pipe.process(f)
    old = pipe.tracker
    pipe.tracker = FaceTracker(pipe.detector, track_every, old.max_faces, old.id_iou, old.track_scale, old.verify)
    pipe.frame_index = 0
    results = [pipe.process(f) for f in clip.frames]
    out = summarise([r.times for r in results], sum(len(r.ids) for r in results))
    out["boxes"] = out.pop("faces")  # boxes the pipeline returned; "faces" stays free for the caller
    sc = score([r.boxes for r in results], clip.boxes, thr)
    sc["truth_faces"] = sc.pop("faces")
    out.update(sc, detector=pipe.detector.name,
               track_every=track_every, detections=pipe.tracker.n_detect, redetections=pipe.tracker.n_redetect,
               classifier=pipe.classifier.describe(), torch_threads=torch.get_num_threads())
    if keep:
        out["results"] = results
    return out


def annotate(frame: np.ndarray, r: FrameResult, banner: str = "") -> np.ndarray:
    """A copy of the frame with boxes (green = detected, yellow = tracked), labels and an optional banner."""
    out = frame.copy()
    for tid, b, src, lab, p in zip(r.ids, r.boxes, r.sources, r.labels, r.probs):
        colour = (0, 200, 0) if src == "detect" else (0, 200, 255)
        x1, y1, x2, y2 = (int(round(v)) for v in b)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(out, f"#{tid} {lab} {p.max():.2f}", (x1, max(16, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    colour, 2, cv2.LINE_AA)
    if banner:
        cv2.putText(out, banner, (6, out.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 255), 2, cv2.LINE_AA)
    return out


# ------------------------------------------------------------------------------------------------ input / CLI
@dataclass
class Source:
    frames: object               # iterator of BGR uint8 frames
    fps: float
    size: tuple[int, int]        # (w, h) of the first frame
    name: str
    first: np.ndarray = field(repr=False, default=None)


def _iter_capture(cap, first):
    try:
        yield first
        while True:
            ok, f = cap.read()
            if not ok:
                return
            yield f
    finally:
        cap.release()


def _iter_folder(files, first):
    yield first
    for f in files[1:]:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise RealtimeError(f"input {f}: cannot read this image")
        yield img


def open_input(spec: str, fps: float = 30.0) -> Source:
    """A video file, a folder of images, one image, or a camera index; RealtimeError if it cannot be read."""
    path = Path(spec)
    if not path.exists() and spec.strip().isdigit():
        cap = cv2.VideoCapture(int(spec))
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            raise RealtimeError(f"input camera {spec}: cannot be opened or gives no frame")
        cam_fps = cap.get(cv2.CAP_PROP_FPS) or fps
        return Source(_iter_capture(cap, first), cam_fps, first.shape[1::-1], f"camera{spec}", first)
    if not path.exists():
        raise RealtimeError(f"input {spec}: no such file or folder (give a video, an image folder or a camera index)")
    if path.is_dir() or path.suffix.lower() in IMAGE_EXTS:
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS) if path.is_dir() else [path]
        if not files:
            raise RealtimeError(f"input {spec}: folder holds no images ({', '.join(sorted(IMAGE_EXTS))})")
        first = cv2.imread(str(files[0]), cv2.IMREAD_COLOR)
        if first is None:
            raise RealtimeError(f"input {files[0]}: cannot read this image")
        return Source(_iter_folder(files, first), fps, first.shape[1::-1], path.stem, first)
    cap = cv2.VideoCapture(str(path))
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok or first is None:
        cap.release()
        raise RealtimeError(f"input {spec}: cannot read a frame (not a video OpenCV can decode, or empty)")
    vfps = cap.get(cv2.CAP_PROP_FPS)
    return Source(_iter_capture(cap, first), vfps if vfps and vfps > 0 else fps, first.shape[1::-1], path.stem, first)


def csv_header(classes) -> list[str]:
    return (["frame", "face", "x1", "y1", "x2", "y2", "source", "label"] + [f"p_{c}" for c in classes]
            + [f"{s}_ms" for s in STAGES] + ["total_ms", "classifier"])


def run(source: Source, pipeline: RealtimePipeline, output: str | Path, csv_path: str | Path | None = None,
        max_frames: int | None = None, banner: str | None = None,
        log=lambda m: print(m, file=sys.stderr)) -> dict:
    """Process every frame of `source`, write the annotated video and the CSV, return the timing summary.

    Both files are written under hidden partial names and renamed only when the run ends without an error."""
    output = Path(output)
    csv_path = Path(csv_path) if csv_path else output.with_suffix(".csv")
    for p in (output, csv_path):
        if not p.parent.is_dir():
            raise RealtimeError(f"output {p}: folder {p.parent} does not exist")
    if banner is None:
        banner = NO_CHECKPOINT if NO_CHECKPOINT in pipeline.classifier.note else ""
    fourcc = "mp4v" if output.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG"
    classes = pipeline.classifier.classes
    frames_times, n_faces, io_s = [], 0, 0.0
    # hidden partial names keeping the suffix (VideoWriter picks the container from it), moved into place
    # together only when the run ends without an error, deleted otherwise
    with atomic_path(output, keep_suffix=True) as tmp_video, atomic_path(csv_path, keep_suffix=True) as tmp_csv:
        writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*fourcc), source.fps, source.size)
        if not writer.isOpened():
            raise RealtimeError(f"output {output}: OpenCV cannot write this video format (use .mp4 or .avi)")
        try:
            with open(tmp_csv, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(csv_header(classes))
                cls_desc = pipeline.classifier.describe()
                it = iter(source.frames)
                try:
                    while max_frames is None or len(frames_times) < max_frames:
                        t = time.perf_counter()
                        frame = next(it, None)
                        if frame is None:
                            break
                        io_s += time.perf_counter() - t
                        r = pipeline.process(frame)
                        frames_times.append(r.times)
                        n_faces += len(r.ids)
                        ms = [f"{r.times[s] * 1e3:.3f}" for s in STAGES] + [f"{r.times['total'] * 1e3:.3f}"]
                        if not r.ids:
                            w.writerow([r.index, "", "", "", "", "", "", ""] + [""] * len(classes) + ms
                                       + [cls_desc])
                        for tid, b, src, lab, p in zip(r.ids, r.boxes, r.sources, r.labels, r.probs):
                            w.writerow([r.index, tid] + [f"{v:.1f}" for v in b] + [src, lab]
                                       + [f"{v:.4f}" for v in p] + ms + [cls_desc])
                        t = time.perf_counter()
                        out = annotate(frame, r, banner)
                        if out.shape[1::-1] != tuple(source.size):
                            out = cv2.resize(out, tuple(source.size))
                        writer.write(out)
                        io_s += time.perf_counter() - t
                except KeyboardInterrupt:  # how a camera run ends: keep the frames processed so far
                    log(f"stopped by Ctrl-C after {len(frames_times)} frames")
            if not frames_times:
                raise RealtimeError("input gave no frame")
        finally:
            writer.release()
    summary = summarise(frames_times, n_faces)
    summary.update(output=str(output), csv=str(csv_path), io_ms_per_frame=io_s / len(frames_times) * 1e3,
                   pipeline=pipeline.describe(), detections=pipeline.tracker.n_detect,
                   redetections=pipeline.tracker.n_redetect, torch_threads=torch.get_num_threads())
    return summary


def summarise(frames_times: list[dict], n_faces: int) -> dict:
    """Mean ms per frame for each stage, classify ms per face, end-to-end ms per frame and fps."""
    n = len(frames_times)
    s = {f"{k}_ms": float(np.mean([t[k] for t in frames_times]) * 1e3) for k in (*STAGES, "total")}
    s.update(frames=n, faces=n_faces, faces_per_frame=n_faces / n if n else float("nan"),
             classify_ms_per_face=(sum(t["classify"] for t in frames_times) / n_faces * 1e3) if n_faces else float("nan"),
             fps=1e3 / s["total_ms"] if s["total_ms"] > 0 else float("nan"))
    return s


def format_summary(s: dict) -> str:
    lines = [f"{s['frames']} frames, {s['faces']} faces ({s['faces_per_frame']:.2f}/frame); {s.get('pipeline', '')}",
             f"detector runs: {s.get('detections', '?')} (after a tracking failure: {s.get('redetections', '?')}); "
             f"torch threads: {s.get('torch_threads', torch.get_num_threads())}",
             "stage        ms/frame"]
    lines += [f"  {k:<10} {s[k + '_ms']:8.2f}" for k in STAGES]
    lines.append(f"  classify per face: {s['classify_ms_per_face']:.2f} ms")
    lines.append(f"end to end   {s['total_ms']:8.2f} ms/frame = {s['fps']:.1f} fps "
                 f"(pipeline only; reading + drawing + writing: {s.get('io_ms_per_frame', float('nan')):.1f} ms/frame)")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_lib.realtime", description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="video file, image folder, image file or camera index")
    ap.add_argument("-o", "--output", help="annotated video (default: <input name>_fer.mp4 in the current folder)")
    ap.add_argument("--csv", help="per-frame CSV (default: the output path with .csv)")
    ap.add_argument("--detector", choices=("mtcnn", "haar"), default="mtcnn")
    ap.add_argument("--track-every", type=int, default=5, help="KCF-tracked frames after each detection (0 = detect every frame)")
    ap.add_argument("--checkpoint", help="a fer_lib.realtime.save_checkpoint file (default: untrained ZhaoCNN)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    ap.add_argument("--track-scale", type=float, default=1.0,
                    help="run KCF on the frame shrunk by this factor (0.5: about 4x cheaper per face)")
    ap.add_argument("--no-verify", action="store_true",
                    help="trust KCF alone (no check that a tracked box still holds a face)")
    ap.add_argument("--min-face", type=int, default=40, help="smallest face in pixels")
    ap.add_argument("--margin", type=float, default=0.0, help="crop margin around the face box (fraction)")
    ap.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                    help="classifier weights (bfloat16: faster on CPU, slightly different probabilities)")
    ap.add_argument("--max-frames", type=int, help="stop after this many frames (a camera runs until Ctrl-C)")
    ap.add_argument("--fps", type=float, default=30.0, help="output fps for image folders")
    a = ap.parse_args(argv)
    try:
        from .core.train import resolve_device
        try:
            device = resolve_device(a.device)
        except ValueError as e:
            raise RealtimeError(str(e)) from None
        # Everything that can be wrong is checked before a file is opened for writing.
        classifier = (load_checkpoint(a.checkpoint, device, a.dtype) if a.checkpoint
                      else untrained_classifier(device, dtype=a.dtype))
        pipeline = RealtimePipeline(a.detector, classifier, a.track_every, device, a.min_face, a.margin,
                                    track_scale=a.track_scale, verify=not a.no_verify)
        source = open_input(a.input, a.fps)
        if not a.checkpoint:
            print(f"warning: untrained ZhaoCNN classifier — {NO_CHECKPOINT} (pass --checkpoint)", file=sys.stderr)
        output = Path(a.output) if a.output else Path.cwd() / f"{source.name}_fer.mp4"
        summary = run(source, pipeline, output, a.csv, a.max_frames)
    except RealtimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    if not a.checkpoint:
        print(f"note: {NO_CHECKPOINT}")
    print(f"wrote {summary['output']} and {summary['csv']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
