"""Paper 3's real-time pipeline (Zhao, §III.A, §V) at 640×480: fps per configuration, per-stage ms, detection
recall and IoU on the same clips, and each classifier engine's agreement with the float32 model.

    python bench/realtime_fps.py [--frames 60] [--faces 1 3] [--repeats 3] [--checkpoint PATH]
                                 [--only LABEL ...] [--no-agreement] [--data-root DIR] [--seed 0 ...]
                                 [--rotate DEG] [--json OUT]

Clips: fer_lib.testmedia (real face photos moved over backgrounds, known face boxes), 1 and 3 faces, one clip
per seed (each seed its own paths, speeds and sizes), faces rotating up to ± --rotate degrees.
Configurations: fer_lib.realtime_bench.CONFIGS — from the plain reading (one thread, float32 torch) to the
default (fer_lib.realtime.DEFAULTS) one switch at a time, then single switches changed from the default. Each
runs --repeats passes per clip, interleaved across configurations (pass 1 of all, then pass 2, ...) so that the
load of a shared machine, which drifts over minutes, falls on all alike; the median pass by end-to-end time is
shown. End to end = detect + track + crop
+ classify in the pipeline's thread (no video decoding or drawing); with the detector in a second thread its
own ms per detection and its latency (frames) are shown apart.
Agreement: every engine (fer_lib.engines) against float32 torch on FER2013 PrivateTest (accuracy and % identical
predictions), when FER2013 is found (--data-root, $FER_DATA_ROOT or ../shared/data); ort-int8-static is
calibrated on 512 FER2013 Training faces (without FER2013: on the clips' face crops, and no agreement).
Classifier: --checkpoint, else fer_lib.realtime.DEFAULT_CHECKPOINT when present, else an untrained ZhaoCNN
(timings hold; agreement then means little). The paper's numbers (0.22 ± 0.05 ms per face, 80 fps; hardware
never stated) are printed beside, from fer_lib/study/paper_claims.yaml.
The machine is shared: the load average is printed before and after; compare configurations within one run.
Targets (issue 17): default configuration >= 80 fps with 1 face, >= 40 fps with 3, recall >= 0.95, >= 99 %
identical predictions.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from fer_lib import realtime as rt
from fer_lib import realtime_bench as rb
from fer_lib.study.claims import claim
from fer_lib.core.paths import project_root
from fer_lib.study.results import hardware
from fer_lib.testmedia import make_clip


def load_avg() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def fer2013_parts(root):
    """(PrivateTest images, labels, 512 Training faces for calibration), or None when FER2013 is absent."""
    from fer_lib import data
    try:
        ds = data.load("fer2013", root)
    except Exception as e:  # absent data: say so, go on with the speed part
        print(f"FER2013 not loaded ({type(e).__name__}: {e}): no agreement table")
        return None
    test = ds.split == "PrivateTest"
    train = np.flatnonzero(ds.split == "Training")
    calib = ds.images[np.random.default_rng(0).choice(train, 512, replace=False)]
    return ds.images[test], ds.labels[test], calib


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=60, help="frames per clip (60 = 10 detect/track cycles)")
    ap.add_argument("--faces", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--repeats", type=int, default=3, help="passes per configuration; the median one is shown")
    ap.add_argument("--checkpoint", help="a fer_lib.realtime checkpoint (default: the documented path if present)")
    ap.add_argument("--only", nargs="+", metavar="LABEL", help="configurations to run (labels of CONFIGS)")
    ap.add_argument("--no-agreement", action="store_true", help="skip the FER2013 agreement table")
    ap.add_argument("--data-root", help="folder holding FER2013 (default $FER_DATA_ROOT or ../shared/data)")
    ap.add_argument("--seed", type=int, nargs="+", default=[0], help="clip seeds (each its own face paths)")
    ap.add_argument("--rotate", type=float, default=0.0, help="faces rotate up to ± this many degrees")
    ap.add_argument("--json", help="write the rows and the agreement table here")
    a = ap.parse_args(argv)
    configs = rb.CONFIGS if not a.only else {k: rb.CONFIGS[k] for k in a.only}

    ck = a.checkpoint or (project_root() / rt.DEFAULT_CHECKPOINT)
    base = rt.load_checkpoint(ck) if (a.checkpoint or os.path.isfile(ck)) else rt.untrained_classifier()
    print(f"hardware: {hardware()}; {os.cpu_count()} logical CPUs; {load_avg()}")
    print(f"classifier: {base.describe()}; frames 640x480, {a.frames} per clip, {a.repeats} passes per configuration")
    fer = None if a.no_agreement else fer2013_parts(a.data_root)
    clips = {f"{n} face{'s' if n > 1 else ''}" + (f" s{seed}" if len(a.seed) > 1 else "")
             + (f" r{a.rotate:g}" if a.rotate else ""): make_clip(a.frames, (640, 480), n_faces=n, seed=seed,
                                                                   rotate=a.rotate)
             for n in a.faces for seed in a.seed}
    calib = fer[2] if fer else np.concatenate([rt.crop_faces(f, b) for c in clips.values()
                                               for f, b in zip(c.frames, c.boxes)])
    t0 = time.perf_counter()
    rows = rb.run_configs(clips, base, configs, a.repeats, calib)
    print(f"timed in {time.perf_counter() - t0:.0f} s; {load_avg()}")

    p_ms = claim("p3", "text §V", "single face image", "processing time (ms)")
    p_pm = claim("p3", "text §V", "single face image", "processing time ± (ms)")
    p_fps = claim("p3", "text §V", "full pipeline", "processing speed (fps)")
    head = (f"{'clip':<12} {'configuration':<46} {'detect':>6} {'track':>6} {'crop':>5} {'class.':>6} {'/face':>6} "
            f"{'total':>6} {'fps':>6} {'cpu ms':>6} {'cpufps':>6} {'recall':>6} {'IoU':>5} {'det':>4} {'bg ms':>6} {'lag':>4}")
    print("\nms per frame in the pipeline's thread (mean over the clip; median of the passes); /face = classify ms per"
          " face;\nrecall/IoU vs the truth boxes; det = detector runs; bg ms = ms per detection in the second thread;"
          " lag = its latency in frames;\ncpu ms = CPU time of the pipeline's thread per frame, cpufps = 1000 / cpu ms"
          " (what a core of its own would give; threads=1 rows only)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['clip']:<12} {r['configuration']:<46} {r['detect_ms']:6.2f} {r['track_ms']:6.2f} {r['crop_ms']:5.2f} "
              f"{r['classify_ms']:6.2f} {r['classify_ms_per_face']:6.2f} {r['total_ms']:6.2f} {r['fps']:6.1f} "
              f"{r['cpu_ms']:6.2f} {r['cpu_fps']:6.1f} "
              f"{r['recall']:6.3f} {r['mean_iou']:5.2f} {r['detections']:4d} {r['background_detect_ms']:6.1f} "
              f"{r['detect_latency_frames']:4.1f}")
    print(f"{'paper':<12} {'Zhao §V (hardware not stated)':<46} {'':>6} {'':>6} {'':>5} {'':>6} {p_ms:6.2f} "
          f"{1e3 / p_fps:6.2f} {p_fps:6.1f}   (per face {p_ms} ± {p_pm} ms)")

    agreement = None
    if fer:
        t = time.perf_counter()
        agreement = rb.agreement_table(base, fer[0], fer[1], calibration=fer[2])
        print(f"\nclassifier engines on FER2013 PrivateTest ({len(fer[0])} faces; {time.perf_counter() - t:.0f} s)")
        print(f"{'engine':<16} {'accuracy':>8} {'identical to float32 (%)':>25}")
        for x in agreement:
            print(f"{x['engine']:<16} {x['accuracy']:8.4f} {x['identical to float32 (%)']:25.2f}")
    print("\ntargets (issue 17), default configuration:", rt.DEFAULTS)
    for line in rb.targets_met(rows, agreement):
        print("  " + line)
    print(f"{load_avg()}")
    if a.json:
        from fer_lib.core.io import atomic_write_json
        from fer_lib.study.results import _clean
        atomic_write_json(a.json, _clean({"hardware": hardware(), "rows": rows, "agreement": agreement,
                                          "load": os.getloadavg()}))
        print("wrote", a.json)


if __name__ == "__main__":
    main()
