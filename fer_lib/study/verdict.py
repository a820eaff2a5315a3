"""The study's one verdict policy: how a measured number is set beside a paper's claim, and what may be said.

Every notebook (through :func:`beside`) and the summary (through :func:`assess`) call the same function, so
they cannot disagree. The rules, in the order they apply:

1. **Comparable or nothing.** A verdict is given only where our run follows the paper's protocol and budget:
   - smoke profile → "not judged (synthetic data)"; no measurement → "not run (<reason>)";
   - cpu profile → "not comparable — cpu profile (cut budget: a pipeline check)". cpu rows never carry a
     verdict word ("claim met", "exceeded", "below", "reproduced") anywhere;
   - a record marked ``comparable=False`` (its ``deviation`` says why), a record measured on another dataset
     than the claim's, or a run without the pretraining the claim needs (``pretrained: true`` in the claims
     file, e.g. paper 2's ImageNet ResNet50) → "not comparable — <reason>".
2. **Tolerance from the measurement, never a fixed allowance.** The 95 % half-width combines the seed spread
   (Student t over seeds, only with >= 3 seeds) and the test set's binomial error 1.96·sqrt(p(1−p)/n) for
   accuracies (n = the record's optional ``n_test``, or the known size of the split / of the class for
   FER2013's PrivateTest and PublicTest). With fewer than 3 seeds the verdict says "single seed" and no
   interval is printed (the binomial term alone still decides, where n is known). An interval wider than
   5 pp that contains the claim → "inconclusive".
3. **Direction-aware words.** Two-sided claims: "claim met" (inside the interval), "claim exceeded" (better),
   "below the claim" (worse); times: lower is better. One-sided claims (``sided: at least|at most``, e.g.
   "more than 99 %") are met or missed, never "exceeded". Counts (data) "match" or "differ".
4. **Censored values are marked**: an epoch claim (e.g. "plateau at epoch 17") whose measured epoch is the
   run's last epoch is "censored (>= last epoch)", never judged as a number.
5. **Dispersions are compared as dispersions** (``measure: dispersion``, e.g. paper 4's σ): our σ's 95 %
   chi-square interval (>= 3 runs) against the paper's σ → "same spread" / "larger spread (×r)" / "smaller
   spread (×r)"; a CI half-width (``measure: halfwidth``) scales with 1/√runs, so it is shown, not judged.
6. **The paper's own inconsistencies first**: a cell the audit (fer_lib.study.claims_audit) finds inconsistent within
   the paper (e.g. a confusion-matrix row summing to 1.10) → "paper inconsistent — <check>"; ours is shown.
7. **Chance-level agreement is not a reproduction**: an off-diagonal confusion cell (``measure: confusion``)
   that is <= 0.02 in the paper and in ours, or any cell of a class our model never predicts →
   "uninformative — <why>".

:func:`category` maps each verdict to one of :data:`CATEGORIES`; the summary's counts add up to the number
of claims because every verdict falls in exactly one category.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

import pandas as pd

from .claims import claim

WIDE = {"percent": 5.0, "pp": 5.0, "fraction": 0.05}     # an interval wider than this says little
MIN_SEEDS = 3                                              # fewer seeds: "single seed", no interval
NEAR_ZERO = 0.02                                           # confusion cells below this agree by chance
CATEGORIES = ("claim met", "claim exceeded", "below the claim", "inconclusive", "paper inconsistent",
              "uninformative", "not comparable", "not run", "not judged")
VERDICT_WORDS = ("claim met", "claim exceeded", "below the claim", "reproduced", "same spread", "larger spread",
                 "smaller spread", "matches", "differs")
# Known test-set sizes, for the binomial term when a record does not carry n_test (FER2013's official splits).
SPLIT_SIZES = {("fer2013", "privatetest"): 3589, ("fer2013", "publictest"): 3589}
CLASS_SIZES = {("fer2013", "privatetest"): {"anger": 491, "angry": 491, "disgust": 55, "fear": 528, "happy": 879,
                                            "sad": 594, "surprise": 416, "neutral": 626}}


def to_unit(value: float, ours_unit: str, paper_unit: str) -> float:
    """Convert our value into the paper's unit (fractions ↔ percent; pp and percent are one scale)."""
    if ours_unit == paper_unit or value is None:
        return value
    pct = ("percent", "pp")
    if ours_unit in pct and paper_unit in pct:
        return value
    if ours_unit == "fraction" and paper_unit in pct:
        return value * 100
    if ours_unit in pct and paper_unit == "fraction":
        return value / 100
    raise ValueError(f"cannot compare a value in {ours_unit} with a paper value in {paper_unit}")


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _norm(name) -> str:
    return re.sub(r"[^a-z0-9+]", "", str(name or "").lower())


