"""Paper 3 (Zhao), §III.A, §IV.D, §V: the real-time pipeline — frames → faces → 48×48 grey crops → classifier.

    python -m fer_lib.realtime --camera 0 --show --checkpoint PATH      # a webcam, labelled faces + live fps
    python -m fer_lib.realtime INPUT [-o OUTPUT.mp4] [--show] [--csv PATH] [--checkpoint PATH] [--max-frames N]
                               [--detector mtcnn|haar] [--track-every 5] [--engine ort-int8] [--threads 1]
                               [--track-scale 0.25] [--detect-scale 0.5] [--detect-sync] [--per-face] [--no-verify]
                               [--min-face 40] [--margin 0] [--device auto|cpu|cuda] [--data-root DIR] [--fps 30]

INPUT is a video file, a folder of images (sorted by name) or a camera index (0, 1, ...; or --camera N). Writes
an annotated video and a per-frame CSV (frame, face, box, source, label, probabilities, stage timings) and/or
(--show) shows the labelled frames with the live fps, and prints a timing summary. Outputs are written under
temporary names and renamed at the end: an error leaves nothing behind. No camera, or --show without a display
(or with OpenCV's headless build, the project's dependency: --show needs `pip install opencv-contrib-python` in
its place), is one clear error. The pipeline's switches and their defaults (DEFAULTS,
the fastest configuration measured that keeps detection recall and the classifier's predictions; evidence in
bench/realtime_fps.py and notebook 03b) are the same as the bench's:
- engine: the classifier's runtime/precision (fer_lib.engines; default ONNX Runtime with int8 fully connected
  layers); threads: torch/OpenCV/ONNX Runtime intra-op threads (1: two cores, one for MTCNN's thread);
- track_scale: KCF on the frame shrunk (0.25: OpenCV's KCF copies the whole frame on every update of every
  tracker, and halves it when the face is large, so its cost follows the frame's size); detect_scale: MTCNN on
  the frame shrunk (0.5, with the smallest face still 40 px of the full frame: the same image pyramid from a
  source a quarter the size, so the second thread takes less of the CPU the pipeline's thread shares);
- detect_async: MTCNN in a second thread so no frame waits for it (FaceTracker explains how its boxes are
  carried to the frame they arrive at); redetect_now: with detect_async, a face lost by its tracker makes the
  detector run on that frame in the pipeline's thread, as the synchronous policy does (False: the lost face
  waits for a detection in the second thread, ~8 frames at 110 fps); keep_cadence: with detect_async, a
  detection still running when the next is due is waited for, so one starts every track_every + 1 frames as in
  the paper (False: the next starts when it lands); batch: all faces of a frame in one classifier call.

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
import contextlib
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
           "NO_CHECKPOINT", "STAGES", "DEFAULT_CHECKPOINT", "DEFAULTS"]

STAGES = ("detect", "track", "crop", "classify")
# Where notebook 03b looks for a trained classifier (cpu and full profiles), relative to the project root:
# write it with save_checkpoint(DEFAULT_CHECKPOINT, model, "ZhaoCNN", kwargs, classes, mean, std).
DEFAULT_CHECKPOINT = Path("checkpoints") / "03_zhao_cnn_vgg_resnet" / "realtime_classifier.pt"
NO_CHECKPOINT = "labels are meaningless: no checkpoint"
# The CLI's and bench/realtime_fps.py's defaults: the fastest configuration measured (fer_lib.realtime_bench,
# notebook 03b) that keeps detection recall >= 0.95 and >= 99 % of the float32 classifier's predictions.
DEFAULTS = dict(detector="mtcnn", track_every=5, engine="ort-int8", threads=1, track_scale=0.25, detect_scale=0.5,
                detect_async=True, redetect_now=True, keep_cadence=True, verify=True, batch=True)


def set_threads(n: int | None) -> None:
    """Intra-op threads of torch (MTCNN, torch classifiers) and OpenCV (KCF, resizes); None leaves the defaults.
    On 2 shared cores one each is best: a second intra-op thread waits for a core more than it helps."""
    if n:
        torch.set_num_threads(int(n))
        cv2.setNumThreads(int(n))
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
                 thresholds=(0.6, 0.7, 0.7), factor: float = 0.709, scale: float = 1.0):
        try:
            from facenet_pytorch import MTCNN
        except ImportError as e:  # facenet-pytorch is installed by the Makefile with --no-deps
            raise RealtimeError("detector 'mtcnn' needs facenet-pytorch (make venv installs it; "
                                f"or use --detector haar): {e}") from None
        self.device, self.scale = torch.device(device), _check_scale("detect_scale", scale)
        # On a frame shrunk by `scale` the smallest face shrinks too: min_face stays in full-frame pixels.
        self.mtcnn = MTCNN(keep_all=True, min_face_size=max(12, min_face * scale), thresholds=list(thresholds),
                           factor=factor, device=self.device)
        self.verify_thresh = thresholds[2]

    def __call__(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (n, 4) float xyxy (full-frame pixels) and scores (n,) for one BGR frame."""
        boxes, probs = self.mtcnn.detect(np.ascontiguousarray(_shrink(frame_bgr, self.scale)[..., ::-1]))
        if boxes is None:
            return np.zeros((0, 4)), np.zeros(0)
        return (np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / self.scale,
                np.asarray(probs, dtype=np.float64).reshape(-1))

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
                 cascade: str = "haarcascade_frontalface_default.xml", scale: float = 1.0):
        path = cascade if os.path.isabs(cascade) else os.path.join(cv2.data.haarcascades, cascade)
        # Two copies: a CascadeClassifier is not safe to run from two threads at once (detection may run in a
        # second thread while the pipeline's thread verifies tracked boxes).
        self.cascade, self.verify_cascade = cv2.CascadeClassifier(path), cv2.CascadeClassifier(path)
        if self.cascade.empty() or self.verify_cascade.empty():
            raise RealtimeError(f"cannot load the Haar cascade {path}")
        self.min_face, self.scale_factor, self.min_neighbors = min_face, scale_factor, min_neighbors
        self.scale = _check_scale("detect_scale", scale)

    def __call__(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = cv2.cvtColor(_shrink(frame_bgr, self.scale), cv2.COLOR_BGR2GRAY)
        m = max(12, int(round(self.min_face * self.scale)))
        r = self.cascade.detectMultiScale(grey, self.scale_factor, self.min_neighbors, minSize=(m, m))
        r = np.asarray(r, dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], 1) / self.scale
        return boxes, np.ones(len(boxes))  # the cascade gives no score

    def verify(self, frame_bgr: np.ndarray, boxes) -> np.ndarray:
        """Is each box still a face? The cascade run on the box's square window grown by half, at 96×96."""
        wins = _square_crops(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY),
                             [_grow(b, 1.5) for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4)], 96,
                             cv2.BORDER_REPLICATE)
        # the face fills 96/1.5 = 64 px of the window: look for faces of 40-96 px
        return np.array([len(self.verify_cascade.detectMultiScale(w, self.scale_factor, self.min_neighbors,
                                                                  minSize=(40, 40))) > 0 for w in wins], dtype=bool)


