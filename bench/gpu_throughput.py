"""Each paper's models at their paper batch sizes against the chip's roofline, and the full profile's GPU time.

    python bench/gpu_throughput.py [--device auto] [--pack 4] [--steps 30] [--models ZhaoCNN resnet18 ...]
                                   [--notebooks 03 04] [--json OUT.json]
    python bench/gpu_throughput.py --device cpu --quick --models SpatialDeepLearning     # what the tests run

For every (model, batch size) the full-profile plans train (fer_lib.papers.*.plan("full"), each with its own
TrainConfig: optimizer, L2, frozen layers, augmentation), it measures training images/s of
  - solo eager:   fit() as every run uses it;
  - solo graphed: fit(cuda_graph=True) (CUDA only);
  - packed xK:    fer_lib.core.packed.fit_packed, K seeds at once (img/s of the whole pack);
and derives
  - FLOPs per training image (torch.utils.flop_counter over forward + backward of one batch);
  - bytes moved per training image, an estimate: every layer output written, re-read and its gradient written
    once (x3), plus parameters read/written by forward, backward and Adam (~10 passes of the weights) / batch;
  - the roofline: img/s = 1 / max(FLOPs / measured matmul rate, bytes / measured copy bandwidth), with the
    matmul rate measured on bf16 (CUDA) or float32 (CPU) square matmuls, and the fraction each mode reaches;
  - the estimated full-profile time per notebook: the campaign's cost model (fer_lib/runs/costs.py) with this
    run's measured seconds per image in place of costs.yaml's, per mode (models not measured keep their
    table value, marked *).
What it leaves out: the runs' hooks (resolution degradation, SR pairs, domain-adversarial losses) — the model
and the engine only; evaluation is estimated from a forward-only rate. It prints figures and never asserts a
speed; timings on a shared machine are noisy (compare ratios within one run).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_lib.models.registry import create_model  # noqa: E402
from fer_lib.core.packed import fit_packed  # noqa: E402
from fer_lib.runs import costs as cost_model  # noqa: E402
from fer_lib.runs.plans import load_plan_modules, plan_specs  # noqa: E402
from fer_lib.core.train import TrainConfig, fit, resolve_device  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_rates(device, quick: bool) -> dict:
    """Measured matmul FLOP/s (bf16 on CUDA, float32 on CPU) and copy bandwidth (bytes read + written / s):
    the best of a few repeats (a shared machine only ever slows a repeat down)."""
    n, reps = (8192, 10) if device.type == "cuda" else (1024, 3 if quick else 8)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(reps):
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - t)
        return min(times)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    flops = 2 * n ** 3 / best(lambda: a @ b)
    size = (2 << 30) if device.type == "cuda" else ((16 << 20) if quick else (128 << 20))
    x = torch.empty(size // 4, device=device, dtype=torch.float32)
    y = x.clone()
    bw = 2 * size / best(lambda: y.copy_(x))
    return {"matmul_flops": flops, "matmul_dtype": str(dtype).replace("torch.", ""), "bandwidth": bw}


def workloads(specs, notebooks: list[str] | None, models: list[str] | None) -> dict:
    """{(model, batch): {"kw", "config", "shape", "notebooks"}} from the full-profile plans."""
    sizes = cost_model.load_costs().get("datasets", {})
    out = {}
    for s in specs:
        if notebooks and not any(s.notebook.startswith(n) for n in notebooks):
            continue
        if models and s.model not in models:
            continue
        cfg = s.train_config()
        # a plan that resizes its images (paper 5: tags["net_size"] or ["input_size"], 100 px in full) is timed there
        net = s.tags.get("net_size") or s.tags.get("input_size")
        shape = (int(net), int(net)) if net else tuple(sizes.get(s.dataset, {}).get("image_shape", [48, 48]))
        key = (s.model, cfg.batch_size, shape)
        w = out.setdefault(key, {"kw": dict(s.model_kw), "config": cfg, "notebooks": set(), "shape": shape})
        w["notebooks"].add(s.notebook)
    return out


def synthetic(shape, n: int, channels: int, seed: int = 0):
    g = np.random.default_rng(seed)
    imgs = g.integers(0, 256, (n, *shape, channels) if channels == 3 else (n, *shape), dtype=np.uint8)
    return imgs, np.arange(n) % 7


def probe(factory, shape, device):
    """(channels, FLOPs per image, bytes per image, out features) — or a reason the model cannot be measured."""
    model = factory().to(device).train()
    for ch in (1, 3):
        x = torch.randn(2, ch, *shape, device=device)
        try:
            out = model(x)
        except RuntimeError:
            continue
        if out.ndim != 2:
            return f"output {tuple(out.shape)} is not class logits (trained through a loss hook)"
        return ch
    return "no 1- or 3-channel input fits"


def counts(factory, shape, ch, batch, device) -> tuple[float, float]:
    """FLOPs and estimated bytes moved per training image (one batch of forward + backward)."""
    from torch.utils.flop_counter import FlopCounterMode
    model = factory().to(device).train()
    x = torch.randn(batch, ch, *shape, device=device)
    y = torch.randint(0, 2, (batch,), device=device)
    act = [0]
    el = 2 if device.type == "cuda" else 4   # bf16 activations under autocast on CUDA
    hooks = [m.register_forward_hook(lambda m, i, o: act.__setitem__(0, act[0] + (o.numel() if torch.is_tensor(o) else 0)))
             for m in model.modules() if not list(m.children())]
    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(model(x), y).backward()
    for h in hooks:
        h.remove()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad) * 4
    return fc.get_total_flops() / batch, (3 * act[0] * el + 10 * params) / batch


def measure(w, name, device, steps: int, pack: int, quick: bool) -> dict:
    shape, batch, cfg0 = w["shape"], w["config"].batch_size if "config" in w else 64, w["config"]
    factory = lambda: create_model(name, **w["kw"])  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ch = probe(factory, shape, device)
    if isinstance(ch, str):
        return {"skipped": ch}
    flops, nbytes = counts(factory, shape, ch, batch, device)
    data = synthetic(shape, batch * steps, ch)
    cfg = cfg0.replace(epochs=2, max_batches=steps, device=str(device), progress=False, scheduler="none",
                       oversample=False, class_weights=None)
    res = {"batch": batch, "flops_per_img": flops, "bytes_per_img": nbytes, "channels": ch}

    def last_ips(r):
        return float(r.history.img_per_s.iloc[-1])  # second epoch: warm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res["eager"] = last_ips(fit(factory, data, None, cfg))
        res["graphed"] = last_ips(fit(factory, data, None, cfg.replace(cuda_graph=True))) \
            if device.type == "cuda" else None
        packed = fit_packed(factory, data, None, [cfg.replace(seed=s) for s in range(pack)])
        res["packed"] = last_ips(packed[0]) * pack if int(packed[0].history.packed.iloc[0]) == pack else None
        # forward-only rate for the evaluation estimate
        model = factory().to(device).eval()
        x = torch.randn(min(512, batch * 4), ch, *shape, device=device)
        with torch.no_grad(), torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda"):
            model(x)
            sync(device)
            t = time.perf_counter()
            for _ in range(2 if quick else 10):
                model(x)
            sync(device)
        res["eval"] = (2 if quick else 10) * len(x) / (time.perf_counter() - t)
    return res


def size_tag(shape) -> str:
    return "" if tuple(shape) == (48, 48) else f" @{shape[0]}px"


def estimates(results: dict, kind: str, notebooks, specs) -> dict:
    """{notebook: {mode: seconds}} of the full profile, with the measured seconds per image per mode.

    The packed mode assumes every run of a measured model packs (its seeds share a recipe): a lower bound."""
    base = cost_model.load_costs()
    out = {}
    for mode in ("eager", "graphed", "packed", "best"):
        costs = copy.deepcopy(base)
        for (name, batch, *_), r in results.items():   # per model name: a model timed at two sizes keeps the last
            if "skipped" in r:
                continue
            # a mode not measured for this model (graphs on a CPU, a model vmap cannot pack) runs eagerly
            ips = [r.get(m) for m in (("eager", "graphed", "packed") if mode == "best" else (mode,))]
            ips = [v for v in ips if v] or [r["eager"]]
            costs["models"].setdefault(name, copy.deepcopy(base["default"]))[kind] = {
                "train": 1 / max(ips), "eval": 1 / r["eval"]}
        for s in specs:
            if notebooks and not any(s.notebook.startswith(n) for n in notebooks):
                continue
            nb = out.setdefault(s.notebook, {})
            nb[mode] = nb.get(mode, 0.0) + cost_model.estimate_seconds(s, {}, kind, costs)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", nargs="*", help="registry names (default: every model of the full plans)")
    ap.add_argument("--notebooks", nargs="*", help="notebook prefixes, e.g. 03 04 (default: all)")
    ap.add_argument("--steps", type=int, default=30, help="training steps per measured epoch")
    ap.add_argument("--pack", type=int, default=4, help="K: seeds trained at once in the packed mode")
    ap.add_argument("--quick", action="store_true", help="2 steps, small peaks: checks that it runs")
    ap.add_argument("--json", help="write the figures to this file as well")
    a = ap.parse_args(argv)
    if a.quick:
        a.steps, a.pack = 2, 2
    device = resolve_device(a.device)
    specs = plan_specs(load_plan_modules(), "full")
    kind = cost_model.device_kind(str(device))
    peaks = peak_rates(device, a.quick)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; measured {peaks['matmul_dtype']} matmul "
          f"{peaks['matmul_flops'] / 1e12:.3f} TFLOP/s, copy bandwidth {peaks['bandwidth'] / 1e9:.1f} GB/s; "
          f"{a.steps} steps per epoch, packed x{a.pack}\n")
    results = {}
    hdr = (f"{'model':26s} {'batch':>5s} {'GFLOP/img':>9s} {'MB/img':>7s} {'roofline':>9s} | {'eager':>8s} "
           f"{'graphed':>8s} {'packed':>8s} img/s | {'eager':>6s} {'graphed':>7s} {'packed':>6s} of roofline | nb")
    print(hdr)
    print("-" * len(hdr))
    for (model, batch, shape), w in sorted(workloads(specs, a.notebooks, a.models).items()):
        try:
            r = measure(w, model, device, a.steps, a.pack, a.quick)
        except Exception as e:  # one model failing must not hide the others' figures
            r = {"skipped": f"{type(e).__name__}: {str(e)[:120]}"}
        r["notebooks"] = sorted(w["notebooks"])
        results[(model, batch, shape)] = r
        if "skipped" in r:
            print(f"{model + size_tag(shape):26s} {batch:5d} skipped: {r['skipped']}")
            continue
        roof = 1 / max(r["flops_per_img"] / peaks["matmul_flops"], r["bytes_per_img"] / peaks["bandwidth"])
        r["roofline_img_s"] = roof
        fmt = lambda v: f"{v:8.0f}" if v else f"{'n/a':>8s}"  # noqa: E731
        frac = lambda v: f"{100 * v / roof:5.1f}%" if v else f"{'n/a':>6s}"  # noqa: E731
        print(f"{model + size_tag(shape):26s} {batch:5d} {r['flops_per_img'] / 1e9:9.3f} {r['bytes_per_img'] / 1e6:7.2f} {roof:9.0f} | "
              f"{fmt(r['eager'])} {fmt(r['graphed'])} {fmt(r['packed'])}       | {frac(r['eager'])} "
              f"{frac(r['graphed']):>7s} {frac(r['packed'])}             | {','.join(r['notebooks'])}")
    est = estimates(results, kind, a.notebooks, specs)
    measured = {m for (m, *_), r in results.items() if "skipped" not in r}
    print(f"\nestimated full-profile time per notebook on this device ({kind} cost model, fer_lib/runs/costs.py; "
          f"measured models: {len(measured)}; the others keep costs.yaml's figures):")
    print(f"{'notebook':10s} {'eager':>10s} {'graphed':>10s} {'packed':>10s} {'best':>10s}   (minutes)")
    for nb, modes in sorted(est.items()):
        print(f"{nb:10s} " + " ".join(f"{modes[m] / 60:10.1f}" for m in ("eager", "graphed", "packed", "best")))
    tot = {m: sum(v[m] for v in est.values()) for m in ("eager", "graphed", "packed", "best")}
    print(f"{'total':10s} " + " ".join(f"{tot[m] / 60:10.1f}" for m in ("eager", "graphed", "packed", "best")))
    print("\ntargets (issue 15): every model >= 25 % of its roofline when packed; the full profile of notebooks "
          "01-06 <= 90 GPU-minutes on one H100/H200. Graphed and packed modes only count where measured; "
          "'best' takes each model's fastest measured mode.")
    if a.json:
        Path(a.json).write_text(json.dumps({
            "device": name, "torch": torch.__version__, "peaks": peaks, "steps": a.steps, "pack": a.pack,
            "models": {f"{m}@{b}@{sh[0]}px": r for (m, b, sh), r in results.items()}, "estimate_minutes":
                {nb: {m: v / 60 for m, v in modes.items()} for nb, modes in est.items()}}, indent=1, default=str))
    return results, est


if __name__ == "__main__":
    main()
