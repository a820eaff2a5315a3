"""Convergence speed read off a learning curve, for paper 2's claim (ResNet50 transfer, §3): "the Batch
Normalization layer increases the convergence speed of the network by 31%". The paper defines neither
"convergence" nor "speed"; this module makes one reading explicit and keeps the alternatives switchable.

The reading (issue 19 item 17), chosen so that it cannot mislead:
- ONE ABSOLUTE TARGET for every run compared (`absolute_target`): the majority-class share of the evaluation set
  plus a margin (default 20 pp; FER2013's happy class is ~25 %, so ~45 %). A run stuck on the majority-class
  plateau never reaches it. A target relative to each run's own final accuracy (the earlier reading,
  `epochs_to_fraction`) let a stuck run "converge" at epoch 1 and a collapsed no-BN run look 86 % faster.
- ON A SMOOTHED CURVE (`smooth`): the trailing mean of `window` epochs (default 3), so one lucky epoch does not
  count as convergence; the epoch reported is the last epoch of the first window whose mean reaches the target.
- NaN WHEN NEVER REACHED (`epochs_to_target`), and a speed-up with a NaN side is NaN: "did not converge within the
  budget" is a result, never a number of epochs.
Convergence speed = 1 / epochs to the target; BN's speed-up in percent = (epochs without BN / epochs with BN − 1)
· 100 (`speedup_percent`); the other reading of "31 % faster", epochs saved, is `epoch_reduction_percent`.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

DEFAULT_MARGIN = 0.20   # target = majority-class share + 20 pp (a reading; `absolute_target(margin=...)`)
DEFAULT_WINDOW = 3      # epochs in the trailing mean (a reading; 1 = the raw curve)


def _values(curve) -> np.ndarray:
    v = np.asarray(curve, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("convergence: the curve is empty")
    return v


def majority_share(labels, num_classes: int | None = None) -> float:
    """Accuracy of always predicting the most frequent class of `labels` (the plateau a stuck run sits on)."""
    y = np.asarray(labels, dtype=int).ravel()
    if y.size == 0:
        raise ValueError("convergence: no labels given")
    return float(np.bincount(y, minlength=num_classes or 0).max() / y.size)


def absolute_target(majority: float, margin: float = DEFAULT_MARGIN) -> float:
    """The one accuracy every compared run must reach: `majority` (the majority-class share) + `margin`."""
    if not 0 <= majority < 1:
        raise ValueError(f"convergence: majority share must be in [0, 1), got {majority}")
    if not 0 < margin < 1 - majority:
        raise ValueError(f"convergence: margin must be in (0, {1 - majority:.3f}) above a majority share of "
                         f"{majority:.3f}, got {margin}")
    return majority + margin


def smooth(curve, window: int = DEFAULT_WINDOW) -> np.ndarray:
    """Trailing mean over `window` epochs; NaN for the first window − 1 epochs (no full window yet)."""
    v = _values(curve)
    if window < 1:
        raise ValueError(f"convergence: window must be >= 1, got {window}")
    return pd.Series(v).rolling(window, min_periods=window).mean().to_numpy()


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


def epochs_to_target(curve, target: float, window: int = DEFAULT_WINDOW) -> float:
    """The reading's convergence epoch: first epoch (1-based) at which the trailing `window`-epoch mean reaches
    `target`; NaN when it never does (also when the run is shorter than one window)."""
    return epochs_to_reach(np.nan_to_num(smooth(curve, window), nan=-np.inf), target)


def epochs_to_fraction(curve, fraction: float = 0.95, reference: str = "final", tail: int = 1) -> float:
    """The EARLIER reading, kept for comparison only: epochs until the curve reaches `fraction` × its own
    reference value ("final" or "max"). It misleads: a run stuck at chance "converges" at once."""
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


def convergence_table(histories: dict[str, pd.DataFrame], target: float, column: str = "val_acc",
                      window: int = DEFAULT_WINDOW) -> pd.DataFrame:
    """Per run: epochs run, best smoothed value, the one absolute target, epochs to reach it on the smoothed
    curve (NaN = never) and whether it was reached."""
    rows = []
    for name, h in histories.items():
        v = _values(h[column])
        s = smooth(v, window)
        e = epochs_to_target(v, target, window)
        rows.append({"run": name, "epochs run": len(v), f"final {column}": final_value(v),
                     f"best smoothed {column}": float(np.nanmax(s)) if np.isfinite(s).any() else float("nan"),
                     "target": target, "epochs to target": e, "reached": not math.isnan(e)})
    return pd.DataFrame(rows).set_index("run")


def paired_table(pairs: dict, target: float, window: int = DEFAULT_WINDOW, column: str = "val_acc",
                 names: tuple = ("model", "seed")) -> pd.DataFrame:
    """`convergence_table` of several compared pairs at ONE target: pairs = {(model, seed): {"BN": history,
    "no BN": history}} -> one table indexed by (*names, "run"). Paper 2 §3 (BN's 31 %) compares each seed's run
    with the change against the same seed's run without it."""
    parts = [convergence_table(h, target, column, window).assign(**dict(zip(names, k))).reset_index()
             for k, h in pairs.items()]
    if not parts:
        return pd.DataFrame(columns=[*names, "run", "epochs to target", "reached"]).set_index([*names, "run"])
    return pd.concat(parts).set_index([*names, "run"])


def paired_speedups(table: pd.DataFrame, with_: str = "BN", without: str = "no BN") -> pd.DataFrame:
    """Per pair (the table's first index level, e.g. the seed; runs on the last level): `speedup_percent` and
    `epoch_reduction_percent` of the run `with_` the change against the run `without` it — NaN where either side
    never reached the target."""
    ep = table["epochs to target"].unstack(-1)
    return pd.DataFrame({"speed-up (%)": [speedup_percent(a, b) for a, b in zip(ep[with_], ep[without])],
                         "epochs saved (%)": [epoch_reduction_percent(a, b) for a, b in zip(ep[with_], ep[without])]},
                        index=ep.index)


__all__ = ["DEFAULT_MARGIN", "DEFAULT_WINDOW", "majority_share", "absolute_target", "smooth", "final_value",
           "epochs_to_reach", "epochs_to_target", "epochs_to_fraction", "speedup_percent",
           "epoch_reduction_percent", "convergence_table", "paired_table", "paired_speedups"]