def _check_scale(name: str, scale: float) -> float:
    if not 0 < scale <= 1:
        raise RealtimeError(f"{name}={scale}: must be in (0, 1]")
    return float(scale)


def _shrink(frame: np.ndarray, scale: float) -> np.ndarray:
    """The frame resized by `scale`, or itself at 1. Area interpolation where 1/scale is a whole number (its fast
    path), bilinear otherwise: OpenCV's general area path costs ~1 ms on a 640×480 frame, bilinear ~0.1 ms."""
    if scale == 1:
        return frame
    whole = abs(1 / scale - round(1 / scale)) < 1e-6
    return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if whole else cv2.INTER_LINEAR)


def _grow(box, factor: float) -> np.ndarray:
    x1, y1, x2, y2 = box
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh])


def make_detector(name: str, device: str | torch.device = "cpu", min_face: int = 40, scale: float = 1.0, **kw):
    """"mtcnn" or "haar"; scale < 1 runs the detector on the frame shrunk by that factor (boxes come back in
    full-frame pixels, min_face stays in full-frame pixels)."""
    if name == "mtcnn":
        return MTCNNDetector(device, min_face, scale=scale, **kw)
    if name == "haar":
        return HaarDetector(min_face, scale=scale, **kw)
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


def _kcf_box(rect, scale: float) -> np.ndarray:
    """KCF's (x, y, w, h) on a frame reduced by `scale` as a full-frame xyxy box."""
    x, y, w, h = rect
    return np.array([x, y, x + w, y + h], dtype=np.float64) / scale


class _CatchUp:
    """A face detected on a kept frame, followed by its own KCF through the frames kept after it (FaceTracker's
    detect_async). `advance` may run in the detector's thread first, then in the pipeline's: each frame once."""

    def __init__(self, kcf, box):
        self.kcf, self.box, self.n = kcf, np.asarray(box, dtype=np.float64), 1  # started on frame 0 of the kept

    def advance(self, frames: list, scale: float) -> "_CatchUp":
        while self.kcf is not None and self.n < len(frames):
            ok, rect = self.kcf.update(frames[self.n])
            self.n += 1
            if ok:
                self.box = _kcf_box(rect, scale)
            else:
                self.kcf = None  # lost on the way: the caller falls back
        return self


