import math

import pandas as pd
import pytest

from fer_lib import convergence as C


def test_epochs_to_reach_is_first_epoch_one_based():
    assert C.epochs_to_reach([0.1, 0.5, 0.4, 0.6], 0.5) == 2
    assert C.epochs_to_reach([0.7], 0.5) == 1
    assert math.isnan(C.epochs_to_reach([0.1, 0.2], 0.5))


def test_epochs_to_fraction_final_and_max():
    curve = [0.20, 0.50, 0.58, 0.66, 0.60]
    # final 0.60 -> target 0.57 -> epoch 3; max 0.66 -> target 0.627 -> epoch 4
    assert C.epochs_to_fraction(curve, 0.95) == 3
    assert C.epochs_to_fraction(curve, 0.95, reference="max") == 4
    # tail=2: final = mean(0.66, 0.60) = 0.63 -> target 0.5985 -> epoch 4
    assert C.epochs_to_fraction(curve, 0.95, tail=2) == 4
    # the final epoch always reaches a fraction <= 1 of itself
    assert C.epochs_to_fraction([0.1, 0.2, 0.3], 1.0) == 3


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="fraction"):
        C.epochs_to_fraction([0.1], 1.5)
    with pytest.raises(ValueError, match="reference"):
        C.epochs_to_fraction([0.1], 0.9, reference="best")
    with pytest.raises(ValueError, match="empty"):
        C.epochs_to_reach([], 0.5)
    with pytest.raises(ValueError, match="tail"):
        C.final_value([0.1], tail=0)


def test_speedup_and_reduction():
    # 13 epochs without BN, 10 with: speed 1/10 vs 1/13 -> 30 % faster; 23 % fewer epochs
    assert C.speedup_percent(10, 13) == pytest.approx(30.0)
    assert C.epoch_reduction_percent(10, 13) == pytest.approx(100 * 3 / 13)
    assert C.speedup_percent(10, 10) == 0
    assert C.speedup_percent(13, 10) < 0
    assert math.isnan(C.speedup_percent(float("nan"), 10))
    assert math.isnan(C.epoch_reduction_percent(10, float("nan")))


def test_common_target_and_table():
    bn = pd.DataFrame({"val_acc": [0.40, 0.60, 0.65, 0.66]})
    nobn = pd.DataFrame({"val_acc": [0.20, 0.30, 0.45, 0.50]})
    assert C.common_target([bn.val_acc, nobn.val_acc], 0.9) == pytest.approx(0.45)
    t = C.convergence_table({"BN": bn, "no BN": nobn}, fraction=0.9)
    assert list(t.index) == ["BN", "no BN"]
    assert t.loc["BN", "epochs to own target"] == 2          # 0.9 * 0.66 = 0.594
    assert t.loc["no BN", "epochs to own target"] == 3       # 0.9 * 0.50 = 0.45
    assert t.loc["BN", "epochs to common target"] == 2       # 0.45
    assert t.loc["no BN", "epochs to common target"] == 3
    assert t.loc["BN", "epochs run"] == 4
