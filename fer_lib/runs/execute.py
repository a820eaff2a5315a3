"""`execute`: one run spec -> trained, evaluated, recorded. The only place that turns a spec into a training."""
from __future__ import annotations

import functools
import json
import math
import os
import platform
import socket
import subprocess
import time
import traceback

import numpy as np
import torch

from . import hooks as H
from .data import prepare
from .key import RECIPE_VERSION, code_version, run_key
from .spec import RunSpec
from .store import RECORD_FORMAT, Store, dumps_record, encode_labels, encode_probs


class RunInterrupted(RuntimeError):
    """Raised when a run stops at its deadline; its checkpoint lets the next attempt resume."""


class MissingArtefact(RuntimeError):
    """A needed run's artefact is not in the store: run that run (again) first."""


def _chain(fns):
    def call(*a):
        for f in fns:
            f(*a)
    return call


def _compose_batch(fns):
    def call(x, y, gen=None):
        for f in fns:
            x, y = f(x, y, gen)
        return x, y
    return call


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    from ..core.paths import project_root
    try:
        root = project_root()
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "fer_lib"], cwd=root,
                               capture_output=True, text=True, timeout=20).stdout.strip()
        return (head[:12] + ("+dirty" if dirty else "")) if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict:
    import sys
    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "cuda": torch.version.cuda if torch.cuda.is_available() else None}
    for mod in ("torchvision", "sklearn"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    return out


def _r(x, digits: int = 6):
    """JSON-able, compact number (NaN -> None)."""
    if x is None:
        return None
    if isinstance(x, (np.generic,)):
        x = x.item()
    if isinstance(x, float):
        return None if not math.isfinite(x) else float(f"{x:.{digits}g}")
    return x


def _history(df) -> dict:
    return {"columns": list(df.columns), "rows": [[_r(v) for v in row] for row in df.itertuples(index=False)]}


def artefact_dirs(spec: RunSpec, needs_keys: dict, store: Store) -> dict:
    out = {}
    for n in spec.needs:
        d = store.find_artefacts(needs_keys[n])
        if d is None:
            raise MissingArtefact(f"{spec.label}: the artefacts of needed run {n!r} ({needs_keys[n]}) are not in "
                                  f"{store.artefacts}; run it first (the campaign and assemble do)")
        out[n] = d
    return out


def execute(spec: RunSpec, data_root=None, device: str = "auto", store: Store | None = None, *,
            key: str | None = None, needs_keys: dict | None = None, profile: str | None = None,
            deadline: float | None = None, keep_checkpoint: bool = False, progress: bool = False) -> dict:
    """Train and evaluate `spec`, write its record to `store` (when given) and return the record.

    key: the run key when the caller computed it (plans.resolve); recomputed otherwise.
    needs_keys: {needed run's name: its key}, for specs with `needs`.
    deadline: time.time() by which the run must stop; after an epoch that leaves too little time for another
        it stops with RunInterrupted, its checkpoint kept (the next attempt resumes from it).
    """
    from ..models.registry import create_model
    from ..core.train import evaluate, fit, resolve_device

    t_wall = time.time()
    data = prepare(spec, data_root)
    needs_keys = dict(needs_keys or {})
    code = code_version(spec)
    key = key or run_key(spec, data.fingerprint, code, needs_keys)
    dev = resolve_device(spec.tags.get("device") or device)   # a plan may pin a run to "cpu" (paper 1's MNIST)
    cfg = spec.train_config(device=str(dev), progress=progress)
    ctx = H.HookContext(spec=spec, key=key, device=dev, data=data, mean=cfg.mean, std=cfg.std,
                        artefacts=artefact_dirs(spec, needs_keys, store) if store is not None else {})
    by_kind: dict[str, list] = {k: [] for k in H.KINDS}
    for ref in spec.hooks:
        kind, fn = H.build(ref, ctx)
        by_kind[kind].append((ref["name"], fn))
    fns = {k: [f for _, f in v] for k, v in by_kind.items()}
    for k in ("loss_fn",):
        if len(fns[k]) > 1:
            raise ValueError(f"{spec.label}: more than one {k} hook: {[n for n, _ in by_kind[k]]}")
    train_ds, val_ds = data.train, data.val
    for f in fns["data"]:
        train_ds = f(train_ds, "train")
        val_ds = f(val_ds, "val") if val_ds is not None else None

    def factory():
        model = create_model(spec.model, **spec.model_kw)
        for f in fns["model"]:
            model = f(model)
        return model

    callbacks = list(fns["callback"])
    if deadline is not None:
        def stop_at_deadline(epoch, row, model):
            if epoch + 1 < cfg.epochs and time.time() + 1.5 * row.get("seconds", 0) > deadline:
                raise RunInterrupted(f"{spec.label}: stopped after epoch {epoch} at its deadline")
        callbacks.append(stop_at_deadline)
    ckpt = store.checkpoint(key) if store is not None else None
    fit_kw = dict(checkpoint=ckpt, batch_fn=_compose_batch(fns["batch_fn"]) if fns["batch_fn"] else None,
                  val_batch_fn=_compose_batch(fns["val_batch_fn"]) if fns["val_batch_fn"] else None,
                  loss_fn=fns["loss_fn"][0] if fns["loss_fn"] else None,
                  callback=_chain(callbacks) if callbacks else None, num_classes=len(data.classes))
    # the model is built from the run's seed alone (fit's seeded scope), whatever ran before in this process
    result = fit(factory, train_ds, val_ds, cfg, run_key=key, **fit_kw)
    model = result.model

    # ------------------------------------------------------------------------------------ evaluation
    t0 = time.perf_counter()
    metrics, preds, labels = {}, {}, {}
    for v in spec.evaluate:
        ds = data.views[v["split"]]
        for f in fns["data"]:
            ds = f(ds, v["name"])
        bfn = H.build(v["batch_fn"], ctx)[1] if v.get("batch_fn") else fit_kw["val_batch_fn"]
        p = evaluate(model, ds, cfg.eval_batch_size, dev, cfg.mean, cfg.std, batch_fn=bfn,
                     loss_fn=fit_kw["loss_fn"], amp=cfg.amp, seed=spec.seed, classes=data.classes)
        m = {"loss": _r(p.loss), "n": len(ds)}
        if len(p.probs):
            m["accuracy"] = _r(p.accuracy)
            enc = encode_labels(p.y_true)  # a batch_fn may rewrite the labels: such a view keeps its own
            ref = v["split"] if labels.get(v["split"], enc) == enc else v["name"]
            labels[ref] = enc
            entry = {"split": ref, "pred": encode_labels(p.y_pred)}
            if "probs" in spec.keep:
                entry["probs"] = encode_probs(p.probs)
            preds[v["name"]] = entry
        metrics[v["name"]] = m
    for name, f in by_kind["metrics"]:
        metrics[name] = {k: [_r(x) for x in v] if isinstance(v, (list, tuple)) else _r(v)
                         for k, v in f(model, data).items()}
    eval_seconds = time.perf_counter() - t0

    artefacts = {}
    if {"weights", "weights16"} & set(spec.keep) and store is not None:
        from ..core.io import atomic_torch_save
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        dtype = "float32"
        if "weights16" in spec.keep:   # half the bytes; a consumer loads it cast back to its own dtype
            dtype = "float16"
            state = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in state.items()}
            bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
            if bad:
                raise ValueError(f"{spec.label}: weights {bad[:3]} overflow float16; keep=('weights',) instead")
        path = store.artefact_dir(key) / "weights.pt"
        atomic_torch_save(state, path)
        artefacts["weights"] = {"file": "weights.pt", "bytes": path.stat().st_size, "dtype": dtype}

    hist = result.history
    epochs_run = getattr(result, "epochs_run", None)
    resumed = result.resumed_from
    if epochs_run is None:
        epochs_run = len(hist) - (resumed or 0)
    from ..study.results import hardware
    hw = hardware()
    processes = []
    if resumed:
        earlier = float(hist["seconds"].iloc[:resumed].sum()) if "seconds" in hist else None
        processes.append({"host": None, "hardware": None, "train_seconds": _r(earlier), "eval_seconds": None,
                          "epochs_run": int(resumed), "resumed_from": None,
                          "note": "earlier process(es): seconds summed from the checkpoint's epoch rows"})
    processes.append({"host": socket.gethostname(), "hardware": hw, "train_seconds": _r(result.seconds, 5),
                      "eval_seconds": _r(eval_seconds, 5), "epochs_run": int(epochs_run),
                      "resumed_from": resumed, "pid": os.getpid()})
    collapsed = getattr(result, "collapsed", None)
    record = {
        "format": RECORD_FORMAT, "key": key, "profile": profile or (store.profile if store else ""),
        "spec": spec.to_dict(), "spec_hash": spec.spec_hash(), "data_fingerprint": data.fingerprint,
        "code_version": code, "needs_keys": needs_keys,
        "metrics": metrics, "best_epoch": int(result.best_epoch), "epochs": int(len(hist)),
        "collapsed": collapsed, "history": _history(hist), "classes": list(data.classes),
        "labels": labels, "predictions": preds, "artefacts": artefacts,
        "seeds": {"seed": spec.seed, "cap_seed": spec.cap.get("seed", 0) if spec.cap else None},
        "processes": processes, "train_seconds": _r(sum(p["train_seconds"] or 0 for p in processes), 5),
        "eval_seconds": _r(eval_seconds, 5), "hardware": hw, "versions": versions(), "git": git_commit(),
        "recipe_version": RECIPE_VERSION, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t_wall)),
    }
    record = json.loads(dumps_record(record))   # exactly what a later load of the stored record gives
    if store is not None:
        store.put(record)
        if ckpt is not None and not keep_checkpoint:
            ckpt.unlink(missing_ok=True)
    return record


def execute_or_fail(spec, key, needs_keys, data_root, device, store: Store, **kw) -> tuple[str, str | None]:
    """("done" | "interrupted" | "failed", error text): execute, recording a failure marker when it fails."""
    try:
        execute(spec, data_root, device, store, key=key, needs_keys=needs_keys, **kw)
        return "done", None
    except RunInterrupted as e:
        return "interrupted", str(e)
    except Exception:
        err = traceback.format_exc()
        store.fail(spec, key, err)
        return "failed", err
