"""The one verdict policy (fer_lib/study/verdict.py), rule by rule."""
import pytest

from fer_lib.study.claims import load_claims
from fer_lib.study.verdict import (CATEGORIES, VERDICT_WORDS, assess, beside, binomial_half, category, judge, to_unit,
                             uninformative_cells)


def rec(value, *, unit="fraction", n=3, ci=None, profile="full", dataset="FER2013", row="CNN", column="accuracy (%)",
        paper="p3", source="abstract", split="", **kw):
    return {"paper": paper, "source": source, "row": row, "column": column, "value": value, "unit": unit,
            "n_seeds": n, "ci95": ci, "profile": profile, "dataset": dataset, "split": split, **kw}


CLAIM = {"paper": "p3", "source": "abstract", "row": "CNN", "column": "accuracy (%)", "value": 57.15,
         "unit": "percent", "dataset": "FER2013"}


# Rule 1: comparable or nothing
def test_smoke_and_missing():
    assert judge(66.5, 66.5, profile="smoke") == "not judged (synthetic data)"
    assert judge(66.5, None, reason="dataset absent") == "not run (dataset absent)"
    assert judge(66.5, None, reason="not run: dataset absent") == "not run (dataset absent)"


def test_cpu_rows_carry_no_verdict_word():
    for ours in (10.0, 66.5, 99.0):
        v = judge(66.5, ours, 0.1, profile="cpu", n_seeds=3)
        assert v.startswith("not comparable — cpu profile")
        assert not any(w in v for w in VERDICT_WORDS)


def test_not_comparable_deviation_dataset_pretraining():
    assert judge(66.5, 66.5, comparable=False, deviation="5k MNIST subset") == "not comparable — 5k MNIST subset"
    a = assess(rec(0.6, dataset="FERPlus"), CLAIM)
    assert a["verdict"] == "not comparable — measured on FERPlus, the claim is on FER2013"
    p2 = {"paper": "p2", "source": "Table 2", "row": "ResNet50 + CNN", "column": "Val Acc", "value": 0.857,
          "unit": "fraction", "dataset": "FER2013", "pretrained": True}
    a = assess(rec(0.248, paper="p2", source="Table 2", row="ResNet50 + CNN", column="Val Acc", pretrained=False), p2)
    assert a["verdict"].startswith("not comparable — no ImageNet weights")
    assert assess(rec(0.6, comparable=False, deviation="one epoch"), CLAIM)["verdict"] == "not comparable — one epoch"


# Rule 2: tolerance from the measurement
def test_tolerance_is_the_measurement_not_a_fixed_pp():
    assert judge(66.5, 66.0, 0.6, n_seeds=3) == "claim met"            # inside the seed interval
    assert judge(66.5, 66.0, 0.2, n_seeds=3) == "below the claim"      # no 1 pp allowance any more
    # the binomial error of the test set counts: 1.96·sqrt(.66·.34/3589) = 1.55 pp
    assert binomial_half(66.0, 3589, "percent") == pytest.approx(1.55, abs=0.01)
    assert judge(66.5, 66.0, 0.2, n_seeds=3, n_test=3589) == "claim met"
    # a CK+ fold of 67 images: ± 1.96·sqrt(.9·.1/67) ≈ 7.2 pp: too wide to say
    assert judge(95.0, 90.0, None, n_seeds=3, n_test=67).startswith("inconclusive")


def test_single_seed_prints_no_interval():
    v = judge(57.15, 62.52, 3.0, n_seeds=1)
    assert v == "claim exceeded (single seed)"      # the seed "interval" of one run is ignored
    a = assess(rec(0.6252, n=1, ci=0.02, split="PrivateTest"), CLAIM)
    assert a["±95% CI"] is None and a["verdict"] == "claim exceeded (single seed)"
    a3 = assess(rec(0.58, n=3, ci=0.01), CLAIM)
    assert a3["±95% CI"] == pytest.approx(1.0)


# Rule 3: direction-aware words, times, one-sided claims, counts
def test_direction_words():
    assert judge(57.15, 62.5, n_seeds=3) == "claim exceeded"               # not "not reproduced (ours higher)"
    assert judge(57.15, 50.0, n_seeds=3) == "below the claim"
    assert judge(0.22, 1.47, unit="ms", n_seeds=3) == "below the claim (slower)"
    assert judge(0.22, 0.10, unit="ms", n_seeds=3) == "claim exceeded (faster)"


def test_one_sided():
    assert judge(99.0, 99.6, n_seeds=3, sided="at least") == "claim met"    # never "exceeded"
    assert judge(99.0, 98.8, 0.1, n_seeds=3, sided="at least") == "below the claim"
    assert judge(99.0, 98.95, 0.1, n_seeds=3, sided="at least") == "claim met"
    c = load_claims()
    lb = c[(c.paper == "p1") & (c.column == "test accuracy lower bound (%)")].iloc[0]
    assert lb.sided == "at least"


def test_counts_match_or_differ():
    assert judge(327, 327, unit="count") == "matches"
    assert judge(327, 357, unit="count") == "differs (ours higher)"


