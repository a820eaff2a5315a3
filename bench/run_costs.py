"""Seconds per training and per evaluated image of each registry model, as fer_lib/runs/costs.yaml wants them.

    python bench/run_costs.py [--device auto] [--models ZhaoCNN,resnet18] [--batch 64] [--steps 20]

For each model: fit() on synthetic 48×48 grey faces (flip augmentation, Adam, bf16 autocast on CUDA) for two
epochs of `--steps` batches — the first warms up (cuDNN autotuning, allocations), the second is timed — and
evaluate() over `--steps` batches. Prints one YAML line per model to paste under `models:` in the device kind's
column (kind "gpu" for any CUDA device, "cpu" otherwise). Models that need other inputs (STNClassifier: 28×28
MNIST) are timed at their own size and printed per 48×48 image, as costs.yaml expects. On the shared 2-core
machine the figures move with the load: re-run, and compare models within one run.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fer_lib.models.registry import MODELS, create_model
from fer_lib.runs.costs import device_kind, load_costs
from fer_lib.core.train import TrainConfig, evaluate, fit, resolve_device

SIZE = {"STNClassifier": 28}   # models trained at another input size


def measure(name: str, device: torch.device, batch: int, steps: int) -> tuple[float, float]:
    size = SIZE.get(name, 48)
    n = batch * steps
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
    labels = rng.integers(0, 10 if name == "STNClassifier" else 7, n)
    kw = {"num_classes": 10} if name == "STNClassifier" else {}
    model = create_model(name, **kw)
    cfg = TrainConfig(epochs=2, batch_size=batch, augment="flip", progress=False, device=str(device))
    res = fit(model, (images, labels), None, cfg)
    train_s = float(res.history["seconds"].iloc[-1]) / n
    evaluate(res.model, (images[:batch], labels[:batch]), batch, device)        # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    evaluate(res.model, (images, labels), batch, device)
    eval_s = (time.perf_counter() - t0) / n
    scale = (48 * 48) / (size * size)          # costs.yaml is per 48×48 image
    return train_s * scale, eval_s * scale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", default=None, help="comma-separated registry names (default: all)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    device = resolve_device(a.device)
    kind = device_kind(str(device))
    names = a.models.split(",") if a.models else list(MODELS)
    table = load_costs()["models"]
    print(f"# bench/run_costs.py on {device} (kind {kind}), batch {a.batch}, {a.steps} timed steps; torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    for name in names:
        try:
            tr, ev = measure(name, device, a.batch, a.steps)
        except Exception as e:   # a model that cannot run at these inputs: say so, go on
            print(f"# {name}: not measured ({type(e).__name__}: {str(e)[:120]})")
            continue
        was = table.get(name, {}).get(kind)
        note = f"   # table now: train {was['train']:.2g}, eval {was['eval']:.2g}" if was else ""
        print(f'  "{name}": {{{kind}: {{train: {tr:.2g}, eval: {ev:.2g}}}}}{note}')


if __name__ == "__main__":
    main()