class FaceTracker:
    """Paper 3 §III.A: detect one frame, track `track_every` frames with KCF, re-detect when tracking fails.

    Tracking fails when KCF says so, when a box leaves the frame, or (`verify=True`) when the detector's own
    check finds no face in a tracked box any more (`detector.verify`: MTCNN's O-Net, or the Haar cascade on the
    box's neighbourhood). The check is needed because OpenCV's KCF reports success even on a blank frame
    (tests/test_realtime.py shows it); its cost is counted in the track stage.

    detect_async=True (our systems choice, same policy): a due detection runs in a second thread on a copy of
    the frame while KCF keeps tracking the following frames, so a frame never waits for MTCNN. When its boxes
    arrive (frame j, detected on frame k < j) each one is matched (IoU) to the track it was at frame k (its id),
    and a fresh KCF starts from it on frame k and catches up through the reduced frames k+1 … j kept meanwhile
    (a few KCF updates on 160×120 frames at track_scale 0.25). Why not start KCF on frame j at the detected box
    moved by the old track's motion: the old track lags a moving face, so the moved box sits off the face, and a
    KCF started on background lags further — on a face crossing the frame at 12 px per frame, IoU fell below 0.5
    on a quarter of the frames. That shift stays as the fallback when the catch-up loses the face. Tracks the
    detector no longer sees end. When a track fails, redetect_now=True runs the detector in this thread on this
    frame, as the synchronous policy does (a background result still pending is dropped); redetect_now=False
    ends that track alone and starts a background detection, so the lost face is missing until one lands (on
    rotating 3-face clips recall fell to 0.94-0.96 that way). With nothing left to track the detector runs in
    this thread on this frame either way (a frame with no face has nothing else to do). A detection is started
    `track_every` + 1 frames after the previous one started. When a detection takes longer than that many
    frames, keep_cadence=True waits for it on the frame the next one is due (a stall, counted as this thread's
    detect time), so the paper's cadence holds; keep_cadence=False starts the next one when it lands, and fewer
    detections run than in the synchronous policy (8 instead of 10 in 60 frames at 110 fps; the bench's "det")."""

    def __init__(self, detector, track_every: int = 5, max_faces: int = 10, id_iou: float = 0.3,
                 track_scale: float = 1.0, verify: bool = True, detect_async: bool = False,
                 redetect_now: bool = False, keep_cadence: bool = False):
        if track_every < 0:
            raise RealtimeError(f"track_every={track_every}: must be >= 0 (0 = detect every frame)")
        self.detector, self.track_every, self.max_faces, self.id_iou = detector, track_every, max_faces, id_iou
        # KCF's cost grows with the face's size in pixels; track_scale < 1 runs it on a shrunk frame.
        self.track_scale = _check_scale("track_scale", track_scale)
        self.verify = verify and hasattr(detector, "verify")
        self.detect_async = bool(detect_async) and track_every > 0
        self.redetect_now, self.keep_cadence = bool(redetect_now), bool(keep_cadence)
        self.tracks: list[Track] = []
        self.frame_index, self.last_detect, self.next_id = 0, -10**9, 0
        self.n_detect, self.n_redetect = 0, 0
        self.background_s: list[float] = []   # seconds per detection run in the second thread
        self.latency: list[int] = []          # frames from a background detection's frame to its use
        self.background_cpu_s: list[float] = []  # CPU seconds of that thread per detection
        self._pool, self._pending = None, None
        self._since: list[np.ndarray] = []    # reduced frames from a pending detection's frame to now
        self._small_at = (-1, None)           # (frame index, reduced frame): computed once per frame

    def _small(self, frame: np.ndarray) -> np.ndarray:
        if self._small_at[0] != self.frame_index:
            self._small_at = (self.frame_index, _shrink(frame, self.track_scale))
        return self._small_at[1]

    def _kcf_on(self, small: np.ndarray, box) -> object:
        """A fresh KCF started on a reduced frame at a full-frame xyxy box."""
        kcf = make_kcf()
        x1, y1, x2, y2 = np.asarray(box, dtype=np.float64) * self.track_scale
        kcf.init(small, (int(round(x1)), int(round(y1)), max(1, int(round(x2 - x1))), max(1, int(round(y2 - y1)))))
        return kcf

    def _clean(self, boxes, scores, shape) -> np.ndarray:
        """Boxes clipped to the frame, degenerate ones dropped, best `max_faces` by score."""
        h, w = shape[:2]
        boxes = np.clip(boxes, 0, [w, h, w, h])
        keep = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
        boxes, scores = boxes[keep], scores[keep]
        return boxes[np.argsort(-scores, kind="stable")[: self.max_faces]]

    def _match(self, boxes: np.ndarray, old_boxes: np.ndarray, old_ids: list[int]) -> list:
        """Ids of `old_ids` for the new boxes by IoU (greedy, best first, >= id_iou); None for a new face."""
        ids = [None] * len(boxes)
        if len(old_ids) and len(boxes):
            m = iou_matrix(boxes, old_boxes)
            while m.size and m.max() >= self.id_iou:
                i, j = np.unravel_index(np.argmax(m), m.shape)
                ids[i] = old_ids[j]
                m[i, :], m[:, j] = -1, -1
        return ids

    def _start(self, frame: np.ndarray, boxes: np.ndarray, ids: list, kcfs: list | None = None) -> None:
        """One Track per box, with its KCF (`kcfs`: already on this frame; None: a fresh one started here)."""
        tracks = []
        for i, (b, tid) in enumerate(zip(boxes, ids)):
            if tid is None:
                tid, self.next_id = self.next_id, self.next_id + 1
            kcf = kcfs[i] if kcfs is not None else None
            if kcf is None and self.track_every > 0:  # no tracker is needed when every frame is detected
                kcf = self._kcf_on(self._small(frame), b)
            tracks.append(Track(tid, b.astype(np.float64), "detect", kcf))
        self.tracks = tracks

    def _detect(self, frame: np.ndarray, timings: dict) -> None:
        self._pending, self._since = None, []  # a background result would be older than this one
        t = time.perf_counter()
        boxes, scores = self.detector(frame)
        timings["detect"] += time.perf_counter() - t
        self.n_detect += 1
        t = time.perf_counter()
        boxes = self._clean(boxes, scores, frame.shape)
        old = self.tracks
        ids = self._match(boxes, np.stack([tr.box for tr in old]) if old else np.zeros((0, 4)), [tr.id for tr in old])
        self._start(frame, boxes, ids)
        self.last_detect = self.frame_index
        timings["track"] += time.perf_counter() - t

    def _update(self, frame: np.ndarray) -> list[bool]:
        """Update every KCF; per track, did it hold (boxes of failed tracks are left as they were)?"""
        h, w = frame.shape[:2]
        small, held = self._small(frame), []
        for tr in self.tracks:
            ok, rect = tr.kcf.update(small)
            box = _kcf_box(rect, self.track_scale)
            bw, bh = box[2] - box[0], box[3] - box[1]
            # A box mostly outside the frame is a lost face, whatever KCF says.
            inside = max(0.0, min(box[2], w) - max(box[0], 0)) * max(0.0, min(box[3], h) - max(box[1], 0))
            ok = bool(ok) and inside >= 0.5 * bw * bh
            if ok:
                tr.box, tr.source = box, "track"
            held.append(ok)
        if self.verify and any(held):
            idx = [i for i, k in enumerate(held) if k]
            faces = self.detector.verify(frame, np.stack([self.tracks[i].box for i in idx]))
            for i, f in zip(idx, faces):
                held[i] = bool(f)
        return held

    def _track(self, frame: np.ndarray) -> bool:
        """Synchronous policy: True when every face held (boxes updated), False as soon as one is lost."""
        boxes = [tr.box for tr in self.tracks]
        held = self._update(frame)
        if not all(held):
            for tr, b in zip(self.tracks, boxes):
                tr.box = b
            return False
        return True

    # -------------------------------------------------------------------------------- second thread
    def _submit(self, frame: np.ndarray) -> None:
        from concurrent.futures import ThreadPoolExecutor
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="fer-detect")
        snapshot = ([tr.id for tr in self.tracks], np.stack([tr.box for tr in self.tracks]))
        since = self._since = [self._small(frame)]  # this thread appends each new frame's reduced copy

        def job(f=frame.copy()):  # a copy: a camera may reuse its buffer
            t, c = time.perf_counter(), time.thread_time()
            boxes, scores = self.detector(f)
            boxes = self._clean(boxes, scores, f.shape)
            # Start the catch-up here, through the frames kept so far (OpenCV releases the GIL: it runs beside
            # the pipeline's thread); _collect finishes it through the frames that came after.
            runs = [_CatchUp(self._kcf_on(since[0], b), b).advance(since, self.track_scale) for b in boxes]
            self.background_cpu_s.append(time.thread_time() - c)
            return boxes, runs, time.perf_counter() - t

        self._pending = (self._pool.submit(job), self.frame_index, snapshot)
        self.last_detect = self.frame_index

    def _collect(self, frame: np.ndarray) -> None:
        """Apply a finished background detection to this frame (see the class docstring)."""
        fut, k, (old_ids, old_boxes) = self._pending
        self._pending = None
        boxes, runs, secs = fut.result()
        self.n_detect += 1
        self.background_s.append(secs)
        self.latency.append(self.frame_index - k)
        ids = self._match(boxes, old_boxes, old_ids)
        now = {tr.id: tr.box for tr in self.tracks}
        kcfs = [None] * len(boxes)
        for i, (tid, run) in enumerate(zip(ids, runs)):
            if tid is not None and tid not in now:  # that track ended meanwhile: its id is not reused
                ids[i] = tid = None
            if run.advance(self._since, self.track_scale).kcf is not None:
                boxes[i], kcfs[i] = run.box, run.kcf
            elif tid is not None:  # fallback: the detected box moved along the track's motion since frame k
                j = old_ids.index(tid)
                boxes[i] = boxes[i] + np.tile((now[tid][:2] + now[tid][2:] - old_boxes[j][:2] - old_boxes[j][2:]) / 2, 2)
        self._since = []
        h, w = frame.shape[:2]
        self._start(frame, np.clip(boxes, 0, [w, h, w, h]), ids, kcfs)

    def _step_async(self, frame: np.ndarray, timings: dict) -> None:
        if self._pending is not None:  # kept for the catch-up when that detection arrives
            t = time.perf_counter()
            self._since.append(self._small(frame))
            timings["track"] += time.perf_counter() - t
        if self.tracks:
            t = time.perf_counter()
            held = self._update(frame)
            if not all(held):
                self.n_redetect += 1
                if self.redetect_now:  # as the synchronous policy: detect this frame (the lost box still
                    timings["track"] += time.perf_counter() - t  # matches its id)
                    self._detect(frame, timings)
                    return
                self.tracks = [tr for tr, k in zip(self.tracks, held) if k]
                if self.tracks and self._pending is None:
                    self._submit(frame)
            # boxes are now this frame's: a finished detection is carried to them
            if self._pending is not None and self._pending[0].done():
                self._collect(frame)
            timings["track"] += time.perf_counter() - t
        if not self.tracks:  # nothing to follow: detect here and now
            self._detect(frame, timings)
        elif self.frame_index - self.last_detect > self.track_every:  # a detection is due
            t = time.perf_counter()
            if self._pending is not None and self.keep_cadence:  # wait for the late one: a stall, counted
                self._pending[0].result()                         # as detection time of this thread
                self._collect(frame)
            if self._pending is None:
                self._submit(frame)
            timings["detect"] += time.perf_counter() - t

    def step(self, frame: np.ndarray) -> tuple[list[Track], dict]:
        """Boxes for one frame (BGR uint8) and the seconds spent detecting and tracking (in this thread)."""
        timings = {"detect": 0.0, "track": 0.0}
        if self.detect_async:
            self._step_async(frame, timings)
        else:
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

    def close(self) -> None:
        """Wait for a background detection still running and stop the second thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool, self._pending, self._since = None, None, []

    def reset(self) -> "FaceTracker":
        """A fresh tracker with the same settings (this one closed)."""
        self.close()
        return FaceTracker(self.detector, self.track_every, self.max_faces, self.id_iou, self.track_scale,
                           self.verify, self.detect_async, self.redetect_now, self.keep_cadence)


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
                 dtype: str = "float32", engine: str = ""):
        if dtype not in ("float32", "bfloat16"):
            raise RealtimeError(f"dtype={dtype!r}: choose float32 or bfloat16")
        self.device, self.dtype = torch.device(device), getattr(torch, dtype)
        # bfloat16 halves the weight bytes: ZhaoCNN's 9216x4096 layer is memory-bound at 1-3 faces on a CPU.
        self.model = model.to(self.device, self.dtype).eval()
        self.classes, self.mean, self.std = tuple(classes), float(mean), float(std)
        self.name, self.note, self.size = name or type(model).__name__, note, size
        self.engine = engine  # fer_lib.engines name when built by engines.to_engine

    @torch.inference_mode()
    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if not len(crops):
            return np.zeros((0, len(self.classes)), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).unsqueeze(1).float()
        x = ((x / 255.0 - self.mean) / self.std).to(self.dtype)
        return self.model(x).float().softmax(1).cpu().numpy()

    def describe(self) -> str:
        tag = self.engine or ("" if self.dtype == torch.float32 else str(self.dtype).removeprefix("torch."))
        parts = [p for p in (self.note, tag) if p]
        return f"{self.name}" + (f" ({', '.join(parts)})" if parts else "")


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
                 track_scale: float = 1.0, verify: bool = True, detect_scale: float = 1.0,
                 detect_async: bool = False, batch: bool = True, redetect_now: bool = False,
                 keep_cadence: bool = False):
        self.detector = (make_detector(detector, device, min_face, detect_scale) if isinstance(detector, str)
                         else detector)
        self.classifier = classifier or untrained_classifier(device)
        self.tracker = FaceTracker(self.detector, track_every, max_faces, track_scale=track_scale, verify=verify,
                                   detect_async=detect_async, redetect_now=redetect_now,
                                   keep_cadence=keep_cadence)
        self.margin, self.batch = margin, batch  # batch=False: one classifier call per face (measured beside)
        self.frame_index = 0

    def reset(self) -> None:
        """Start again from frame 0 with a fresh tracker (same detector and classifier)."""
        self.tracker = self.tracker.reset()
        self.frame_index = 0

    def close(self) -> None:
        self.tracker.close()

    def process(self, frame: np.ndarray) -> FrameResult:
        t0, c0 = time.perf_counter(), time.thread_time()
        tracks, times = self.tracker.step(frame)
        boxes = np.stack([tr.box for tr in tracks]) if tracks else np.zeros((0, 4))
        t = time.perf_counter()
        crops = crop_faces(frame, boxes, self.classifier.size, self.margin)
        times["crop"] = time.perf_counter() - t
        t = time.perf_counter()
        probs = (self.classifier(crops) if self.batch or len(crops) < 2
                 else np.concatenate([self.classifier(c[None]) for c in crops]))
        times["classify"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - t0
        times["cpu"] = time.thread_time() - c0  # CPU time of this thread: what a core of its own would take
        labels = [self.classifier.classes[i] for i in probs.argmax(1)] if len(probs) else []
        r = FrameResult(self.frame_index, [tr.id for tr in tracks], boxes, [tr.source for tr in tracks], probs,
                        labels, times)
        self.frame_index += 1
        return r

    def describe(self) -> str:
        te, ts = self.tracker.track_every, self.tracker.track_scale
        ds = getattr(self.detector, "scale", 1.0)
        policy = ("detect every frame" if te == 0 else
                  f"detect 1, track {te} (KCF{f' at {ts:g}x resolution' if ts != 1 else ''}"
                  f"{', detection in a second thread' if self.tracker.detect_async else ''})")
        det = self.detector.name + (f" at {ds:g}x resolution" if ds != 1 else "")
        return f"detector {det}, {policy}; classifier {self.classifier.describe()}"


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
    pipe.reset()
    t = time.perf_counter()
    results = [pipe.process(f) for f in clip.frames]
    wall = time.perf_counter() - t
    pipe.close()
    out = summarise([r.times for r in results], sum(len(r.ids) for r in results))
    out.update(_background_stats(pipe.tracker), wall_fps=len(results) / wall)
    out["boxes"] = out.pop("faces")  # boxes the pipeline returned; "faces" stays free for the caller
    sc = score([r.boxes for r in results], clip.boxes, thr)
    sc["truth_faces"] = sc.pop("faces")
    out.update(sc, detector=pipe.detector.name,
               track_every=track_every, detections=pipe.tracker.n_detect, redetections=pipe.tracker.n_redetect,
               classifier=pipe.classifier.describe(), torch_threads=torch.get_num_threads())
    if keep:
        out["results"] = results
    return out


def _background_stats(tracker: FaceTracker) -> dict:
    """Detections run in the second thread: their mean ms and mean latency in frames (NaN when none)."""
    bg, lat, cpu = tracker.background_s, tracker.latency, tracker.background_cpu_s
    return {"detect_async": tracker.detect_async, "background_detections": len(bg),
            "background_detect_ms": float(np.mean(bg) * 1e3) if bg else float("nan"),
            "background_detect_cpu_ms": float(np.mean(cpu) * 1e3) if cpu else float("nan"),
            "detect_latency_frames": float(np.mean(lat)) if lat else float("nan")}


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
            raise RealtimeError(f"input camera {spec}: cannot be opened or gives no frame (no camera at this "
                                "index, or another program holds it)")
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


WINDOW = "fer_lib.realtime"


_PROBE = "import cv2; cv2.namedWindow('fer_lib probe'); cv2.waitKey(1); cv2.destroyAllWindows()"


def _window_probe(code: str | None = None, timeout: float = 60) -> str | None:
    """Open and close a window in a child process: None when it worked, else what went wrong. A child because a
    GUI build of OpenCV (Qt) aborts the whole process when the display cannot be reached (a stale DISPLAY over
    ssh): no Python exception to catch."""
    import subprocess
    try:
        p = subprocess.run([sys.executable, "-c", code or _PROBE], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"opening a window did not finish in {timeout:g} s"
    if p.returncode == 0:
        return None
    lines = [ln.strip() for ln in p.stderr.splitlines() if ln.strip()]
    how = f"signal {-p.returncode}" if p.returncode < 0 else f"exit status {p.returncode}"
    return f"{lines[0] if lines else 'no message'} ({how})" if "not implemented" not in p.stderr else "no GUI"


def check_display(window: str = WINDOW) -> None:
    """Open the --show window, or one RealtimeError saying why it cannot be opened."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RealtimeError("--show needs a display: neither DISPLAY nor WAYLAND_DISPLAY is set "
                            "(write a video with -o instead)")
    headless = ("this OpenCV cannot open a window (opencv-contrib-python-headless has no GUI: install "
                "opencv-contrib-python for --show, or write a video with -o)")
    why = _window_probe()
    if why == "no GUI":
        raise RealtimeError(f"--show: {headless}")
    if why is not None:
        where = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "this machine's"
        raise RealtimeError(f"--show: no window could be opened on display {where}: {why} "
                            "(check the display, or write a video with -o)")
    try:
        cv2.namedWindow(window, cv2.WINDOW_AUTOSIZE)
    except cv2.error as e:
        why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise RealtimeError(f"--show: {headless}: {why}") from None


