"""The summary joins claims and results by key AND dataset, judges by the one policy, counts add up, and
rewrites only the README block."""
import json

import pytest

from fer_lib.study import results as R
from fer_lib.study.summary import (claims_vs_results, counts, findings, headline, protocol_table, readme_block,
                             update_readme, write_cells)
from fer_lib.study.verdict import VERDICT_WORDS, beside


def _write(tmp_path, recs, profile="full", name="01_x", **extra):
    R.write_results(name, profile, recs, root=tmp_path, extra=extra)


def test_join_verdicts_and_counts_add_up(tmp_path):
    rec = R.record("p1", "Table 2", "Base", "CK+", [0.86, 0.88, 0.87], profile="full", dataset="CK+", hw="test GPU")
    _write(tmp_path, [rec])
    t = claims_vs_results("full", tmp_path)
    row = t[(t.paper == "p1") & (t.source == "Table 2") & (t.row == "Base") & (t.column == "CK+")].iloc[0]
    assert row["paper value"] == 87.2 and row["ours"] == pytest.approx(87.0) and row.verdict == "claim met"
    other = t[(t.paper == "p1") & (t.row == "Base+STN") & (t.column == "CK+")].iloc[0]
    assert other.verdict == "not run (not measured by its notebook)"
    assert t[t.paper == "p3"].verdict.str.contains("notebook not run").all()
    c = counts(t)
    assert c.loc["p1", "claim met"] == 1
    assert (c.drop(columns="total").sum(axis=1) == c.total).all() and c.total.sum() == len(t)
    assert headline(t).endswith(f"(sum {len(t)})")


def test_matches_the_dataset_too(tmp_path):
    """Issue 19 item 11: a FERPlus number is never set beside a RAF-DB claim, whatever the record order."""
    ferplus = R.record("p5", "Table 1", "x1", "DRGFER", [0.84, 0.85, 0.86], profile="full", dataset="FERPlus", hw="g")
    raf = R.record("p5", "Table 1", "x1", "DRGFER", [0.88, 0.89, 0.90], profile="full", dataset="RAF-DB", hw="g")
    _write(tmp_path, [ferplus, raf])
    t = claims_vs_results("full", tmp_path).set_index(["paper", "source", "row", "column"])
    assert t.loc[("p5", "Table 1", "x1", "DRGFER"), "ours"] == pytest.approx(89.0)
    _write(tmp_path, [ferplus])
    t = claims_vs_results("full", tmp_path).set_index(["paper", "source", "row", "column"])
    assert t.loc[("p5", "Table 1", "x1", "DRGFER"), "verdict"] == "not run (measured only on FERPlus)"


def test_cpu_rows_carry_no_verdict_words_anywhere(tmp_path):
    rec = R.record("p1", "Table 2", "Base", "CK+", [0.86, 0.88, 0.87], profile="cpu", dataset="CK+", hw="test CPU")
    _write(tmp_path, [rec], profile="cpu")
    (tmp_path / "README.md").write_text("x\n<!-- results:start -->\n<!-- results:end -->\n")
    t = claims_vs_results("cpu", tmp_path)
    assert not t.verdict.str.contains("|".join(VERDICT_WORDS)).any()
    block = readme_block(("cpu",), tmp_path)
    table_rows = [ln for ln in block.splitlines() if ln.startswith("| **")]
    assert table_rows and not any(w in ln for ln in table_rows for w in VERDICT_WORDS)
    csv, page = write_cells("cpu", tmp_path)
    assert "claim met" not in csv.read_text() and "claim met" not in page.read_text()


def test_notebook_and_summary_agree(tmp_path):
    recs = [R.record("p3", "abstract", m, "accuracy (%)", [v], profile="full", dataset="FER2013", split="PrivateTest",
                     hw="GPU H100") for m, v in (("CNN", 0.6252), ("VGG", 0.6796), ("ResNet", 0.6615))]
    _write(tmp_path, recs, name="03_x")
    t = claims_vs_results("full", tmp_path)
    nb = beside(recs, "p3", "abstract")
    for r in nb.itertuples():
        assert t[(t.source == "abstract") & (t.row == r.row)].verdict.iloc[0] == r.verdict
    assert set(nb.verdict) == {"claim exceeded (single seed)"}
    f = findings(("full",), tmp_path).set_index("report")
    assert f.loc["03_zhao_cnn_vgg_resnet", "verdict"].startswith("all above the paper's numbers: CNN +5.4 pp")


def test_censored_epoch_from_the_budget(tmp_path):
    rec = R.record("p3", "text §IV-C", "CNN", "val accuracy plateau epoch", [30], unit="epochs", profile="full",
                   dataset="FER2013", hw="g")
    _write(tmp_path, [rec], name="03_x", budget={"epochs": {"CNN": 30}})
    t = claims_vs_results("full", tmp_path)
    assert t[(t.row == "CNN") & (t.column == "val accuracy plateau epoch")].verdict.iloc[0].startswith("inconclusive — censored")


def test_summary_records_are_not_read_back(tmp_path):
    rec = R.record("p1", "Table 2", "Base", "CK+", [0.5], profile="full", dataset="CK+", hw="g")
    _write(tmp_path, [rec], name="07_summary")
    t = claims_vs_results("full", tmp_path)
    assert (t["n seeds"] == 0).all()


def test_protocol_ranking_leaves_out_the_random_backbone(tmp_path):
    recs = [R.record(p, "protocol", m, "accuracy", [v, v, v], profile="cpu", dataset="FER2013", split="PrivateTest",
                     pretrained=pre, hw="c") for p, m, v, pre in (("p2", "p2 ResNet50+CNN", 0.248, False),
                                                                  ("p3", "p3 ResNet18", 0.40, False))]
    _write(tmp_path, recs, profile="cpu", name="06_x")
    b = protocol_table(R.read_results("cpu", tmp_path))
    assert b.loc[("p3", "p3 ResNet18"), "rank"] == "1"
    assert b.loc[("p2", "p2 ResNet50+CNN"), "rank"] == "—"
    assert b.loc[("p2", "p2 ResNet50+CNN"), "comparable"].startswith("no")


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


def test_at_a_glance_from_a_notebooks_records():
    from fer_lib.study.summary import at_a_glance
    recs = [R.record("p3", "abstract", m, "accuracy (%)", [v], profile="full", dataset="FER2013", split="PrivateTest",
                     hw="GPU") for m, v in (("CNN", 0.6252), ("VGG", 0.6796), ("ResNet", 0.6615))]
    table, prose = at_a_glance(recs, "p3", "full")
    assert list(table.columns) == ["claim", "paper", "ours", "verdict"] and len(table) == 3
    assert table.loc[0, "ours"] == "62.52 % (n=1)" and prose.startswith("all above the paper's numbers")
    table, prose = at_a_glance([{**r, "profile": "cpu"} for r in recs], "p3", "cpu")
    assert prose.startswith("no verdict")


def test_open_runs_come_from_the_campaign_plans():
    # The README's "Still open" counts runs and GPU hours from the plans, per paper (never typed in by hand).
    from fer_lib.study.summary import open_runs
    todo = open_runs("full")
    assert set(todo.index) == {"p1", "p2", "p3", "p4", "p5"}
    assert (todo["runs"] > 0).all() and (todo["runs"] >= todo["stored"]).all()
    assert (todo["GPU h to run"] >= 0).all()