def binomial_half(p: float, n: int | None, unit: str) -> float:
    """95 % half-width of an accuracy measured on n test images, in `unit` (0 when n is unknown)."""
    if not n or unit not in ("percent", "fraction") or _missing(p):
        return 0.0
    scale = 100.0 if unit == "percent" else 1.0
    q = min(max(p / scale, 0.0), 1.0)
    return 1.96 * math.sqrt(q * (1 - q) / n) * scale


def _chi2_band(n: int) -> tuple[float, float]:
    """Multipliers (lo, hi) of a sample σ that bound the true σ at 95 % (n runs)."""
    from scipy.stats import chi2
    k = n - 1
    return math.sqrt(k / chi2.ppf(0.975, k)), math.sqrt(k / chi2.ppf(0.025, k))


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.2f}"


def judge(paper: float, ours: float | None, half: float | None = None, *, profile: str = "full",
          tol: float | None = None, unit: str = "percent", reason: str = "", n_seeds: int | None = None,
          n_test: int | None = None, measure: str | None = None, direction: str | None = None,
          sided: str = "two", comparable: bool = True, deviation: str = "", censored_at: float | None = None,
          inconsistent: str = "", uninformative: str = "") -> str:
    """The verdict of one number against one claim (rules in the module docstring).

    paper and ours in the paper's unit; half: our seed 95 % half-width (ignored with < 3 seeds when n_seeds is
    given); n_test: test images behind an accuracy; tol: an extra, explicit allowance (default none)."""
    measure = measure or {"ms": "time", "count": "count", "epochs": "epoch"}.get(unit, "mean")
    direction = direction or ("lower" if measure == "time" else "higher")
    if profile == "smoke":
        return "not judged (synthetic data)"
    if _missing(ours):
        reason = re.sub(r"^not run\W*", "", reason or "")
        return f"not run ({reason})" if reason else "not run"
    if profile == "cpu":
        return "not comparable — cpu profile (cut budget: a pipeline check)"
    if not comparable:
        return f"not comparable — {deviation or 'does not follow the paper protocol'}"
    if inconsistent:
        return f"paper inconsistent — {inconsistent}"
    if uninformative:
        return f"uninformative — {uninformative}"
    few = n_seeds is not None and n_seeds < MIN_SEEDS
    single = " (single seed)" if few else ""

    if measure == "halfwidth":
        return "not comparable — a CI half-width scales with 1/√runs: compare the σ instead"
    if measure == "dispersion":
        if n_seeds is None or n_seeds < MIN_SEEDS:
            return "inconclusive — a spread needs >= 3 runs"
        lo, hi = _chi2_band(int(n_seeds))
        ratio = ours / paper if paper else float("inf")
        if ours * lo <= paper <= ours * hi:
            return f"same spread (ours σ {_fmt(ours)}, 95 % CI {_fmt(ours * lo)}–{_fmt(ours * hi)})"
        return f"{'larger' if paper < ours * lo else 'smaller'} spread (×{ratio:.2g} the paper's σ)"
    if measure == "epoch" and censored_at is not None and ours >= censored_at:
        return f"inconclusive — censored (>= {censored_at:g}: the best epoch is the run's last)"
    if measure == "count":
        return "matches" if abs(ours - paper) < 1e-9 else f"differs (ours {'higher' if ours > paper else 'lower'})"
    if measure == "epoch":   # when something happens, not a score: no better or worse, only met or not
        t = 0.0 if few or _missing(half) else float(half)
        return ("claim met" if abs(ours - paper) <= t + (tol or 0.0) else
                f"differs (ours {'later' if ours > paper else 'earlier'})") + single

    seed_half = 0.0 if (few or _missing(half)) else float(half)
    t = math.hypot(seed_half, binomial_half(ours, n_test, unit)) + (tol or 0.0)
    d = ours - paper
    better = d > 0 if direction == "higher" else d < 0
    worse_word = "slower" if measure == "time" else ""
    if sided in ("at least", "at most"):
        ok = (ours + t >= paper) if sided == "at least" else (ours - t <= paper)
        return ("claim met" if ok else "below the claim") + single
    if abs(d) <= t:
        if t > WIDE.get(unit, float("inf")):
            return f"inconclusive — interval ± {_fmt(t)} too wide{single}"
        return "claim met" + single
    if better:
        return "claim exceeded" + (" (faster)" if measure == "time" else "") + single
    return "below the claim" + (f" ({worse_word})" if worse_word else "") + single