# Rule 4: censored values
def test_censored_epoch():
    v = judge(17, 30, unit="epochs", censored_at=30, n_seeds=1)
    assert v.startswith("inconclusive — censored")
    assert judge(30, 77, unit="epochs", censored_at=90, n_seeds=1) == "differs (ours later) (single seed)"


# Rule 5: dispersions as dispersions
def test_dispersion_never_by_pp_rule():
    # paper 4's σ 0.32 vs ours 0.78 from 3 runs: not "reproduced" by a 1 pp rule
    v = judge(0.32, 0.78, unit="pp", measure="dispersion", n_seeds=3)
    assert v.startswith("larger spread (×2.4")   # σ's 95 % chi-square band from 3 runs: 0.41–4.9
    assert judge(0.5, 0.78, unit="pp", measure="dispersion", n_seeds=3).startswith("same spread")
    assert judge(3.0, 0.78, unit="pp", measure="dispersion", n_seeds=15).startswith("smaller spread")
    assert judge(0.32, 0.78, unit="pp", measure="dispersion", n_seeds=1).startswith("inconclusive")
    assert judge(0.16, 1.9, unit="pp", measure="halfwidth", n_seeds=3).startswith("not comparable")
    assert category("larger spread (×2.4 the paper's σ)") == "below the claim"


# Rule 6: the paper's own inconsistencies
def test_inconsistent_cells_are_marked():
    c = load_claims()
    cell = c[(c.paper == "p3") & (c.source == "Table I") & (c.row == "Anger") & (c.column == "Anger")].iloc[0].to_dict()
    t = beside([rec(0.61, n=1, source="Table I", row="Anger", column="Anger", split="PrivateTest")], "p3", "Table I")
    assert t.loc[0, "verdict"].startswith("paper inconsistent — Table I row 'Anger' sums to 1")
    assert t.loc[0, "ours"] == pytest.approx(0.61)          # ours still shown
    assert cell["measure"] == "confusion"


# Rule 7: chance-level agreement
def test_chance_agreement_is_uninformative():
    claims = load_claims()
    recs = [rec(0.0, n=1, source="Table I", row="Neutral", column="Disgust", split="PrivateTest"),
            rec(0.69, n=1, source="Table I", row="Neutral", column="Neutral", split="PrivateTest")]
    u = uninformative_cells(recs, claims)
    assert "never predicts Disgust" in u[("p3", "Table I", "Neutral", "Disgust")]
    recs.append(rec(0.4, n=1, source="Table I", row="Disgust", column="Disgust", split="PrivateTest"))
    u = uninformative_cells(recs, claims)
    assert "near-zero" in u[("p3", "Table I", "Neutral", "Disgust")]
    t = beside(recs, "p3", "Table I")
    assert t.set_index(["row", "column"]).loc[("Neutral", "Disgust"), "verdict"].startswith("uninformative")


def test_every_verdict_has_one_category():
    for v in ("claim met", "claim exceeded (single seed)", "below the claim (slower)", "matches", "differs (ours lower)",
              "same spread (…)", "smaller spread (×0.5)", "inconclusive — x", "not comparable — cpu profile",
              "not run (x)", "not judged (synthetic data)", "paper inconsistent — x", "uninformative — x"):
        assert category(v) in CATEGORIES


def test_units():
    assert to_unit(0.5, "fraction", "percent") == 50
    assert to_unit(1.5, "percent", "pp") == 1.5
    with pytest.raises(ValueError):
        to_unit(1, "ms", "percent")


def test_beside_is_call_compatible():
    r = {"paper": "p1", "source": "Table 2", "row": "Base", "column": "CK+", "value": 0.87, "unit": "fraction",
         "ci95": 0.01, "n_seeds": 3, "profile": "full", "dataset": "CK+"}
    t = beside([r], "p1", "Table 2", tol=1.0, claims_map={})
    assert list(t.columns) == ["row", "column", "dataset", "paper", "ours", "±95% CI", "n seeds", "profile", "verdict"]
    assert t.loc[0, "paper"] == 87.2 and t.loc[0, "ours"] == pytest.approx(87.0)
    assert t.loc[0, "verdict"] == "claim met"
    t = beside([{**r, "profile": "cpu"}], "p1", "Table 2")
    assert t.loc[0, "verdict"].startswith("not comparable — cpu profile")


def test_records_carry_the_optional_fields():
    from fer_lib.study.results import record
    r = record("p3", "abstract", "CNN", "accuracy (%)", [0.6, 0.61, 0.62], profile="full", dataset="FER2013", hw="g",
               n_test=3589, comparable=False, deviation="one epoch of the paper's 30")
    assert r["n_test"] == 3589 and r["comparable"] is False
    assert assess(r, CLAIM)["verdict"] == "not comparable — one epoch of the paper's 30"
    assert "n_test" not in record("p3", "abstract", "CNN", "accuracy (%)", [0.6], profile="full", dataset="FER2013", hw="g")
