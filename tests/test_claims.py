"""Tests of fer_lib/study/paper_claims.yaml (the papers' numbers) and its loader fer_lib.study.claims."""
import re
from pathlib import Path

import pytest
import yaml

from fer_lib.study.claims import KEY, claim, claims_table, load_claims

ROOT = Path(__file__).resolve().parents[1]
PAPER_DIRS = [ROOT.parent / "shared" / "papers", Path("/work/shared/papers")]

# Every table of every paper, read off the paper texts (p3 numbers its only table in roman).
EXPECTED_TABLES = {
    "p1": ["Table 1", "Table 2"],
    "p2": ["Table 1", "Table 2"],
    "p3": ["Table I"],
    "p4": [f"Table {i}" for i in range(1, 10)],
    "p5": ["Table 1", "Table 2", "Table 3"],
}
# Numeric cells per table (non-numeric cells such as '-' or text columns excluded).
EXPECTED_CELLS = {
    ("p1", "Table 1"): 34,  # 9 rows x 4 columns minus CK+ neutral '-' twice
    ("p1", "Table 2"): 8,
    ("p2", "Table 1"): 5,
    ("p2", "Table 2"): 6,
    ("p3", "Table I"): 49,
    ("p4", "Table 1"): 8,  # 6 FER-2013 accuracies + 2 numbers in the 'Strength' column
    ("p4", "Table 2"): 16,
    ("p4", "Table 3"): 9,
    ("p4", "Table 4"): 8,
    ("p4", "Table 5"): 7,
    ("p4", "Table 6"): 5,
    ("p4", "Table 7"): 18,  # 3 datasets x 6 (the 'x ± h' interval split in two)
    ("p4", "Table 8"): 21,
    ("p4", "Table 9"): 21,
    ("p5", "Table 1"): 36,
    ("p5", "Table 2"): 36,
    ("p5", "Table 3"): 77,  # 9 x 8 + DRGFER row's 5 (x12..x16 blank)
}
# 'Table 3', 'Table-4', 'TABLE I', 'Table[.1](#page…)', 'table 2' as extracted from PDFs
CAPTION = re.compile(r"\b(?:[Tt]able|TABLE)[\s.\-\[]*(\d+|[IVX]+)\b")


@pytest.fixture(scope="module")
def claims():
    return load_claims()


def _papers_dir():
    for d in PAPER_DIRS:
        if d.is_dir() and list(d.glob("paper[1-5]_*.txt")):
            return d
    pytest.skip(f"paper texts not found in any of {[str(d) for d in PAPER_DIRS]}")


def _paper_texts():
    d = _papers_dir()
    return {f"p{i}": next(d.glob(f"paper{i}_*.txt")).read_text(encoding="utf-8")
            for i in range(1, 6)}


def test_loads_and_validates(claims):
    assert len(claims) > 500
    assert set(claims.paper) == set(EXPECTED_TABLES)
    assert claims.value.notna().all()


def test_keys_unique(claims):
    assert not claims.duplicated(KEY).any()


@pytest.mark.parametrize("paper,source",
                         [(p, s) for p, srcs in EXPECTED_TABLES.items() for s in srcs])
def test_every_table_captured(claims, paper, source):
    n = ((claims.paper == paper) & (claims.source == source)).sum()
    assert n >= 1, f"{paper} {source} has no entries"
    if (paper, source) in EXPECTED_CELLS:
        assert n == EXPECTED_CELLS[(paper, source)]


def test_no_unexpected_table_sources(claims):
    tables = claims[claims.source.str.match(r"Table ")]
    for paper, source in tables[["paper", "source"]].drop_duplicates().itertuples(index=False):
        assert source in EXPECTED_TABLES[paper]


def test_every_caption_in_papers_is_expected():
    for paper, text in _paper_texts().items():
        found = {f"Table {m}" for m in CAPTION.findall(text)}
        assert found, f"{paper}: no table captions found (regex broken?)"
        missing = found - set(EXPECTED_TABLES[paper])
        assert not missing, f"{paper}: captions {missing} not in EXPECTED_TABLES"


def test_quotes_are_verbatim():
    # quotes are stored whitespace-collapsed, so compare against collapsed text
    texts = {p: re.sub(r"\s+", " ", t) for p, t in _paper_texts().items()}
    claims = load_claims()
    bad = [(r.paper, r.source, r.row, r.column) for r in claims.itertuples()
           if r.quote not in texts[r.paper]]
    assert not bad, f"quotes not found verbatim: {bad[:5]}"


def test_every_paper_has_text_claims(claims):
    for paper in EXPECTED_TABLES:
        assert (~claims[claims.paper == paper].source.str.match(r"Table ")).any()


def test_spot_values():
    assert claim("p1", "Table 2", "Base+STN+SR", "CK+") == 97.8
    assert claim("p1", "Table 2", "Base", "FER2013") == 66.5
    assert claim("p3", "abstract", "ResNet", "accuracy (%)") == 60.00
    assert claim("p2", "Table 2", "ResNet50 + CNN", "Val Acc") == 0.857
    assert claim("p4", "Table 3", "The proposed Model", "Accuracy") == 74.923
    assert claim("p5", "Table 1", "Mean", "DRGFER") == 84.41
    assert claim("p1", "Figure 6", "STN on MNIST", "correct test images") == 9881


def test_claims_table_shape():
    t = claims_table("p1", "Table 2")
    assert list(t.index) == ["Base", "Base+STN", "Base+SR", "Base+STN+SR"]
    assert list(t.columns) == ["CK+", "FER2013"]
    assert t.loc["Base+STN+SR", "CK+"] == 97.8
    assert claims_table("p3", "Table I").shape == (7, 7)


def test_missing_claim_raises_helpful_keyerror():
    with pytest.raises(KeyError, match="rows:"):
        claim("p1", "Table 2", "Base+XYZ", "CK+")
    with pytest.raises(KeyError, match="sources of"):
        claim("p1", "Table 9", "Base", "CK+")


@pytest.mark.parametrize("patch,match", [
    ({"unit": "percents"}, "unit"),
    ({"kind": "guess"}, "kind"),
    ({"value": "97.8"}, "not a number"),
    ({"quote": ""}, "quote"),
])
def test_invalid_entry_raises(tmp_path, patch, match):
    good = {"paper": "p1", "source": "Table 2", "row": "Base", "column": "CK+", "value": 87.2,
            "unit": "percent", "dataset": "CK+", "kind": "result", "quote": "Base 87.2 66.5"}
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump([good, {**good, "row": "X", **patch}]))
    with pytest.raises(ValueError, match=match):
        load_claims(f)
    f.write_text(yaml.safe_dump([good, good]))
    with pytest.raises(ValueError, match="duplicate"):
        load_claims(f)
