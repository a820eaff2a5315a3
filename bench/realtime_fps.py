"""Paper 3's real-time pipeline (Zhao, §III.A, §V): per-stage time and end-to-end fps at 640×480.

    python bench/realtime_fps.py [--frames 60] [--faces 1 3] [--arch ZhaoCNN] [--device cpu] [--seed 0]
                                 [--repeats 3] [--threads N]

On generated test clips (fer_lib.testmedia: real face photos moved over backgrounds, 640×480, 1 and 3 faces)
it times each stage of fer_lib.realtime per frame — detect, track (KCF updates, the check that a tracked box
still holds a face, KCF init after a detection),
crop, classify — and end to end (their sum per frame: the pipeline only, no video decoding or writing), for
  - MTCNN on every frame,
  - MTCNN detect 1 / track 5 (KCF), the paper's policy, with the classifier in float32 and in bfloat16, and
    with KCF run on the frame shrunk to half size (fer_lib.realtime's track_scale),
  - Haar on every frame, and Haar detect 1 / track 5;
with the detection recall and mean IoU against the clips' truth boxes beside the speed. The paper's numbers
(0.22 ± 0.05 ms per face, 80 fps; hardware never stated) are printed beside, from fer_lib.claims.
Goal of the study (issue 7): ≥ 30 fps end to end with MTCNN detect 1 / track 5 on a 2-core CPU.
The classifier is untrained unless --checkpoint is given: its cost does not depend on its weights.
Torch uses its default thread count unless --threads (printed); each configuration runs --repeats passes and the
median one is shown. The machine is shared: run it under the study's CPU lock.
"""
from __future__ import annotations

import argparse
import time

import torch

from fer_lib.study.claims import claim
from fer_lib.realtime import evaluate_clip, load_checkpoint, untrained_classifier
from fer_lib.study.results import hardware
from fer_lib.testmedia import make_clip

CONFIGS = [  # (label, detector, track_every, classifier dtype, KCF frame scale)
    ("MTCNN every frame", "mtcnn", 0, "float32", 1.0),
    ("MTCNN detect 1 / track 5", "mtcnn", 5, "float32", 1.0),
    ("MTCNN detect 1 / track 5, bf16 classifier", "mtcnn", 5, "bfloat16", 1.0),
    ("MTCNN detect 1 / track 5, bf16, KCF at 0.5x", "mtcnn", 5, "bfloat16", 0.5),
    ("Haar every frame", "haar", 0, "float32", 1.0),
    ("Haar detect 1 / track 5", "haar", 5, "float32", 1.0),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=60, help="frames per clip (60 = 10 detect/track cycles)")
    ap.add_argument("--faces", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--arch", default="ZhaoCNN", help="untrained classifier architecture (fer_lib.models)")
    ap.add_argument("--checkpoint", help="a fer_lib.realtime checkpoint instead of an untrained model")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="passes per configuration; the median-time pass is shown")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's own, one per core)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)

    print(f"hardware: {hardware()}; frames 640x480, {a.frames} per clip, {a.repeats} passes per configuration")
    rows = []
    for n in a.faces:
        clip = make_clip(a.frames, (640, 480), n_faces=n, seed=a.seed)
        for label, det, te, dtype, scale in CONFIGS:
            cls = (load_checkpoint(a.checkpoint, a.device, dtype) if a.checkpoint
                   else untrained_classifier(a.device, a.arch, dtype=dtype))
            t = time.perf_counter()
            # A shared machine has hiccups: repeat the pass and keep the one with the median end-to-end time.
            passes = sorted((evaluate_clip(clip, det, te, cls, a.device, track_scale=scale) for _ in range(a.repeats)),
                            key=lambda r: r["total_ms"])
            r = passes[len(passes) // 2]
            rows.append((n, label, r))
            each = ", ".join(f"{p['fps']:.1f}" for p in passes)
            print(f"  {n} face(s), {label}: {r['fps']:.1f} fps (passes: {each}; {time.perf_counter() - t:.1f} s)",
                  flush=True)

    p_ms = claim("p3", "text §V", "single face image", "processing time (ms)")
    p_pm = claim("p3", "text §V", "single face image", "processing time ± (ms)")
    p_fps = claim("p3", "text §V", "full pipeline", "processing speed (fps)")
    head = (f"{'faces':>5}  {'configuration':<44} {'detect':>7} {'track':>7} {'crop':>6} {'classify':>8} "
            f"{'cls/face':>8} {'total':>7} {'fps':>6} {'recall':>6} {'IoU':>5} {'FP':>4}")
    print("\nms per frame (mean over the clip); cls/face = classify ms per face; recall/IoU vs the truth boxes")
    print(head)
    print("-" * len(head))
    for n, label, r in rows:
        print(f"{n:>5}  {label:<44} {r['detect_ms']:7.2f} {r['track_ms']:7.2f} {r['crop_ms']:6.2f} "
              f"{r['classify_ms']:8.2f} {r['classify_ms_per_face']:8.2f} {r['total_ms']:7.2f} {r['fps']:6.1f} "
              f"{r['recall']:6.2f} {r['mean_iou']:5.2f} {r['false_positives']:4d}")
    print(f"{'':>5}  {'paper (Zhao §V; hardware not stated)':<44} {'':>7} {'':>7} {'':>6} {'':>8} "
          f"{p_ms:8.2f} {1e3 / p_fps:7.2f} {p_fps:6.1f}   (per face {p_ms} ± {p_pm} ms)")
    print("\ngoal: >= 30 fps end to end with MTCNN detect 1 / track 5 on this CPU")
    for n, label, r in rows:
        if label.startswith("MTCNN detect 1 / track 5"):
            print(f"  {n} face(s), {label}: {r['fps']:.1f} fps -> {'met' if r['fps'] >= 30 else 'NOT met'}")
    print(f"classifier: {rows[0][2]['classifier']}; torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