def run(source: Source, pipeline: RealtimePipeline, output: str | Path | None = None,
        csv_path: str | Path | None = None, max_frames: int | None = None, banner: str | None = None,
        show: bool = False, log=lambda m: print(m, file=sys.stderr)) -> dict:
    """Process every frame of `source`: write the annotated video and the CSV (when `output` is given) and/or show
    the frames in a window with the live fps (`show`; q or Esc stops); return the timing summary.

    Files are written under hidden partial names and renamed only when the run ends without an error."""
    if output is None and not show:
        raise RealtimeError("nothing to do: give an output video (-o) or --show")
    paths = []
    if output is not None:
        output = Path(output)
        csv_path = Path(csv_path) if csv_path else output.with_suffix(".csv")
        paths = [output, csv_path]
    for p in paths:
        if not p.parent.is_dir():
            raise RealtimeError(f"output {p}: folder {p.parent} does not exist")
    if banner is None:
        banner = NO_CHECKPOINT if NO_CHECKPOINT in pipeline.classifier.note else ""
    classes = pipeline.classifier.classes
    frames_times, n_faces, io_s, live = [], 0, 0.0, None
    with contextlib.ExitStack() as stack:
        writer = w = None
        if output is not None:
            # hidden partial names keeping the suffix (VideoWriter picks the container from it), moved into place
            # together only when the run ends without an error, deleted otherwise
            tmp_video = stack.enter_context(atomic_path(output, keep_suffix=True))
            tmp_csv = stack.enter_context(atomic_path(csv_path, keep_suffix=True))
            fourcc = "mp4v" if output.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG"
            writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*fourcc), source.fps, source.size)
            if not writer.isOpened():
                raise RealtimeError(f"output {output}: OpenCV cannot write this video format (use .mp4 or .avi)")
            stack.callback(writer.release)
            w = csv.writer(stack.enter_context(open(tmp_csv, "w", newline="")))
            w.writerow(csv_header(classes))
        if show:
            stack.callback(lambda: cv2.destroyWindow(WINDOW))
        stack.callback(pipeline.close)
        cls_desc = pipeline.classifier.describe()
        it = iter(source.frames)
        last = time.perf_counter()
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
                t = time.perf_counter()
                if w is not None:
                    ms = [f"{r.times[s] * 1e3:.3f}" for s in STAGES] + [f"{r.times['total'] * 1e3:.3f}"]
                    if not r.ids:
                        w.writerow([r.index, "", "", "", "", "", "", ""] + [""] * len(classes) + ms + [cls_desc])
                    for tid, b, src, lab, p in zip(r.ids, r.boxes, r.sources, r.labels, r.probs):
                        w.writerow([r.index, tid] + [f"{v:.1f}" for v in b] + [src, lab]
                                   + [f"{v:.4f}" for v in p] + ms + [cls_desc])
                if writer is not None:
                    out = annotate(frame, r, banner)
                    if out.shape[1::-1] != tuple(source.size):
                        out = cv2.resize(out, tuple(source.size))
                    writer.write(out)
                if show:
                    # live fps: the whole loop (read, pipeline, drawing), smoothed; the pipeline's own ms beside
                    now = time.perf_counter()
                    live = 1 / max(now - last, 1e-6) if live is None else 0.9 * live + 0.1 / max(now - last, 1e-6)
                    last = now
                    text = f"{live:.0f} fps (pipeline {r.times['total'] * 1e3:.1f} ms)" + (f" | {banner}" if banner else "")
                    cv2.imshow(WINDOW, annotate(frame, r, text))
                    if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                        break
                io_s += time.perf_counter() - t
        except KeyboardInterrupt:  # how a camera run ends: keep the frames processed so far
            log(f"stopped by Ctrl-C after {len(frames_times)} frames")
        if not frames_times:
            raise RealtimeError("input gave no frame")
    summary = summarise(frames_times, n_faces)
    summary.update(output=str(output) if output is not None else None, csv=str(csv_path) if output is not None else None,
                   io_ms_per_frame=io_s / len(frames_times) * 1e3, pipeline=pipeline.describe(),
                   detections=pipeline.tracker.n_detect, redetections=pipeline.tracker.n_redetect,
                   torch_threads=torch.get_num_threads())
    return summary


