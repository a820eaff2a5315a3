"""Inference timing: how long a model (or any call) takes per face, measured honestly.

Paper 3 (Zhao, §V) claims "(0.22 ± 0.05) ms" to classify one face image, and 80 fps for the whole
real-time pipeline, without naming the hardware. To put a number beside it we time the forward pass with
the rules that keep such numbers comparable:
- eval mode and `torch.inference_mode()` (no autograd bookkeeping), a fixed input made once;
- warm-up calls first (first calls pay for allocation and kernel selection);
- on CUDA, `torch.cuda.synchronize()` before reading the clock (kernels run asynchronously);
- many repeats, reported as the median (robust to a shared machine's hiccups) with the quartiles, and the
  mean ± std as well, since a "0.22 ± 0.05" style number is most likely mean ± std.
`time_call` is generic (the real-time pipeline times detection, tracking and classification with it);
`inference_time` times a model on a batch; `inference_table` does several models × batch sizes × devices.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

__all__ = ["time_call", "inference_time", "inference_table"]


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], repeats: int = 50, warmup: int = 5, *,
              device: torch.device | str | None = None, min_seconds: float = 0.0,
              max_seconds: float | None = None) -> dict:
    """Time `fn()` (no arguments) `repeats` times after `warmup` untimed calls; seconds per call.

    device: when CUDA, synchronise before each clock read so asynchronous kernels are counted.
    min_seconds: keep repeating past `repeats` until this much time was measured (short calls).
    max_seconds: stop early once this much time was measured (slow calls), keeping at least 3 repeats.
    Returns {"median", "q25", "q75", "mean", "std", "min", "n"} in seconds per call.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"time_call: repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    device = torch.device(device) if isinstance(device, str) else device
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    total = 0.0
    while len(times) < repeats or total < min_seconds:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
        if max_seconds is not None and total >= max_seconds and len(times) >= 3:
            break
    t = np.asarray(times)
    q25, med, q75 = np.percentile(t, [25, 50, 75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75), "mean": float(t.mean()),
            "std": float(t.std(ddof=1)) if len(t) > 1 else float("nan"), "min": float(t.min()), "n": len(t)}


def inference_time(model: nn.Module, batch_size: int = 1, input_shape: tuple[int, ...] = (1, 48, 48), *,
                   device: torch.device | str = "cpu", repeats: int = 50, warmup: int = 5,
                   max_seconds: float | None = None, amp: bool = False) -> dict:
    """Forward-pass time of `model` in eval mode on a random batch of `batch_size` inputs of `input_shape`.

    amp: bfloat16 autocast on CUDA (what fer_lib.core.train uses there); ignored on CPU.
    Returns time_call's dict (seconds per batch) plus "ms_per_face" (median per batch / batch_size),
    "mean_ms_per_face", "std_ms_per_face" and "faces_per_s" (from the median). The model is moved to
    `device` and put in eval mode; its training flag is restored afterwards.
    """
    device = torch.device(device)
    was_training = model.training
    model.to(device).eval()
    x = torch.randn(batch_size, *input_shape, device=device)
    use_amp = amp and device.type == "cuda"

    def call():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            return model(x)

    try:
        r = time_call(call, repeats, warmup, device=device, max_seconds=max_seconds)
    finally:
        model.train(was_training)
    r.update(batch_size=batch_size, ms_per_face=1e3 * r["median"] / batch_size,
             mean_ms_per_face=1e3 * r["mean"] / batch_size, std_ms_per_face=1e3 * r["std"] / batch_size,
             faces_per_s=batch_size / r["median"])
    return r


def inference_table(models: dict[str, nn.Module], batch_sizes: Iterable[int] = (1, 256),
                    devices: Iterable[str | torch.device] = ("cpu",), *, repeats: int = 50, warmup: int = 5,
                    max_seconds: float | None = None, amp: bool = False,
                    input_shape: tuple[int, ...] = (1, 48, 48)) -> pd.DataFrame:
    """One row per (model, device, batch size): median ms per face (with quartiles), mean ± std, faces/s.

    Models are left on the last device timed, in eval mode if they were."""
    rows = []
    for name, model in models.items():
        for dev in devices:
            for bs in batch_sizes:
                r = inference_time(model, bs, input_shape, device=dev, repeats=repeats, warmup=warmup,
                                   max_seconds=max_seconds, amp=amp)
                rows.append({"model": name, "device": str(dev), "batch": bs,
                             "median ms/face": r["ms_per_face"],
                             "q25 ms/face": 1e3 * r["q25"] / bs, "q75 ms/face": 1e3 * r["q75"] / bs,
                             "mean ms/face": r["mean_ms_per_face"], "std ms/face": r["std_ms_per_face"],
                             "faces/s": r["faces_per_s"], "repeats": r["n"]})
    return pd.DataFrame(rows)
