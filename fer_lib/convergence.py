"""Convergence speed read off a learning curve, for paper 2's claim (ResNet50 transfer, §3): "the Batch
Normalization layer increases the convergence speed of the network by 31%". The paper defines neither
"convergence" nor "speed"; these functions make one reading explicit and keep the alternatives switchable.

Default reading: a run has converged at the first epoch whose validation accuracy reaches 95 % of its own final
validation accuracy (`epochs_to_fraction`); convergence speed is 1 / that epoch count, so BN's speed-up in percent
is (epochs without BN / epochs with BN − 1) · 100 (`speedup_percent`). Because a worse run reaches 95 % of its
own lower final sooner, `common_target` gives one threshold for all runs (a fraction of the lowest final), to be
used with `epochs_to_reach`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd


def _values(curve) -> np.ndarray:
    v = np.asarray(curve, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("convergence: the curve is empty")
    return v


def final_value(curve, tail: int = 1) -> float:
    """The curve's end point: the mean of its last `tail` epochs (tail > 1 damps one noisy last epoch)."""
    v = _values(curve)
    if tail < 1:
        raise ValueError(f"convergence: tail must be >= 1, got {tail}")
    return float(np.nanmean(v[-tail:]))


def epochs_to_reach(curve, target: float) -> float:
    """Epochs (1-based) until the curve first reaches `target` (>=); NaN when it never does."""
    v = _values(curve)
    hit = np.flatnonzero(v >= target)
    return float(hit[0] + 1) if hit.size else float("nan")


def epochs_to_fraction(curve, fraction: float = 0.95, reference: str = "final", tail: int = 1) -> float:
    """Epochs (1-based) until the curve first reaches `fraction` × its reference value.

    reference: "final" (mean of the last `tail` epochs, the default reading) or "max" (the curve's best epoch).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"convergence: fraction must be in (0, 1], got {fraction}")
    v = _values(curve)
    if reference == "final":
        ref = final_value(v, tail)
    elif reference == "max":
        ref = float(np.nanmax(v))
    else:
        raise ValueError(f"convergence: reference must be 'final' or 'max', got {reference!r}")
    return epochs_to_reach(v, fraction * ref)


def common_target(curves: Sequence, fraction: float = 0.95, tail: int = 1) -> float:
    """One threshold for several runs: `fraction` × the lowest final value among them."""
    if not curves:
        raise ValueError("convergence: no curves given")
    return fraction * min(final_value(c, tail) for c in curves)


def speedup_percent(epochs_with: float, epochs_without: float) -> float:
    """How much faster (in %) the run with the change converges, speed = 1 / epochs:
    (epochs_without / epochs_with − 1) · 100. Positive = faster with the change; NaN if either is NaN."""
    if any(math.isnan(e) for e in (epochs_with, epochs_without)):
        return float("nan")
    if epochs_with <= 0 or epochs_without <= 0:
        raise ValueError("convergence: epoch counts must be positive")
    return (epochs_without / epochs_with - 1.0) * 100.0


def epoch_reduction_percent(epochs_with: float, epochs_without: float) -> float:
    """The other reading of "31 % faster": the share of epochs saved, (1 − epochs_with / epochs_without) · 100."""
    if any(math.isnan(e) for e in (epochs_with, epochs_without)):
        return float("nan")
    if epochs_with <= 0 or epochs_without <= 0:
        raise ValueError("convergence: epoch counts must be positive")
    return (1.0 - epochs_with / epochs_without) * 100.0


def convergence_table(histories: dict[str, pd.DataFrame], column: str = "val_acc", fraction: float = 0.95,
                      reference: str = "final", tail: int = 1) -> pd.DataFrame:
    """Per run: epochs run, final value, its own threshold and epochs to reach it, and epochs to the common
    threshold (fraction × lowest final over the runs given)."""
    curves = {name: _values(h[column]) for name, h in histories.items()}
    common = common_target(list(curves.values()), fraction, tail)
    rows = []
    for name, v in curves.items():
        ref = final_value(v, tail) if reference == "final" else float(np.nanmax(v))
        rows.append({"run": name, "epochs run": len(v), f"final {column}": final_value(v, tail),
                     "own target": fraction * ref,
                     "epochs to own target": epochs_to_fraction(v, fraction, reference, tail),
                     "common target": common, "epochs to common target": epochs_to_reach(v, common)})
    return pd.DataFrame(rows).set_index("run")


__all__ = ["final_value", "epochs_to_reach", "epochs_to_fraction", "common_target", "speedup_percent",
           "epoch_reduction_percent", "convergence_table"]
