"""Metrics: accuracy, confusion matrix, per-class precision/recall/F1 (scikit-learn), mean ± 95 % CI over seeds."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# scipy.stats and sklearn.metrics (~1 s to import) load inside the functions that use them: every notebook imports
# this module (through fer_lib.study.results), not every notebook computes a CI or a confusion matrix.


@dataclass
class Predictions:
    """What a model said about a set of images, in their order; kept for later tables and plots."""
    y_true: np.ndarray
    probs: np.ndarray              # (N, C) softmax outputs
    classes: tuple[str, ...] = ()
    loss: float = float("nan")

    @property
    def y_pred(self) -> np.ndarray:
        return self.probs.argmax(1) if len(self.probs) else np.zeros(0, int)

    @property
    def accuracy(self) -> float:
        return accuracy(self.y_true, self.y_pred)

    def subset(self, mask) -> "Predictions":
        return Predictions(self.y_true[mask], self.probs[mask], self.classes, self.loss)

    def confusion(self, normalize: str | None = None) -> pd.DataFrame:
        return confusion(self.y_true, self.y_pred, self._names(), normalize)

    def report(self) -> pd.DataFrame:
        return per_class_report(self.y_true, self.y_pred, self._names())

    def _names(self):
        return self.classes or tuple(str(i) for i in range(self.probs.shape[1]))


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"accuracy: y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    return float((y_true == y_pred).mean()) if len(y_true) else float("nan")


def confusion(y_true, y_pred, classes, normalize: str | None = None) -> pd.DataFrame:
    """Rows = true class, columns = predicted. normalize="true" gives per-class recall on the diagonal."""
    from sklearn.metrics import confusion_matrix
    cm = confusion_matrix(y_true, y_pred, labels=range(len(classes)), normalize=normalize)
    cm = np.nan_to_num(cm)  # a class absent from y_true normalises to 0/0
    return pd.DataFrame(cm, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="predicted"))


def per_class_report(y_true, y_pred, classes) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, plus macro and weighted averages."""
    from sklearn.metrics import precision_recall_fscore_support
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    df = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(classes, name="class"))
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        df.loc[f"{avg} avg"] = [p, r, f, s.sum()]
    df["support"] = df["support"].astype(int)
    return df


def mean_ci(values, confidence: float = 0.95) -> dict:
    """Mean, sample std and the half-width of the Student-t confidence interval of the mean over seeds.

    With one value the CI is undefined (nan): a single run says nothing about seed variance."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    n = len(v)
    if n == 0:
        return {"mean": float("nan"), "std": float("nan"), "ci95": float("nan"), "n": 0}
    std = float(v.std(ddof=1)) if n > 1 else float("nan")
    from scipy import stats
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": float(v.mean()), "std": std, "ci95": half, "n": n}


def fmt_ci(m: dict, scale: float = 100.0, digits: int = 1) -> str:
    """'66.5 ± 0.4 (n=3)' from mean_ci's dict; a percentage by default."""
    if m["n"] == 0:
        return "not run"
    if m["n"] == 1 or np.isnan(m["ci95"]):
        return f"{m['mean'] * scale:.{digits}f} (n=1)"
    return f"{m['mean'] * scale:.{digits}f} ± {m['ci95'] * scale:.{digits}f} (n={m['n']})"
