"""The summary joins claims and results by key, judges by the one rule, and rewrites only the README block."""
import pytest

from fer_lib import results as R
from fer_lib.summary import claims_vs_results, counts, readme_table, update_readme


def test_join_and_verdicts(tmp_path):
    rec = R.record("p1", "Table 2", "Base", "CK+", [0.86, 0.88, 0.87], profile="cpu", dataset="CK+", hw="test CPU")
    R.write_results("01_x", "cpu", [rec], root=tmp_path)
    t = claims_vs_results("cpu", tmp_path)
    row = t[(t.paper == "p1") & (t.source == "Table 2") & (t.row == "Base") & (t.column == "CK+")].iloc[0]
    assert row["paper value"] == 87.2 and row["ours"] == pytest.approx(87.0) and row.verdict == "reproduced"
    other = t[(t.paper == "p1") & (t.row == "Base+STN") & (t.column == "CK+")].iloc[0]
    assert other.verdict == "not run (not measured by its notebook)"
    assert t[t.paper == "p3"].verdict.str.contains("notebook not run").all()
    assert counts(t).loc["p1", "reproduced"] == 1
    md = readme_table(t, "cpu")
    assert "| p1 | Table 2 | Base | CK+ | 87.2 | 87.00 ± 2.48 (n=3) | reproduced | test CPU |" in md


def test_smoke_is_not_judged(tmp_path):
    R.write_results("01_x", "smoke", [R.record("p1", "Table 2", "Base", "CK+", [0.5], profile="smoke",
                                               dataset="synthetic", hw="cpu")], root=tmp_path)
    t = claims_vs_results("smoke", tmp_path)
    assert t[(t.row == "Base") & (t.column == "CK+") & (t.source == "Table 2")].verdict.iloc[0] == "not judged (synthetic data)"


def test_update_readme_block(tmp_path):
    (tmp_path / "README.md").write_text("intro\n<!-- results:start -->\nold\n<!-- results:end -->\nrest\n")
    update_readme("NEW TABLE", tmp_path)
    assert (tmp_path / "README.md").read_text() == "intro\n<!-- results:start -->\nNEW TABLE\n<!-- results:end -->\nrest\n"
    (tmp_path / "README.md").write_text("no markers")
    with pytest.raises(ValueError, match="results:start"):
        update_readme("x", tmp_path)
