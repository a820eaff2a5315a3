import math

import pandas as pd
import pytest

from fer_lib.papers import p2_convergence as C


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


def test_absolute_target_smoothing_and_nan():
    assert C.majority_share([0, 0, 0, 1]) == 0.75
    assert C.absolute_target(0.25, 0.2) == pytest.approx(0.45)
    with pytest.raises(ValueError, match="margin"):
        C.absolute_target(0.9, 0.2)                         # a target above 100 % is no target
    s = C.smooth([0.1, 0.2, 0.6, 0.7], 3)
    assert math.isnan(s[0]) and math.isnan(s[1]) and s[2] == pytest.approx(0.3) and s[3] == pytest.approx(0.5)
    # one lucky epoch does not count: raw 0.5 at epoch 2 is a spike; the 3-epoch mean reaches 0.45 at epoch 5
    assert C.epochs_to_reach([0.2, 0.5, 0.3, 0.45, 0.6], 0.45) == 2
    assert C.epochs_to_target([0.2, 0.5, 0.3, 0.45, 0.6], 0.45, window=3) == 5
    assert math.isnan(C.epochs_to_target([0.9, 0.9], 0.5, window=3))   # shorter than one window
    assert C.epochs_to_target([0.9, 0.9], 0.5, window=1) == 1


def test_a_stuck_run_never_converges():
    """A run stuck on the 25 % majority plateau: under the old own-final reading it "converges" at epoch 1 and
    looks far faster than a learning run; under the absolute target it is NaN and so is the speed-up."""
    stuck = [0.25, 0.25, 0.249, 0.251, 0.25, 0.25]
    learning = [0.30, 0.38, 0.44, 0.50, 0.55, 0.58]
    assert C.epochs_to_fraction(stuck, 0.95) == 1                       # the misleading reading
    target = C.absolute_target(0.25)                                    # 0.45
    assert math.isnan(C.epochs_to_target(stuck, target))
    assert C.epochs_to_target(learning, target) == 5                    # mean(0.44, 0.50, 0.55) = 0.497
    assert math.isnan(C.speedup_percent(C.epochs_to_target(learning, target), C.epochs_to_target(stuck, target)))
    t = C.convergence_table({"BN": pd.DataFrame({"val_acc": learning}), "no BN": pd.DataFrame({"val_acc": stuck})},
                            target)
    assert t.loc["BN", "reached"] and not t.loc["no BN", "reached"]
    assert t.loc["BN", "epochs to target"] == 5 and math.isnan(t.loc["no BN", "epochs to target"])
    assert (t["target"] == target).all() and t.loc["no BN", "epochs run"] == 6


def test_paired_table_and_speedups_nan_for_a_stuck_side():
    """Paper 2's BN comparison per seed: a pair whose no-BN run is stuck gives NaN, never a speed-up."""
    learning = pd.DataFrame({"val_acc": [0.30, 0.45, 0.50, 0.55, 0.60, 0.62]})
    slower = pd.DataFrame({"val_acc": [0.25, 0.30, 0.40, 0.48, 0.55, 0.60]})
    stuck = pd.DataFrame({"val_acc": [0.25] * 6})
    target = C.absolute_target(0.25, 0.20)
    t = C.paired_table({("Vanilla", 0): {"BN": learning, "no BN": slower},
                        ("Vanilla", 1): {"BN": learning, "no BN": stuck}}, target, window=3)
    assert list(t.index.names) == ["model", "seed", "run"] and len(t) == 4
    sp = C.paired_speedups(t.loc["Vanilla"])
    e_bn, e_no = C.epochs_to_target(learning.val_acc, target), C.epochs_to_target(slower.val_acc, target)
    assert sp.loc[0, "speed-up (%)"] == pytest.approx(C.speedup_percent(e_bn, e_no))
    assert sp.loc[0, "epochs saved (%)"] == pytest.approx(C.epoch_reduction_percent(e_bn, e_no))
    assert math.isnan(sp.loc[1, "speed-up (%)"]) and math.isnan(sp.loc[1, "epochs saved (%)"])
    assert C.paired_table({}, target).empty
