"""Estimated seconds of a run, from the per-model cost table fer_lib/runs/costs.yaml (one column per kind of
device, measured once by bench/run_costs.py). An estimate is seconds per image × images (scaled by pixels per
image relative to 48×48) + a fixed overhead per run; it sizes budgets, it is not a measurement."""
from __future__ import annotations

import functools
from pathlib import Path

import yaml

COSTS_FILE = Path(__file__).with_name("costs.yaml")


@functools.lru_cache(maxsize=4)
def load_costs(path: str | None = None) -> dict:
    doc = yaml.safe_load(Path(path or COSTS_FILE).read_text())
    for k in ("kinds", "models", "default", "overhead_s", "reference_pixels"):
        if k not in doc:
            raise ValueError(f"{path or COSTS_FILE}: missing top-level entry {k!r}")
    return doc


def device_kind(device: str | None = None) -> str:
    """The costs.yaml kind of `device` ("gpu" for any CUDA device, else "cpu")."""
    import torch
    if device in (None, "auto"):
        return "gpu" if torch.cuda.is_available() else "cpu"
    return "gpu" if str(device).startswith("cuda") else "cpu"


def model_cost(model: str, kind: str, costs: dict | None = None) -> dict:
    """{"train": s per training image, "eval": s per evaluated image} of a registry model on a kind of device."""
    costs = costs or load_costs()
    if kind not in costs["kinds"]:
        raise ValueError(f"costs: unknown device kind {kind!r}; known: {list(costs['kinds'])}")
    from ..models.registry import ALIASES
    name = ALIASES.get(model, model)
    entry = costs["models"].get(name) or costs["default"]
    return entry[kind]


def estimate_seconds(spec, facts: dict, kind: str, costs: dict | None = None) -> float:
    """Seconds `spec` should take on `kind`: epochs × (train images seen + val images) + evaluated views.

    facts: {"n_train", "n_val", "n_eval", "image_shape"} (plans.Planned.facts); absent facts (no data here)
    fall back to costs.yaml's `datasets` sizes."""
    costs = costs or load_costs()
    if spec.tags.get("device"):   # a run pinned to a device (tags["device"]) runs there on any machine
        kind = device_kind(spec.tags["device"])
    c = model_cost(spec.model, kind, costs)
    if not facts:
        facts = dict(costs.get("datasets", {}).get(spec.dataset, {}))
    cfg = spec.train_config()
    n_train = facts.get("n_train", 0)
    if cfg.max_batches:
        n_train = min(n_train, cfg.max_batches * cfg.batch_size)
    shape = facts.get("image_shape") or [48, 48]
    hw = [s for s in shape if s not in (1, 3)][:2] or [48, 48]
    scale = (hw[0] * hw[-1]) / costs["reference_pixels"]
    n_views_per_split = {}
    for v in spec.evaluate:
        n_views_per_split[v["split"]] = n_views_per_split.get(v["split"], 0) + 1
    n_eval = facts.get("n_eval", 0) * (sum(n_views_per_split.values()) / max(len(n_views_per_split), 1))
    seconds = scale * (cfg.epochs * (n_train * c["train"] + facts.get("n_val", 0) * c["eval"]) + n_eval * c["eval"])
    return float(seconds * spec.tags.get("cost_factor", 1.0) + costs["overhead_s"][kind])
