"""Training throughput of the engine against the compute bound and the usual torchvision pipeline.

    python bench/train_throughput.py [--images 4096] [--batch 64] [--steps 30] [--device auto] [--workers 2]

For paper 3's CNN (heavy: its 9216×4096 layer makes it compute-bound) and a light CNN (paper 4's baseline
branch) it measures training images/s of
  - bound:  the model fed one pre-made batch over and over (forward + backward + Adam step; no data work);
  - engine: fer_lib.core.train.fit — uint8 tensor in memory, batches sliced by index, augmented on the device, no host
            sync per step (on CUDA also "graphed": the same with TrainConfig(cuda_graph=True));
  - usual:  torchvision ImageFolder + PIL transforms + DataLoader over the same images written as PNG files,
            with the same augmentation (flip, rotation, translation, scale);
and, for the data path alone (batches produced and augmented, no model), engine vs usual.
Targets: engine ≥ 0.9 × bound for both models; engine data path ≥ 5 × usual on a CPU; on a GPU ≥ 3 × the usual
pipeline end to end for paper 3's CNN. The machine is shared: compare the ratios, printed at the end.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from fer_lib.core.augment import Augment
from fer_lib.data.synthetic import make_synthetic
from fer_lib.models.cnn import ZhaoCNN
from fer_lib.models.sdl import SpatialDeepLearning
from fer_lib.core.train import TrainConfig, fit, resolve_device

AUG = Augment(flip=0.5, rotate=10, translate=0.1, scale=(0.9, 1.1), padding_mode="zeros")


def usual_loader(folder: Path, batch: int, workers: int):
    from torchvision import datasets, transforms as T
    tf = T.Compose([T.Grayscale(), T.RandomHorizontalFlip(), T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                    T.ToTensor(), T.Normalize([0.5], [0.5])])
    return torch.utils.data.DataLoader(datasets.ImageFolder(folder, tf), batch_size=batch, shuffle=True,
                                       num_workers=workers, drop_last=True)


def write_folder(ds, root: Path) -> Path:
    for i, (img, y) in enumerate(zip(ds.images, ds.labels)):
        d = root / ds.classes[y]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i:05d}.png")
    return root


def train_step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_bound(make_model, device, batch, steps):
    model = make_model().to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    x = torch.randn(batch, 1, 48, 48, device=device)
    y = torch.randint(0, 7, (batch,), device=device)
    for _ in range(3):
        train_step(model, opt, x, y)
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, x, y)
    sync(device)
    return steps * batch / (time.perf_counter() - t)


def bench_engine(make_model, ds, device, batch, steps, **switches):
    cfg = TrainConfig(epochs=2, batch_size=batch, lr=1e-4, augment=AUG.to_dict(), max_batches=steps,
                      device=str(device), progress=False, amp=False, **switches)
    r = fit(make_model(), ds, None, cfg)
    return float(r.history.img_per_s.iloc[-1])  # second epoch: warm


def bench_usual(make_model, loader, device, steps):
    model = make_model().to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    it, seen = iter(loader), 0
    for _ in range(3):
        x, y = next(it)
        train_step(model, opt, x.to(device), y.to(device))
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        train_step(model, opt, x.to(device, non_blocking=True), y.to(device, non_blocking=True))
        seen += len(y)
    sync(device)
    return seen / (time.perf_counter() - t)


def data_engine(ds, device, batch, steps):
    x_all = torch.as_tensor(ds.images).unsqueeze(1).to(device)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x_all), generator=gen).to(device)
    n, t = 0, time.perf_counter()
    for s in range(steps):
        idx = order[(s * batch) % (len(order) - batch):][:batch]
        x = (AUG(x_all[idx].float().div_(255), gen) - 0.5) / 0.5
        n += len(x)
    sync(device)
    return n / (time.perf_counter() - t)


def data_usual(loader, steps):
    it, n = iter(loader), 0
    next(it)
    t = time.perf_counter()
    for _ in range(steps):
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(loader)
            x, _ = next(it)
        n += len(x)
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30, help="training steps measured per figure")
    ap.add_argument("--data-steps", type=int, default=100, help="batches measured for the data path alone")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the usual pipeline")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are printed")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dry-run", action="store_true", help="a few steps of everything, to check it runs")
    a = ap.parse_args()
    if a.dry_run:
        a.images, a.steps, a.data_steps, a.repeats = 512, 3, 5, 1
    device = resolve_device(a.device)
    ds = make_synthetic({"train": a.images}, seed=0)
    models = {"paper 3 CNN (ZhaoCNN)": lambda: ZhaoCNN(num_classes=7),
              "light CNN (paper 4 baseline branch)": lambda: SpatialDeepLearning(num_classes=7, baseline_branch_only=True)}
    print(f"device: {device}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
          f"{a.images} synthetic 48×48 images, batch {a.batch}, usual pipeline with {a.workers} workers, "
          f"median of {a.repeats} interleaved repeats of {a.steps} steps")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(ds, Path(tmp))
        # A fresh loader per measurement: idle workers of an earlier one must not steal the 2 cores.
        for name, make in models.items():
            # Interleaved repeats, median of each: the machine is shared and noisy.
            runs = [(bench_bound(make, device, a.batch, a.steps), bench_engine(make, ds, device, a.batch, a.steps),
                     bench_usual(make, usual_loader(folder, a.batch, a.workers), device, a.steps))
                    for _ in range(a.repeats)]
            bound, engine, usual = np.median(np.array(runs), axis=0)
            rows.append((name, bound, engine, usual))
            graphed = ""
            if device.type == "cuda":  # the same engine with the step replayed as a CUDA graph (TrainConfig.cuda_graph)
                g = np.median([bench_engine(make, ds, device, a.batch, a.steps, cuda_graph=True) for _ in range(a.repeats)])
                graphed = f" | graphed {g:8.0f} ({g / engine:4.2f}x engine)"
            print(f"{name:38s} bound {bound:8.0f} img/s | engine {engine:8.0f} | usual {usual:8.0f} | "
                  f"engine/bound {engine / bound:5.2f} | engine/usual {engine / usual:5.2f}{graphed}")
        runs = [(data_engine(ds, device, a.batch, a.data_steps),
                 data_usual(usual_loader(folder, a.batch, a.workers), a.data_steps)) for _ in range(a.repeats)]
        de, du = np.median(np.array(runs), axis=0)
    print(f"{'data path alone':38s} engine {de:8.0f} img/s | usual {du:8.0f} | engine/usual {de / du:5.2f}")
    print("\ntargets: engine/bound >= 0.9 (both models); data path engine/usual >= 5 (CPU); "
          "GPU: engine/usual >= 3 for paper 3's CNN")
    for name, bound, engine, usual in rows:
        print(f"  {name}: engine/bound {engine / bound:.2f} {'OK' if engine / bound >= 0.9 else 'BELOW TARGET'}")
    print(f"  data path: {de / du:.1f}x {'OK' if de / du >= 5 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
