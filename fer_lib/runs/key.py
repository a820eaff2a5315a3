"""The run key: hash of (spec, data content fingerprint, code version, keys of the runs it needs).

It changes whenever what defines a run's result changes, and never otherwise:
- the spec: every field but the display labels (notebook, paper, arm, name, tags), with the TrainConfig's
  defaults filled in (so a changed default changes the key) and its non-result fields dropped;
- the data: content hash of the dataset and the rows each role uses (fer_lib.runs.data);
- the code: `model_version(model)` from the model registry, the versions of the hooks the spec names, and
  RECIPE_VERSION below (with fer_lib.core.train.ENGINE_VERSION when the engine declares one);
- the runs it needs: their keys (a retrained EDSR retrains the classifiers that use it).
Checkpoints (checkpoints/<key>.pt) and records (<store>/<notebook>/<key>.json) are named by it.
"""
from __future__ import annotations

import hashlib

from .spec import RunSpec, canonical

# Bump when what execute() does to a spec changes a result (data preparation, evaluation, record content that
# tables use). Engine changes are covered by fer_lib.core.train.ENGINE_VERSION where it exists.
RECIPE_VERSION = 1


def code_version(spec: RunSpec) -> dict:
    from ..core import train
    from ..models.registry import model_version
    from . import hooks
    names = [h["name"] for h in spec.hooks]
    names += [v["batch_fn"]["name"] for v in spec.evaluate if v.get("batch_fn")]
    return {"model": model_version(spec.model), "recipe": RECIPE_VERSION,
            "engine": getattr(train, "ENGINE_VERSION", None),
            "hooks": sorted({hooks.version(n) for n in names})}


def run_key(spec: RunSpec, data_fingerprint: str, code: dict | str | None = None,
            needs_keys: dict[str, str] | None = None) -> str:
    """16 hex digits. `code` defaults to code_version(spec); `needs_keys`: {needed run's name: its key}."""
    missing = set(spec.needs) - set(needs_keys or {})
    if missing:
        raise ValueError(f"run_key({spec.label}): keys of the needed runs {sorted(missing)} not given")
    payload = {"spec": spec.key_dict(), "data": data_fingerprint,
               "code": code_version(spec) if code is None else code,
               "needs": {n: needs_keys[n] for n in sorted(spec.needs)}}
    return hashlib.sha256(canonical(payload).encode()).hexdigest()[:16]