def category(verdict: str) -> str:
    """One of CATEGORIES for any verdict string (dispersion and count words map onto met/exceeded/below)."""
    v = verdict or ""
    for c in CATEGORIES:
        if v.startswith(c):
            return c
    if v.startswith(("same spread", "matches")):
        return "claim met"
    if v.startswith("smaller spread"):
        return "claim exceeded"
    if v.startswith(("larger spread", "differs")):
        return "below the claim"
    return "not judged"


def claim_meta(c: Mapping) -> dict:
    """The claim's judging metadata, with the defaults of the claims file (see fer_lib/study/paper_claims.yaml)."""
    get = (lambda k: c.get(k)) if isinstance(c, Mapping) else (lambda k: getattr(c, k, None))
    unit = get("unit")
    measure = get("measure")
    measure = measure if isinstance(measure, str) else {"ms": "time", "count": "count", "epochs": "epoch"}.get(unit, "mean")
    direction = get("direction")
    sided = get("sided")
    pretrained = get("pretrained")
    return {"measure": measure,
            "direction": direction if isinstance(direction, str) else ("lower" if measure == "time" else "higher"),
            "sided": sided if isinstance(sided, str) else "two",
            "pretrained": bool(pretrained) if isinstance(pretrained, bool) else None}


def n_test_of(rec: Mapping) -> int | None:
    """Test images behind a record's accuracy: its n_test, else the class or split size of FER2013's tests."""
    if rec.get("n_test"):
        return int(rec["n_test"])
    key = (_norm(rec.get("dataset")), _norm(str(rec.get("split", "")).split(" ")[0]))
    if " " in str(rec.get("split", "")).strip():   # "PrivateTest dedup" and the like: size unknown
        return None
    cls = CLASS_SIZES.get(key, {}).get(_norm(rec.get("row")))
    return cls or SPLIT_SIZES.get(key)


def assess(rec: Mapping | None, c: Mapping, *, inconsistent: str = "", uninformative: str = "",
           censored_at: float | None = None, n_runs: int | None = None, reason: str = "") -> dict:
    """Paper beside ours for one claim `c` (a claims-file row) and one record (or None): the columns shown by
    every table of the study (paper, ours, ±95% CI, n seeds, verdict), ours in the paper's unit."""
    meta = claim_meta(c)
    get = (lambda k: c.get(k)) if isinstance(c, Mapping) else (lambda k: getattr(c, k, None))
    pval, punit = float(get("value")), get("unit")
    if rec is None:
        return {"paper": pval, "ours": None, "±95% CI": None, "n seeds": 0,
                "verdict": judge(pval, None, reason=reason)}
    n = int(rec.get("n_seeds") or 0)
    try:
        ours = to_unit(rec["value"], rec.get("unit") or punit, punit) if not _missing(rec.get("value")) else None
        half = to_unit(rec.get("ci95"), rec.get("unit") or punit, punit) if not _missing(rec.get("ci95")) else None
    except ValueError as e:
        return {"paper": pval, "ours": rec.get("value"), "±95% CI": None, "n seeds": n,
                "verdict": f"not comparable — {e}"}
    comparable, deviation = rec.get("comparable", True), rec.get("deviation") or ""
    cds, rds = get("dataset"), rec.get("dataset")
    if comparable is not False and isinstance(cds, str) and cds and rds and _norm(cds) != _norm(rds):
        comparable, deviation = False, f"measured on {rds}, the claim is on {cds}"
    if comparable is not False and meta["pretrained"] and not rec.get("pretrained"):
        comparable, deviation = False, "no ImageNet weights: a random frozen backbone is not the paper's model"
    n_eff = n_runs if meta["measure"] == "dispersion" and n_runs else n
    verdict = judge(pval, ours, half, profile=rec.get("profile", "full"), unit=punit,
                    reason=reason or rec.get("note") or "", n_seeds=n_eff, n_test=n_test_of(rec),
                    measure=meta["measure"], direction=meta["direction"], sided=meta["sided"],
                    comparable=comparable is not False, deviation=deviation, censored_at=censored_at,
                    inconsistent=inconsistent, uninformative=uninformative)
    shown_half = half if n >= MIN_SEEDS and meta["measure"] not in ("dispersion", "halfwidth") else None
    return {"paper": pval, "ours": ours, "±95% CI": shown_half, "n seeds": n, "verdict": verdict}


