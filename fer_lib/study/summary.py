"""The study's verdict in one place: every result claim of the papers beside what the notebooks measured.

Reads only fer_lib/study/paper_claims.yaml and reports/<profile>/results/*.json, so it runs in seconds. A claim is
matched to a measured record by its key (paper, source, row, column) AND its dataset (a FERPlus number is
never set beside a RAF-DB claim); where several records match (the same cell on PrivateTest, PublicTest,
deduplicated test…), the first one a notebook wrote is the paper's protocol and the others are listed as "also
measured". Verdicts come from fer_lib.study.verdict.assess — the function every notebook's `beside` calls — so a
notebook and the summary cannot disagree. The summary notebook's own records are never read back.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

from .claims import load_claims
from .claims_audit import all_checks, inconsistent_cells
from ..core.io import atomic_write, atomic_write_text
from ..core.paths import project_root, reports_dir
from .results import read_results
from .verdict import CATEGORIES, _norm, assess, category, uninformative_cells

PAPER_NOTEBOOK = {"p1": "01", "p2": "02", "p3": "03", "p4": "04", "p5": "05"}
KEY = ["paper", "source", "row", "column"]
# Full citations as the copies we hold give them (title, authors, venue where the text names one).
CITATION = {
    "p1": "C. Wu, E. Finch, *Enhancing Facial Expression Recognition Accuracy Through Spatial Transformation and "
          "Super-Resolution Preprocessing*, University of Delaware (venue not named in our copy)",
    "p2": "ResNet50 transfer learning for 48×48 FER2013 (frozen ImageNet ResNet50 + CNN head; title, authors and "
          "venue not printed in our copy)",
    "p3": "Y. Zhao, *Facial Expression Recognition Based on Various Deep Neural Networks*, Khoury College of "
          "Computer Sciences, Northeastern University (course report)",
    "p4": "N. Khan, A. V. Singh, R. Agrawal, *Enhancing Feature Extraction Technique Through Spatial Deep Learning "
          "Model for Facial Emotion Detection*, AETiC 2023",
    "p5": "S. Wang, X. Li, T. Jiang, Y. Xie, *Dynamic Resolution Guidance for Facial Expression Recognition*, "
          "UESTC (venue not named in our copy)",
}
# The claims each paper is known by (the README's one row per paper).
MAIN_CLAIMS = {   # paper: [(source, row, column, label shown)]
    "p1": [("Table 2", "Base+STN+SR", "FER2013", "STN+SR FER2013"), ("Table 2", "Base+STN+SR", "CK+", "STN+SR CK+")],
    "p2": [("Table 2", "ResNet50 + CNN", "Val Acc", "ResNet50+CNN FER2013")],
    "p3": [("abstract", "CNN", "accuracy (%)", "CNN"), ("abstract", "VGG", "accuracy (%)", "VGG"),
           ("abstract", "ResNet", "accuracy (%)", "ResNet18")],
    "p4": [("Table 3", "The proposed Model", "Accuracy", "FER2013"), ("Table 5", "The proposed Model", "Accuracy", "CK+"),
           ("Table 6", "The proposed Model", "Accuracy", "FERG")],
    "p5": [("Table 2", "Mean", "DRGFER", "DRGFER FERPlus mean ×1–×8"), ("Table 1", "Mean", "DRGFER", "RAF-DB mean")],
}
NOTEBOOK_FILE = {"p1": "01_wu_finch_stn_sr", "p2": "02_resnet50_transfer", "p3": "03_zhao_cnn_vgg_resnet",
                 "p4": "04_khan_spatial_deep_learning", "p5": "05_wang_drgfer"}
# What a verdict still needs besides GPU time; the runs and their estimated GPU hours come from the campaign's
# plans (`open_runs`), never from this text.
OPEN = {
    "p1": "the full profile (the paper's 60 epochs at batch 16, EDSR ×2/×4, 3 seeds)",
    "p2": "ImageNet ResNet50 weights (-p resnet_weights=PATH or the torch hub cache) and the full profile (3 seeds); "
          "without them no verdict on the ResNet50 claims is possible",
    "p3": "seeds 1 and 2 of the full profile (seed 0 ran on a lent H100 before the run store, so the plan counts it again)",
    "p4": "the full profile (300 epochs; the lr grid first, then 15 seeds per dataset and the ablations); FERG data",
    "p5": "the full profile (80 epochs at 100 px, 3 seeds); RAF-DB data for Tables 1 and 3",
}


def open_runs(profile: str = "full") -> pd.DataFrame:
    """Per paper: the plan's runs not yet stored and their estimated GPU hours (`python -m fer_lib.campaign
    status`; costs from fer_lib/runs/costs.yaml, most of them scaled from CPU figures until a GPU measures them).
    Empty when the plans cannot be read here."""
    try:
        from ..runs.campaign import collect, status_table, totals
        from ..runs.store import Store
        t = totals(status_table(collect(profile, errors=[]), Store.for_profile(profile)))
    except Exception:   # no data here, or a plan module that fails: the README then shows the text alone
        return pd.DataFrame()
    by_paper = {v[:2]: k for k, v in NOTEBOOK_FILE.items()}   # status rows are keyed by notebook number ("04")
    rows = {by_paper[nb[:2]]: r for nb, r in t.iterrows() if nb[:2] in by_paper}
    return pd.DataFrame.from_dict(rows, orient="index")


# Where our runs differ from the papers' protocols (stated in each notebook's choices table); the records'
# own `deviation` fields are added to these in the README.
DEVIATIONS = {
    "p1": "MNIST: the 5,000-image training subset (not 60,000); CK+: subject-grouped folds (the paper trains and tests "
          "on the same 327 images: shown as its own row); the LR halving every 2×10⁵ minibatches never fires for the 60-epoch FER2013 classifier",
    "p2": "no ImageNet weights offline: the frozen ResNet50 is random (not the paper's model) unless resnet_weights=PATH; "
          "the committed cpu run has one seed",
    "p3": "the paper states neither the CNN's nor ResNet18's epochs (30 / 60 are a reading); full profile run with "
          "1 of 3 seeds",
    "p4": "the paper's lr 0.03 collapses the network in a short probe; the main runs use an lr chosen on validation "
          "from 3e-4 / 1e-3 / 3e-3 (1e-3 in the cpu run); CK+ split by subject, the paper's random split shown as its "
          "own row; the cpu run has 3 seeds where the paper has 15 (the full plan has 15); FERG absent",
    "p5": "FERPlus majority labels (25,060 training faces where the paper lists FER2013's 28,709); RAF-DB absent; "
          "the committed cpu run has one seed",
}
EXTRA_SOURCES = ("protocol", "clean test", "resolution")


def _docs(profile: str, root: Path | None) -> dict[str, dict]:
    folder = reports_dir(profile, root) / "results"
    return {f.stem: json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))} if folder.exists() else {}


def _measured(profile: str, root: Path | None) -> pd.DataFrame:
    res = read_results(profile, root)
    if len(res):
        res = res[~res.notebook.str.endswith("_summary")]   # the summary's own copies are not measurements
    return res


def _censor_points(docs: dict) -> dict[str, float]:
    """{model row: epochs it ran} from each results file's budget (an epoch claim equal to it is censored)."""
    out = {}
    for d in docs.values():
        ep = (d.get("budget") or {}).get("epochs")
        if isinstance(ep, dict):
            out.update({str(k): float(v) for k, v in ep.items() if isinstance(v, (int, float))})
    return out


def _record(row: pd.Series) -> dict:
    r = {k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else v) for k, v in row.items()}
    return r


def _named(a: dict) -> dict:
    """assess() names the paper's value "paper" (the notebooks' column); here "paper" is the paper's id."""
    a = dict(a)
    a.pop("paper", None)
    return a


def claims_vs_results(profile: str, root: Path | None = None, kinds=("result",)) -> pd.DataFrame:
    """One row per paper claim of the given kinds: paper value, ours (mean ± CI, n seeds), verdict, category."""
    res = _measured(profile, root)
    recs = [_record(r) for _, r in res.iterrows()] if len(res) else []
    ran = {r["notebook"][:2] for r in recs}
    return judge_records(recs, profile, kinds=kinds, censor=_censor_points(_docs(profile, root)), ran=ran)


def judge_records(recs: list[dict], profile: str, *, kinds=("result",), papers=None, censor: dict | None = None,
                  ran: set | None = None) -> pd.DataFrame:
    """Every claim (of `kinds`, of `papers`) beside the records that measure it — the summary's table, also
    usable on one notebook's `run.records` (see `at_a_glance`)."""
    cl = load_claims()
    cl = cl[cl.kind.isin(kinds) & (cl.paper.isin(papers) if papers else True)].reset_index(drop=True)
    bad = inconsistent_cells()
    chance = uninformative_cells(recs, load_claims())
    censor = censor or {}
    rows = []
    for c in cl.to_dict("records"):
        key = (c["paper"], c["source"], c["row"], c["column"])
        base = {"paper": c["paper"], "source": c["source"], "row": c["row"], "column": c["column"],
                "dataset": c["dataset"], "paper value": c["value"], "unit": c["unit"]}
        same = [r for r in recs if (r["paper"], r["source"], r["row"], r["column"]) == key]
        # smoke data are synthetic stand-ins for every dataset: no dataset to match (they are never judged)
        hits = [r for r in same if profile == "smoke" or not isinstance(c["dataset"], str)
                or _norm(r.get("dataset")) == _norm(c["dataset"])]
        if not hits:
            if same:
                why = f"measured only on {', '.join(sorted({str(r.get('dataset')) for r in same}))}"
            elif ran is None:
                why = "not measured"
            else:
                why = "not measured by its notebook" if PAPER_NOTEBOOK.get(c["paper"]) in ran else "notebook not run"
            a = _named(assess(None, c, reason=why))
            rows.append({**base, **a, "category": category(a["verdict"]), "profile": profile, "hardware": "",
                         "split": "", "also measured": ""})
            continue
        h = hits[0]
        n_runs = max((int(r.get("n_seeds") or 0) for r in recs if (r["paper"], r["source"], r["row"]) == key[:3]), default=None)
        a = _named(assess(h, c, inconsistent=bad.get(key, ""), uninformative=chance.get(key, ""),
                          censored_at=censor.get(c["row"]) if c["unit"] == "epochs" else None, n_runs=n_runs))
        also = "; ".join(f"{x.get('split') or x.get('dataset')}: {x['value']:.4g}" for x in hits[1:] if x.get("value") is not None)
        rows.append({**base, **a, "category": category(a["verdict"]), "profile": h.get("profile", profile),
                     "hardware": h.get("hardware") or "", "split": h.get("split") or "", "also measured": also})
    return pd.DataFrame(rows)


def at_a_glance(records: list[dict], paper: str, profile: str) -> tuple[pd.DataFrame, str]:
    """A notebook's "at a glance": its paper's main claims (claim · paper · ours · verdict) from its own records,
    and one sentence of verdict generated from the numbers — by the same policy as the summary."""
    t = judge_records(list(records), profile, papers=[paper])
    rows = []
    for src, row, col, label in MAIN_CLAIMS.get(paper, []):
        hit = t[(t.source == src) & (t.row == row) & (t.column == col)]
        if len(hit):
            rows.append({**hit.iloc[0].to_dict(), "row": label})
    glance = pd.DataFrame([{"claim": f"{r['row']} ({r['source']})", "paper": f"{_pp(r['paper value'], r['unit']):.2f} %",
                            "ours": (f"{_pp(r['ours'], r['unit']):.2f} %" + (f" ± {_pp(r['±95% CI'], r['unit']):.2f}"
                                     if pd.notna(r.get("±95% CI")) else "") + f" (n={int(r['n seeds'])})")
                            if r["n seeds"] > 0 else "—", "verdict": r["verdict"]} for r in rows])
    return glance, _plain(rows)


def counts(table: pd.DataFrame) -> pd.DataFrame:
    """Claims per paper and verdict category; the "total" column equals the number of claims of the paper."""
    cat = table["category"] if "category" in table else table.verdict.map(category)
    t = pd.crosstab(table.paper, cat).reindex(columns=list(CATEGORIES), fill_value=0)
    t["total"] = t.sum(axis=1)
    return t


def headline(table: pd.DataFrame) -> str:
    """One sentence of counts that adds up to the number of claims."""
    c = counts(table).sum()
    parts = [f"{int(c[k])} {k}" for k in CATEGORIES if c.get(k, 0)]
    return f"{len(table)} result claims: " + ", ".join(parts) + f" (sum {int(c['total'])})"


def _pp(x, unit) -> float:
    """A value in percentage points (fractions × 100)."""
    return 100 * x if unit == "fraction" else x


def _plain(rows: list[dict]) -> str:
    """The verdict on a paper's main claims in plain words, from their categories and differences."""
    cats = [r["category"] for r in rows]
    if not rows:
        return "—"
    judged = {"claim exceeded", "below the claim", "claim met", "inconclusive"}
    if not judged & set(cats):
        cpu = [r["row"] for r in rows if "cpu profile" in r["verdict"]]
        other = [f"{r['row']} {r['verdict']}" for r in rows if "cpu profile" not in r["verdict"]]
        return "; ".join((["no verdict: cpu pipeline check only (full profile not run)"] if cpu else []) + other)
    single = any("single seed" in r["verdict"] for r in rows)
    frags = []
    for r in rows:
        c = r["category"]
        if c in ("claim exceeded", "below the claim", "claim met") and r["unit"] in ("percent", "fraction", "pp"):
            frags.append(f"{r['row']} {_pp(r['ours'] - r['paper value'], r['unit']):+.1f} pp")
        else:
            frags.append(f"{r['row']}: {r['verdict'].split(' (single seed)')[0]}")
    lead = cats[0] if len(set(cats)) == 1 and cats[0] in ("claim exceeded", "below the claim", "claim met") else ""
    words = {"claim exceeded": "all above the paper's numbers", "below the claim": "all below the paper's numbers",
             "claim met": "claims met"}
    return (f"{words[lead]}: " if lead else "") + ", ".join(frags) + ("; single seed" if single else "")


def findings(profiles=("full", "cpu"), root: Path | None = None) -> pd.DataFrame:
    """One row per paper: its main claims, ours from the most faithful profile that measured them, the verdict
    in plain words (never for a cpu row), and its report."""
    tables = {p: claims_vs_results(p, root) for p in profiles}
    out = []
    for paper, keys in MAIN_CLAIMS.items():
        rows = []
        for src, row, col, label in keys:
            hit = None
            for p in profiles:
                t = tables[p]
                h = t[(t.paper == paper) & (t.source == src) & (t.row == row) & (t.column == col)]
                if len(h) and (hit is None or h.iloc[0]["n seeds"] > 0 or "notebook not run" in hit["verdict"]):
                    hit = h.iloc[0].to_dict()
                if hit is not None and hit["n seeds"] > 0:
                    break
            if hit is not None:
                rows.append({**hit, "row": label})
        measured = [r for r in rows if r["n seeds"] > 0]
        claims = " · ".join(f"{r['row']} {_pp(r['paper value'], r['unit']):.2f}" for r in rows)
        ds = list(dict.fromkeys(str(r["dataset"]) for r in rows))
        by_ds = f" ({ds[0]})" if len(ds) == 1 and not any(ds[0] in r["row"] for r in rows) else ""
        ours = " · ".join(f"{r['row']} {_pp(r['ours'], r['unit']):.2f}"
                          + (f" ± {_pp(r['±95% CI'], r['unit']):.2f}" if pd.notna(r.get("±95% CI")) else "")
                          for r in measured)
        ns = sorted({int(r["n seeds"]) for r in measured})
        hw = "; ".join(dict.fromkeys(f"{r['profile']}, {_short_hw(r['hardware'])}" for r in measured))
        out.append({"paper": f"**{paper[1]}** {CITATION[paper]}", "main claims, % (paper)": f"{claims}{by_ds}",
                    "ours, % (± 95 % CI)": (f"{ours} (n={'/'.join(map(str, ns))})" if ours else "—"),
                    "profile, hardware": hw or "—", "verdict": _plain(rows), "report": NOTEBOOK_FILE[paper]})
    return pd.DataFrame(out)


def _short_hw(h: str) -> str:
    h = (h or "").split(";")[0]
    m = re.search(r"(H100|H200|A100|V100|L4|T4|RTX \S+)", h)
    return m.group(1) if m else ("CPU, 2 cores" if h.startswith("CPU") and "2 cores" in h else h.replace("GPU ", ""))


def protocol_table(results: pd.DataFrame) -> pd.DataFrame:
    """The common protocol's records (notebook 06) as one table: a row per model, a column per test view
    (PrivateTest, clean, duplicates, each degradation factor, mean over factors), in % as "mean ± CI (n)";
    "comparable" says whether the model is the paper's (paper 2 without ImageNet weights is not) and "rank"
    ranks only the comparable models by PrivateTest accuracy. Empty when no notebook recorded the protocol."""
    if not len(results):
        return pd.DataFrame()
    r = results[results.source.isin(EXTRA_SOURCES)]
    if not len(r):
        return pd.DataFrame()
    needs_weights = set(load_claims().query("pretrained == True").paper)

    def cell(x):
        ci = f" ± {100 * x.ci95:.2f}" if (x.n_seeds or 0) >= 3 and pd.notna(x.ci95) and x.ci95 else ""
        return f"{100 * x.value:.2f}{ci} (n={int(x.n_seeds)})"

    r = r.assign(view=[s.split(" ", 1)[1] if s.startswith("PrivateTest ") else s for s in r.split],
                 text=[cell(x) for x in r.itertuples()])
    r.loc[r.column == "mean accuracy x1-x8", "view"] = "mean x1-x8"
    order = list(dict.fromkeys(r.view))
    t = r.pivot_table(index=["paper", "row"], columns="view", values="text", aggfunc="first")
    t = t[[c for c in order if c in t.columns]].rename_axis(index=["paper", "model"], columns=None)
    main = r[r.view == order[0]].groupby(["paper", "row"]).agg(value=("value", "first"), pre=("pretrained", "first"))
    ok = [not (p in needs_weights and not bool(pre)) for (p, _), pre in zip(main.index, main.pre)]
    main["comparable"] = ["yes" if o else "no — random backbone (no ImageNet weights)" for o in ok]
    ranked = main[ok].value.rank(ascending=False, method="min")
    t.insert(0, "comparable", main.reindex(t.index).comparable)
    t.insert(0, "rank", [f"{ranked[i]:.0f}" if i in ranked.index and pd.notna(ranked[i]) else "—" for i in t.index])
    return t.sort_values("rank", key=lambda s: s.replace("—", "99").astype(int))


def markdown_table(df: pd.DataFrame) -> str:
    """A plain GitHub markdown table (no tabulate dependency)."""
    cols = list(df.columns)
    esc = lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v).replace("|", "\\|")
    out = ["| " + " | ".join(map(esc, cols)) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(esc(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(out)


def write_cells(profile: str, root: Path | None = None, table: pd.DataFrame | None = None) -> tuple[Path, Path]:
    """The per-cell table (every result claim, paper beside ours, verdict) as reports/<profile>/claims.csv and
    a light claims.html, atomically."""
    t = claims_vs_results(profile, root) if table is None else table
    out = reports_dir(profile, root)
    out.mkdir(parents=True, exist_ok=True)
    cols = ["paper", "source", "row", "column", "dataset", "paper value", "unit", "ours", "±95% CI", "n seeds",
            "verdict", "category", "split", "hardware", "also measured"]
    csv, page = out / "claims.csv", out / "claims.html"
    atomic_write(csv, lambda f: t[cols].to_csv(f, index=False, float_format="%.6g"), "w")
    shown = t[t["n seeds"] > 0][cols[:6] + ["ours", "±95% CI", "n seeds", "verdict", "split"]]
    body = shown.to_html(index=False, na_rep="", float_format=lambda x: f"{x:.4g}", border=0)
    c = counts(t)
    c = c.loc[:, (c != 0).any(axis=0)]
    doc = (f'<!doctype html><html><head><meta charset="utf-8"><title>Claims beside ours — profile {profile}</title>'
           "<style>body{font-family:sans-serif;margin:2em;max-width:100em}table{border-collapse:collapse;font-size:.85em}"
           "td,th{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:left}</style></head><body>"
           f'<p><a href="index.html">← index</a></p><h1>Every result claim beside ours — profile <code>{profile}</code></h1>'
           f"<p>{html.escape(headline(t))}. The verdict policy is in <code>fer_lib/study/verdict.py</code> (README, "
           f"'Verdict policy'); the full list including unmeasured claims is <a href=\"claims.csv\">claims.csv</a>.</p>"
           f"{c.to_html(border=0)}<h2>Measured claims</h2>{body}</body></html>")
    atomic_write_text(page, doc)
    return csv, page


def update_readme(markdown: str, root: Path | None = None) -> Path:
    """Replace the README's results block (between the results:start/end markers) atomically."""
    path = (root or project_root()) / "README.md"
    text = path.read_text()
    new, n = re.subn(r"(<!-- results:start -->\n).*?(\n<!-- results:end -->)", lambda m: m.group(1) + markdown + m.group(2),
                     text, flags=re.S)
    if n != 1:
        raise ValueError(f"{path}: expected one '<!-- results:start -->' … '<!-- results:end -->' block, found {n}")
    return atomic_write_text(path, new)


def readme_block(profiles=("full", "cpu"), root: Path | None = None) -> str:
    """The README's generated results block: findings (one row per paper), the papers' inconsistencies, the
    one-protocol leaderboard and the counts per profile; the per-cell tables go to reports/<profile>/claims.*"""
    parts = ["#### Findings on one screen", "",
             "Verdicts only from the full profile (the papers' budgets, on a GPU); cpu numbers are pipeline checks "
             "and carry none. *single seed*: fewer than 3 seeds, no interval shown; the test set's binomial error "
             "still counts.", ""]
    f = findings(profiles, root)
    f["report"] = [_report_link(nb, profiles, root) for nb in f.report]
    parts += [markdown_table(f), ""]
    dev = []
    for paper, text in DEVIATIONS.items():
        own = set()
        for p in profiles:
            res = _measured(p, root)
            if len(res) and "deviation" in res:
                own |= {d for d in res[res.paper == paper].deviation.dropna() if d}
        dev.append({"paper": paper[1], "where our runs deviate from the paper": "; ".join([text, *sorted(own)])})
    parts += ["Deviations (each notebook's choices table has the full list):", "", markdown_table(pd.DataFrame(dev)), ""]
    audit = all_checks()
    bad = audit[~audit.consistent]
    parts += ["#### The papers against themselves", "",
              f"Computed from the papers' own numbers (`fer_lib/study/claims_audit.py`, compared at the printed precision): "
              f"{int((bad.category == 'internal').sum())} internal contradictions, {int((bad.category == 'external').sum())} "
              f"disagreement(s) with the datasets' published facts, {int((bad.category == 'plausibility').sum())} plausibility "
              f"concerns (kept apart: possible, but far from what the field reports) and {int((bad.category == 'unsupported').sum())} "
              "claims no experiment of the paper measures. The full list is section 2 of the summary report.", "",
              markdown_table(audit_digest(bad)), ""]
    for p in profiles:
        res = _measured(p, root)
        if not len(res):
            continue
        board = protocol_table(res)
        if len(board):
            parts += [f"#### One protocol, every paper's main FER2013 model (`06_common_protocol`, profile `{p}`)", "",
                      ("cpu profile: a pipeline check under cut budgets; the ranking is indicative only. " if p == "cpu" else "")
                      + "Accuracy in %; a model that is not the paper's (no ImageNet weights) is shown but not ranked.", "",
                      markdown_table(board.reset_index()), ""]
    for p in profiles:
        res = _measured(p, root)
        if not len(res):
            continue
        t = claims_vs_results(p, root)
        write_cells(p, root, t)
        parts += [f"Profile `{p}`: {headline(t)}. Every cell: [reports/{p}/claims.html](reports/{p}/claims.html) "
                  f"([CSV](reports/{p}/claims.csv)).", ""]
    todo = open_runs("full")
    rows = []
    for k, v in OPEN.items():
        row = {"paper": k[1], "what a verdict needs": v}
        if k in todo.index:
            r = todo.loc[k]
            row.update({"full-profile runs to do": f"{int(r['runs'] - r['stored'])} of {int(r['runs'])}",
                        "est. GPU hours": f"{r['GPU h to run']:.1f}"})
        rows.append(row)
    parts += ["#### Still open", "", markdown_table(pd.DataFrame(rows)), ""]
    if len(todo):
        parts += ["Runs and hours: `python -m fer_lib.campaign status --profile full` (estimated GPU hours at today's "
                  "engine speed, from `fer_lib/runs/costs.yaml`; only paper 3's models were timed on a GPU, the other "
                  "costs are scaled from CPU figures).", ""]
    return "\n".join(parts).rstrip()


def audit_digest(bad: pd.DataFrame, per_paper: int = 3) -> pd.DataFrame:
    """One row per paper: how many checks fail per category and the first few internal ones, in words."""
    rows = []
    for paper, g in bad.groupby("paper"):
        internal = g[g.category == "internal"]
        shown = "; ".join(internal.check.head(per_paper))
        more = len(internal) - per_paper
        rows.append({"paper": paper[1], "internal": len(internal), "examples": shown + (f"; … {more} more" if more > 0 else ""),
                     "plausibility": "; ".join(g[g.category == "plausibility"].check) or "—",
                     "unsupported": "; ".join(g[g.category == "unsupported"].check) or "—"})
    return pd.DataFrame(rows)


def _report_link(nb: str, profiles, root) -> str:
    base = root or project_root()
    links = [f"[{p}](reports/{p}/{nb}.html)" for p in profiles if (base / "reports" / p / f"{nb}.html").exists()]
    return ", ".join(links) or "—"
