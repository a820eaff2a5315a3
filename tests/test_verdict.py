"""The one verdict rule."""
import pytest

from fer_lib.verdict import beside, judge, to_unit


def test_rule():
    assert judge(66.5, 66.0, 0.2) == "reproduced"                       # within the 1 pp tolerance
    assert judge(66.5, 64.0, 3.0) == "reproduced"                       # within our CI
    assert judge(66.5, 60.0, 7.0) == "inconclusive (CI ± 7 too wide)"   # within a CI too wide to say
    assert judge(66.5, 60.0, 1.0) == "not reproduced (ours lower)"
    assert judge(66.5, 70.0, None) == "not reproduced (ours higher)"
    assert judge(66.5, 66.5, profile="smoke") == "not judged (synthetic data)"
    assert judge(66.5, None, reason="dataset absent") == "not run (dataset absent)"


def test_units():
    assert to_unit(0.5, "fraction", "percent") == 50
    with pytest.raises(ValueError):
        to_unit(1, "ms", "percent")


def test_beside_reads_the_paper_value():
    rec = {"paper": "p1", "source": "Table 2", "row": "Base", "column": "CK+", "value": 0.87, "unit": "fraction",
           "ci95": 0.01, "n_seeds": 3, "profile": "cpu", "dataset": "CK+"}
    t = beside([rec], "p1", "Table 2")
    assert t.loc[0, "paper"] == 87.2 and t.loc[0, "ours"] == pytest.approx(87.0)
    assert t.loc[0, "verdict"] == "reproduced"
