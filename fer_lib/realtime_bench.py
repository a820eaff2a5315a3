"""Paper 3's real-time pipeline (Zhao §III.A, §V) measured configuration by configuration: what each systems
switch buys in fps and what it costs in detection recall and classifier agreement. Used by
bench/realtime_fps.py and notebook 03b (same code, same table).

Every configuration keeps the paper's pipeline: MTCNN finds the faces, KCF tracks them for five frames after
each detection, each face is cropped to 48×48 grey and classified by ZhaoCNN. The switches (fer_lib.realtime):
  engine        the classifier's runtime and precision (fer_lib.engines: torch-fp32 ... ort-int8-static)
  threads       torch and ONNX Runtime intra-op threads (the machine of the study has 2 cores)
  track_scale   KCF on the frame shrunk by this factor
  detect_scale  MTCNN on the frame shrunk by this factor (smallest face kept in full-frame pixels)
  detect_async  MTCNN in a second thread, so a frame never waits for it
  redetect_now  with detect_async: a face the tracker lost is re-detected at once in the pipeline's thread
  keep_cadence  with detect_async: a late detection is waited for when the next is due (one every 6 frames)
  batch         all faces of a frame in one classifier call (False: one call per face)
Timing: each configuration runs `repeats` passes over each clip (after a warm-up on 3 frames), interleaved
across configurations (a shared machine's load drifts over minutes); the pass with the median end-to-end time
is kept. fps = 1000 / mean end-to-end ms per frame, end to end = detect + track +
crop + classify in the pipeline's thread (no decoding or drawing); with detect_async the detector's own time
runs in the second thread and is shown apart. Beside the wall clock, `cpu_ms` is the CPU time of the pipeline's
thread per frame (time.thread_time): what the frame costs on a core of its own, less sensitive to a shared
machine's load; it leaves out intra-op helper threads, so it is given only for threads=1 configurations.
"""
from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from . import engines
from .realtime import DEFAULTS, evaluate_clip, set_threads

__all__ = ["CONFIGS", "DEFAULT_LABEL", "config", "run_configs", "engine_classifiers", "agreement_table",
           "targets_met"]

DEFAULT_LABEL = "default"


def config(**changes) -> dict:
    """The default configuration with some switches changed."""
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown switches {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **changes}


# From the plain reading (what notebook 03b ran before: everything in one thread, float32 torch) to the default,
# one switch at a time, then single switches changed from the default.
CONFIGS = {
    "MTCNN every frame, torch-fp32, 2 threads": config(track_every=0, engine="torch-fp32", track_scale=1.0,
                                                       detect_scale=1.0, detect_async=False, threads=2),
    "plain: detect 1 / track 5, torch-fp32, 2 thr.": config(engine="torch-fp32", track_scale=1.0, detect_scale=1.0,
                                                            detect_async=False, threads=2),
    "+ ort-int8 classifier": config(track_scale=1.0, detect_scale=1.0, detect_async=False, threads=2),
    "+ KCF at 0.25x": config(detect_scale=1.0, detect_async=False, threads=2),
    "+ MTCNN at 0.5x": config(detect_async=False, threads=2),
    "+ 1 thread each for MTCNN and the rest": config(detect_async=False),
    DEFAULT_LABEL: config(),  # the step "+ MTCNN in a second thread" completes the default
    "default, torch-fp32": config(engine="torch-fp32"),
    "default, torch-bf16": config(engine="torch-bf16"),
    "default, torch-int8": config(engine="torch-int8"),
    "default, ort-fp32": config(engine="ort-fp32"),
    "default, ort-int8-static": config(engine="ort-int8-static"),
    "default, KCF at 1x": config(track_scale=1.0),
    "default, KCF at 0.5x": config(track_scale=0.5),
    "default, KCF at 0.33x": config(track_scale=0.33),
    "default, MTCNN at 1x": config(detect_scale=1.0),
    "default, one classifier call per face": config(batch=False),
    "default, 2 threads": config(threads=2),
    "default, no O-Net check of tracked boxes": config(verify=False),
    "default, a lost face waits for the 2nd thread": config(redetect_now=False),
    "default, next detection when the last lands": config(keep_cadence=False),
}


def engine_classifiers(base, names, threads: int = 1, calibration=None) -> dict:
    """{engine: classifier} for each engine name, all from the float32 `base` classifier (one export each)."""
    return {e: engines.to_engine(base, e, threads, calibration) for e in names}


