"""Metrics against hand-computed examples."""
import numpy as np
import pytest

from fer_lib.core.metrics import Predictions, accuracy, confusion, fmt_ci, mean_ci, per_class_report

Y = np.array([0, 0, 1, 1, 2, 2])
P = np.array([0, 1, 1, 1, 2, 0])


def test_accuracy():
    assert accuracy(Y, P) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="shape"):
        accuracy(Y, P[:3])


def test_confusion_counts_and_normalised():
    cm = confusion(Y, P, ("a", "b", "c"))
    assert cm.to_numpy().tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert confusion(Y, P, ("a", "b", "c"), "true").to_numpy().diagonal().tolist() == [0.5, 1.0, 0.5]


def test_per_class_report():
    r = per_class_report(Y, P, ("a", "b", "c"))
    # class b: predicted 3 times, 2 right -> precision 2/3, recall 1, f1 0.8
    assert r.loc["b", "precision"] == pytest.approx(2 / 3)
    assert r.loc["b", "recall"] == 1.0 and r.loc["b", "f1"] == pytest.approx(0.8)
    assert r.loc["macro avg", "recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert r.loc["b", "support"] == 2


def test_mean_ci_student_t():
    m = mean_ci([0.6, 0.7, 0.8])
    # std 0.1, t(0.975, 2) = 4.3027 -> half width 0.1 * 4.3027 / sqrt(3) = 0.24841
    assert m["mean"] == pytest.approx(0.7) and m["std"] == pytest.approx(0.1)
    assert m["ci95"] == pytest.approx(0.248414, abs=1e-5)
    assert np.isnan(mean_ci([0.5])["ci95"]) and mean_ci([])["n"] == 0
    assert fmt_ci(m) == "70.0 ± 24.8 (n=3)" and fmt_ci(mean_ci([0.5])) == "50.0 (n=1)"


def test_predictions_object():
    probs = np.eye(3)[P]
    p = Predictions(Y, probs, ("a", "b", "c"))
    assert p.accuracy == pytest.approx(4 / 6)
    assert p.subset(Y == 1).accuracy == 1.0
    assert p.confusion().loc["c", "a"] == 1