def uninformative_cells(records: list[Mapping], claims: pd.DataFrame) -> dict[tuple, str]:
    """Confusion cells (measure: confusion) whose agreement says nothing: an off-diagonal cell near zero in the
    paper and in ours, or a cell in the column of a class our model never predicts. Keyed like claims."""
    out = {}
    conf = claims[claims.get("measure", pd.Series(index=claims.index, dtype=object)) == "confusion"] \
        if "measure" in claims else claims.iloc[0:0]
    if not len(conf):
        return out
    by_src = {}
    for r in records:
        if r.get("value") is None or _missing(r.get("value")):
            continue
        by_src.setdefault((r["paper"], r["source"]), []).append(r)
    for (paper, source), recs in by_src.items():
        cl = conf[(conf.paper == paper) & (conf.source == source)]
        if not len(cl):
            continue
        scale = 100.0 if cl.unit.iloc[0] == "percent" else 1.0
        col_sum = {}
        for r in recs:
            col_sum[r["column"]] = col_sum.get(r["column"], 0.0) + float(r["value"])
        paper_val = {(x.row, x.column): x.value / scale for x in cl.itertuples()}
        for r in recs:
            key = (paper, source, r["row"], r["column"])
            pv = paper_val.get((r["row"], r["column"]))
            if pv is None:
                continue
            ours = to_unit(float(r["value"]), r.get("unit") or "fraction", "fraction")
            if col_sum.get(r["column"], 1.0) == 0:
                out[key] = f"our model never predicts {r['column']}"
            elif r["row"] != r["column"] and pv <= NEAR_ZERO and ours <= NEAR_ZERO:
                out[key] = f"near-zero off-diagonal cell (≤ {NEAR_ZERO:g} in both): agreement by chance"
    return out


def beside(records: list[dict], paper: str, source: str, tol: float | None = None,
           claims_map: dict | None = None) -> pd.DataFrame:
    """Our records of one paper table next to the paper's cells: row, column, dataset, paper, ours, ±95% CI,
    n seeds, profile, verdict — by the same :func:`assess` the summary uses.

    claims_map maps our (row, column) to the paper's (row, column) where the names differ. `tol` is accepted
    for compatibility and ignored: tolerances come from the measurement (module docstring, rule 2)."""
    from .claims import load_claims
    from .claims_audit import inconsistent_cells
    cl = load_claims()
    cl = cl[(cl.paper == paper) & (cl.source == source)]
    bad = inconsistent_cells()
    mine = [r for r in records if r.get("paper") == paper and r.get("source") == source]
    chance = uninformative_cells(mine, cl)
    out = []
    for r in mine:
        prow, pcol = (claims_map or {}).get((r["row"], r["column"]), (r["row"], r["column"]))
        hit = cl[(cl.row == prow) & (cl.column == pcol)]
        base = {"row": r["row"], "column": r["column"], "dataset": r.get("dataset"), "profile": r.get("profile")}
        if not len(hit):
            out.append({**base, "paper": float("nan"), "ours": r.get("value"), "±95% CI": None,
                        "n seeds": r.get("n_seeds"), "verdict": "no paper value"})
            continue
        c = hit.iloc[0].to_dict()
        a = assess(r, c, inconsistent=bad.get((paper, source, prow, pcol), ""),
                   uninformative=chance.get((paper, source, r["row"], r["column"]), ""))
        out.append({**base, **a})
    cols = ["row", "column", "dataset", "paper", "ours", "±95% CI", "n seeds", "profile", "verdict"]
    return pd.DataFrame(out, columns=cols)


__all__ = ["judge", "beside", "assess", "category", "to_unit", "claim", "claim_meta", "CATEGORIES"]