def run_configs(clips: dict, base, configs: dict | None = None, repeats: int = 3, calibration=None,
                device="cpu", log=print, max_pass_s: float = 30.0) -> list[dict]:
    """One row per (clip, configuration): evaluate_clip's stage timings and detection scores, the median of
    `repeats` passes by end-to-end time. clips: {name: fer_lib.testmedia.Clip}; base: the float32 Classifier.
    Passes are interleaved (pass 1 of every configuration, then pass 2, ...) so that a shared machine's load,
    which drifts over minutes, falls on every configuration alike. A configuration whose pass took over
    `max_pass_s` seconds is not repeated (two threads beside other work can be 10× slower: a budget guard;
    "fps passes" lists the passes run)."""
    configs = configs or CONFIGS
    built: dict = {}
    for c in configs.values():  # export / quantise every engine first: not inside the timed loop
        key = (c["engine"], c["threads"])
        if key not in built:
            built[key] = engines.to_engine(base, c["engine"], c["threads"], calibration)
    passes = {(k, label): [] for k in clips for label in configs}
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        for i in range(repeats):
            for (clip_name, label), done in passes.items():
                if i and sum(p["_seconds"] for p in done) > max_pass_s * len(done):
                    continue
                c = configs[label]
                set_threads(c["threads"])
                t = time.perf_counter()
                r = evaluate_clip(clips[clip_name], c["detector"], c["track_every"], built[c["engine"], c["threads"]],
                                  device, track_scale=c["track_scale"], verify=c["verify"],
                                  detect_scale=c["detect_scale"], detect_async=c["detect_async"], batch=c["batch"],
                                  redetect_now=c["redetect_now"], keep_cadence=c["keep_cadence"])
                r["_seconds"] = time.perf_counter() - t
                done.append(r)
                if log:
                    log(f"  pass {i + 1}: {clip_name}, {label}: {r['fps']:.1f} fps, recall {r['recall']:.3f} "
                        f"({r['_seconds']:.1f} s)")
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
    rows = []
    for (clip_name, label), done in passes.items():
        done.sort(key=lambda r: r["total_ms"])
        r = {k: v for k, v in done[len(done) // 2].items() if k != "_seconds"}
        c = configs[label]
        if c["threads"] > 1:  # helper threads' CPU time is not in thread_time
            r.update(cpu_ms=float("nan"), cpu_fps=float("nan"))
        rows.append({"clip": clip_name, "configuration": label, **c, **r,
                     "fps passes": [round(p["fps"], 1) for p in done]})
    return rows


def agreement_table(base, images: np.ndarray, labels: np.ndarray, names=engines.ENGINES, threads: int = 1,
                    calibration=None) -> list[dict]:
    """Accuracy and % of predictions identical to torch-fp32 for each engine on (images, labels)."""
    cls = engine_classifiers(base, ["torch-fp32"] + [n for n in names if n != "torch-fp32"], threads, calibration)
    return engines.agreement(cls, images, labels)


def targets_met(rows: list[dict], agreement: list[dict] | None, fps_1: float = 80, fps_3: float = 40,
                recall: float = 0.95, agree: float = 99.0, label: str = DEFAULT_LABEL) -> list[str]:
    """Plain-text lines: the issue's targets for `label` (fps by face count, recall, agreement of its engine)."""
    out = []
    for r in rows:
        if r["configuration"] != label:
            continue
        n = r.get("faces", r["truth_faces"] / max(1, r["frames"]))
        goal = fps_1 if round(n) == 1 else fps_3
        out.append(f"{r['clip']}: {r['fps']:.1f} fps (target >= {goal:g}: {'met' if r['fps'] >= goal else 'NOT met'}),"
                   f" recall {r['recall']:.3f} (>= {recall}: {'met' if r['recall'] >= recall else 'NOT met'})")
    if agreement:
        eng = next(r for r in rows if r["configuration"] == label)["engine"]
        a = next((x for x in agreement if x["engine"] == eng), None)
        if a:
            ok = a["identical to float32 (%)"] >= agree
            out.append(f"classifier {eng}: {a['identical to float32 (%)']:.2f} % identical to float32 "
                       f"(>= {agree:g} %: {'met' if ok else 'NOT met'})")
    return out
