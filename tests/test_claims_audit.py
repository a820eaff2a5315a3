"""The papers' internal inconsistencies, computed from their own numbers, at their printed precision."""
from fer_lib.study.claims_audit import agrees, all_checks, decimals, inconsistent_cells


def test_known_inconsistencies_are_found():
    d = all_checks()
    assert "check could not run" not in set(d.check)
    assert set(d.category) <= {"internal", "external", "plausibility", "unsupported"}
    bad = set(d.loc[~d.consistent, "check"])
    assert "Table 1 CK+ test: classes sum to Total" in bad                       # 357 vs 327
    assert "Table I row 'Anger' sums to 1" in bad                                # 1.10
    assert "x8: DRGFER ≤ the best model it can route to (Table 3, column x8)" in bad
    assert "DRGFER equals the best per-resolution model at every factor" in bad
    assert "Table 7 CK+: 95 % CI half-width = 1.96·σ/√n" not in bad             # this one adds up


def test_a_tolerance_never_hides_a_mismatch():
    d = all_checks().set_index("check")
    assert not d.loc["Table 7 FERG: 95 % CI half-width = 1.96·σ/√n", "consistent"]   # ± 0.0863 vs 0.0860
    assert not d.loc["Table 1 Max: Mean row = average of the factors", "consistent"]  # 80.38 vs 80.386
    assert decimals(0.0863) == 4 and decimals(80.38) == 2 and decimals(327.0) == 0
    assert agrees(80.384, 80.38) and not agrees(80.386, 80.38)


def test_notebook_inconsistencies_reach_the_audit():
    """The checks notebooks 01, 02, 04 and 05 computed themselves now live here (so the summary shows them)."""
    checks = set(all_checks().check)
    for c in ("text §4.2 'more than 99 %' vs Figure 6's printout",                  # notebook 01
              "text 'about 68 %' (Vanilla CNN validation) vs Table 2",               # notebook 02
              "training loss at epoch 184 vs training accuracy",                     # notebook 04
              "CK+: abstract vs Table 5", "FERG split (§5) vs FERG size (§4.4)",
              "§5.4: x8-only training is 0.65 pp below the best joint training (Table 3)"):  # notebook 05
        assert c in checks


def test_plausibility_is_its_own_category():
    d = all_checks().set_index("check")
    assert d.loc["85.7 % on FER2013 vs the best published single models", "category"] == "plausibility"
    assert d.loc["Table 7 FERG: 95 % CI half-width = 1.96·σ/√n", "category"] == "internal"


def test_inconsistent_cells_feed_the_verdicts():
    cells = inconsistent_cells()
    assert cells[("p3", "Table I", "Sad", "Sad")] == "Table I row 'Sad' sums to 1"
    assert ("p3", "Table I", "Happy", "Happy") not in cells                     # a row that sums to 1
