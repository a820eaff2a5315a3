"""The papers' internal inconsistencies, computed from their own numbers."""
from fer_lib.claims_audit import all_checks


def test_known_inconsistencies_are_found():
    d = all_checks()
    assert "check could not run" not in set(d.check)
    bad = set(d.loc[~d.consistent, "check"])
    assert "Table 1 CK+ test: classes sum to Total" in bad                       # 357 vs 327
    assert "Table I row 'Anger' sums to 1" in bad                                # 1.10
    assert "x8: DRGFER ≤ the best model it can route to (Table 3, column x8)" in bad
    assert "DRGFER equals the best per-resolution model at every factor" in bad
    assert "Table 7 CK+: 95 % CI half-width = 1.96·σ/√n" not in bad             # this one adds up