def summarise(frames_times: list[dict], n_faces: int) -> dict:
    """Mean ms per frame for each stage, classify ms per face, end-to-end ms per frame and fps."""
    n = len(frames_times)
    s = {f"{k}_ms": float(np.mean([t[k] for t in frames_times]) * 1e3) for k in (*STAGES, "total")}
    if n and all("cpu" in t for t in frames_times):
        s["cpu_ms"] = float(np.mean([t["cpu"] for t in frames_times]) * 1e3)
        s["cpu_fps"] = 1e3 / s["cpu_ms"] if s["cpu_ms"] > 0 else float("nan")
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


def add_pipeline_options(ap: argparse.ArgumentParser) -> None:
    """The pipeline's switches, shared by this CLI and bench/realtime_fps.py's --set; defaults = DEFAULTS."""
    from .engines import ENGINES
    d = DEFAULTS
    ap.add_argument("--detector", choices=("mtcnn", "haar"), default=d["detector"])
    ap.add_argument("--track-every", type=int, default=d["track_every"],
                    help="KCF-tracked frames after each detection (0 = detect every frame)")
    ap.add_argument("--engine", choices=ENGINES, default=d["engine"],
                    help="classifier runtime and precision (fer_lib.engines)")
    ap.add_argument("--threads", type=int, default=d["threads"],
                    help="intra-op threads of torch, OpenCV and ONNX Runtime (0: their defaults)")
    ap.add_argument("--track-scale", type=float, default=d["track_scale"],
                    help="run KCF on the frame shrunk by this factor")
    ap.add_argument("--detect-scale", type=float, default=d["detect_scale"],
                    help="run the detector on the frame shrunk by this factor (--min-face stays in full-frame pixels)")
    ap.add_argument("--detect-sync", action="store_true", default=not d["detect_async"],
                    help="run the detector in the pipeline's thread (default: a second thread, so no frame waits)")
    ap.add_argument("--redetect-later", action="store_true", default=not d["redetect_now"],
                    help="with the detector in a second thread, a face the tracker lost waits for its next "
                         "detection there (default: the detector runs on that frame at once)")
    ap.add_argument("--loose-cadence", action="store_true", default=not d["keep_cadence"],
                    help="with the detector in a second thread, start the next detection when the last one lands "
                         "(default: wait for a late one, so one starts every track-every + 1 frames)")
    ap.add_argument("--per-face", action="store_true", default=not d["batch"],
                    help="one classifier call per face (default: all faces of a frame in one call)")
    ap.add_argument("--no-verify", action="store_true", default=not d["verify"],
                    help="trust KCF alone (no check that a tracked box still holds a face)")
    ap.add_argument("--min-face", type=int, default=40, help="smallest face in pixels")
    ap.add_argument("--margin", type=float, default=0.0, help="crop margin around the face box (fraction)")


def calibration_faces(root=None, n: int = 512, seed: int = 0) -> np.ndarray:
    """`n` FER2013 Training faces (seeded) to calibrate engine ort-int8-static; RealtimeError when absent."""
    from . import data
    try:
        ds = data.load("fer2013", root)
    except Exception as e:
        raise RealtimeError(f"engine ort-int8-static calibrates on FER2013 Training faces, which cannot be loaded "
                            f"({e}); give --data-root or choose another --engine") from None
    train = np.flatnonzero(ds.split == "Training")
    return ds.images[np.random.default_rng(seed).choice(train, min(n, len(train)), replace=False)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_lib.realtime", description=__doc__.split("\n\n")[0])
    ap.add_argument("input", nargs="?", help="video file, image folder, image file or camera index")
    ap.add_argument("--camera", type=int, metavar="N", help="camera index (instead of INPUT)")
    ap.add_argument("--show", action="store_true", help="show the labelled frames and the live fps in a window "
                                                        "(q or Esc stops)")
    ap.add_argument("-o", "--output", help="annotated video (default: <input name>_fer.mp4 in the current folder; "
                                           "none with --show unless given)")
    ap.add_argument("--csv", help="per-frame CSV (default: the output path with .csv)")
    ap.add_argument("--checkpoint", help="a fer_lib.realtime.save_checkpoint file (default: untrained ZhaoCNN)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    ap.add_argument("--data-root", help="FER2013's folder, for --engine ort-int8-static's calibration")
    add_pipeline_options(ap)
    ap.add_argument("--max-frames", type=int, help="stop after this many frames (a camera runs until Ctrl-C)")
    ap.add_argument("--fps", type=float, default=30.0, help="output fps for image folders")
    a = ap.parse_args(argv)
    try:
        if (a.input is None) == (a.camera is None):
            raise RealtimeError("give one input: a video file, an image folder or image, or --camera N")
        from .engines import to_engine
        from .core.train import resolve_device
        try:
            device = resolve_device(a.device)
        except ValueError as e:
            raise RealtimeError(str(e)) from None
        # Everything that can be wrong is checked before a file is opened for writing.
        if a.show:
            check_display()
        set_threads(a.threads)
        base = load_checkpoint(a.checkpoint, device) if a.checkpoint else untrained_classifier(device)
        calib = calibration_faces(a.data_root) if a.engine == "ort-int8-static" else None
        classifier = to_engine(base, a.engine, a.threads or None, calib)
        pipeline = RealtimePipeline(a.detector, classifier, a.track_every, device, a.min_face, a.margin,
                                    track_scale=a.track_scale, verify=not a.no_verify, detect_scale=a.detect_scale,
                                    detect_async=not a.detect_sync, batch=not a.per_face,
                                    redetect_now=not a.redetect_later, keep_cadence=not a.loose_cadence)
        source = open_input(str(a.camera) if a.camera is not None else a.input, a.fps)
        if not a.checkpoint:
            print(f"warning: untrained ZhaoCNN classifier — {NO_CHECKPOINT} (pass --checkpoint)", file=sys.stderr)
        output = (Path(a.output) if a.output else None if a.show else Path.cwd() / f"{source.name}_fer.mp4")
        summary = run(source, pipeline, output, a.csv, a.max_frames, show=a.show)
    except RealtimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    if not a.checkpoint:
        print(f"note: {NO_CHECKPOINT}")
    if summary["output"]:
        print(f"wrote {summary['output']} and {summary['csv']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
