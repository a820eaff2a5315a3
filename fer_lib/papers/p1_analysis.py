"""Paper 1's analyses: Wu & Finch, "Enhancing Facial Expression Recognition Accuracy Through Spatial Transformation
and Super-Resolution Preprocessing" — what notebook 01 shows and records, computed from the stored runs of
`p1_wu_finch.plan` (the runs, recipe and hooks live there; nothing here changes a run key).

One function per table or claim of the paper, in the notebook's order: Table 1 and §4.1 (dataset counts), Figs 5-6
(the STN on MNIST), §3.2 / §4.2 (EDSR x2 -> x4, L1 vs L2: PSNR/SSIM against bicubic), Table 2 (Base, +STN, +SR,
+STN+SR on CK+ and FER2013, with our bicubic controls and the paper's CK+ protocol) and the gains §4.2 states.
A `*_claims` function returns the rows to record (`run.record(**row)` each); the others return tables, text or
figures. Readings where the paper is vague are the notebook's choices table; here they are only named.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.metrics import fmt_ci, mean_ci
from ..models.pipeline import ARMS, CONTROLS, VARIANTS
from ..study.claims import claim, claims_table
from ..study.verdict import beside, judge
from . import p1_wu_finch as p1

PAPER = p1.PAPER
SMOKE_NAMES = {"MNIST": "synthetic (MNIST stand-in)", "FER2013": "synthetic (FER2013 stand-in)",
               "CK+": "synthetic (CK+ stand-in)"}
MNIST_ARMS = {True: "Figure 6 · with STN", False: "Figure 6 · without STN"}
PP = "CK+ (paper's protocol: train = test)"      # its own column, judged against the paper's CK+ cell
PP_MAP = {(a, PP): (a, "CK+") for a in VARIANTS}
GAINS = [("Base+STN", "Base"), ("Base+SR", "Base"), ("Base+SR", "Base+STN")]   # the gains §4.2 states
CONTROL_PAIRS = (("Base+SR", "Base+bicubic"), ("Base+STN+SR", "Base+STN+bicubic"))


def _claim(source, row, column, values, **kw) -> dict:
    return {"paper": PAPER, "source": source, "row": row, "column": column, "values": values, **kw}


def display_options() -> None:
    """pandas display widths of the notebook's tables (long notes and verdicts shown whole)."""
    pd.set_option("display.max_colwidth", 120, "display.width", 200, "display.max_rows", 200)


# ------------------------------------------------------------------------------------------------ stored runs
def _stored(runs, arm: str):
    """[(spec, record)] of an arm's stored runs (fer_lib.runs.Runs), in plan order."""
    return [(p.spec, r) for p, r in zip(runs.planned, runs.records) if p.spec.arm == arm and r is not None]


def weights(runs, store, spec) -> str:
    """Path of a stored run's kept weights (the EDSR and STN runs keep theirs)."""
    key = next(p.key for p in runs.planned if p.spec is spec)
    folder = store.find_artefacts(key)
    if folder is None:
        raise FileNotFoundError(f"{spec.label}: its weights ({key}) are not in {store.artefacts}")
    return str(folder / "weights.pt")


# ------------------------------------------------------------------------------------------------ Table 1, §4.1
# Table 1's row names -> canonical class names of fer_lib.data.
PAPER_ROW = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy", "neutral": "neutral",
             "sadness": "sad", "surprise": "surprise", "contempt": "contempt"}
# Our column beside each of Table 1's: CK+ = the whole labelled set (the paper lists it as both train and test);
# FER2013: Training beside "train", PrivateTest (our Table 2 test split) beside "test".
T1_COLUMNS = {"CK+ train": ("ours CK+ (whole set)", "CK+"), "CK+ test": ("ours CK+ (whole set)", "CK+"),
              "FER2013 train": ("ours FER2013 Training", "FER2013"),
              "FER2013 test": ("ours FER2013 PrivateTest", "FER2013")}


def datasets(profile: str, data_root, ck_peak_frames: int = 1):
    """(mnist, fer2013, ck, ck_table1, names): the data the plan's runs use. ck_table1 is CK+ with one peak frame
    per labelled sequence (Table 1's 327 images); ck has `ck_peak_frames` per sequence. names: how each dataset is
    named in the records (smoke: synthetic stand-ins of the same shapes, `p1_wu_finch.SMOKE_DATA`)."""
    if profile == "smoke":
        from ..data.synthetic import make_synthetic
        mnist, fer, ck = (make_synthetic(**p1.SMOKE_DATA[k]) for k in ("mnist", "fer2013", "ckplus"))
        return mnist, fer, ck, ck, dict(SMOKE_NAMES)
    from ..data import load
    mnist, fer = load("mnist", data_root), load("fer2013", data_root)
    ck_table1 = load("ckplus", data_root, peak_frames=1)        # one image per labelled sequence
    ck = load("ckplus", data_root, peak_frames=ck_peak_frames)
    return mnist, fer, ck, ck_table1, {"MNIST": "MNIST", "FER2013": "FER2013", "CK+": "CK+"}


def table1(ck, fer) -> pd.DataFrame:
    """Table 1 (the paper's counts) beside ours: CK+ whole set, FER2013 Training / PublicTest / PrivateTest."""
    paper = claims_table(PAPER, "Table 1")
    ck_counts, fer_counts = ck.counts(), fer.counts()

    def count(table, row, split):
        cls = PAPER_ROW.get(row, "total")
        return int(table.loc[cls, split]) if cls in table.index else 0
    ours = pd.DataFrame({"ours CK+ (whole set)": [count(ck_counts, r, ck.splits[0]) for r in paper.index],
                         **{f"ours FER2013 {sp}": [count(fer_counts, r, sp) for r in paper.index]
                            for sp in ("Training", "PublicTest", "PrivateTest")}}, index=paper.index)
    return pd.concat([paper.add_prefix("paper "), ours], axis=1)


def table1_claims(table1: pd.DataFrame, names: dict) -> list[dict]:
    """Table 1: each of the paper's counts beside ours (`p1_wu_finch.T1_COLUMNS` says which of ours); cells the
    paper prints as "-" (neutral in CK+) are left out."""
    out = []
    for row in table1.index:
        for col, (ours_col, dname) in T1_COLUMNS.items():
            if np.isnan(table1.loc[row, f"paper {col}"]):
                continue
            out.append(_claim("Table 1", row, col, table1.loc[row, ours_col], unit="count", dataset=names[dname],
                              split=ours_col.replace("ours ", ""),
                              note="whole labelled CK+ set, one peak frame per sequence" if dname == "CK+"
                              else "official split"))
    return out


def table1_checks() -> pd.DataFrame:
    """The paper against itself (sums, totals, the text of §4.1) and against the official FER2013 release."""
    from ..study.claims_audit import FER2013_OFFICIAL, p1_checks
    t1 = claims_table(PAPER, "Table 1")
    say = lambda col: claim(PAPER, "text §4.1", "FER2013", col)   # noqa: E731
    own = [{"check": c["check"], "the paper says": c["the paper says"], "computed": c["computed from the paper"],
            "consistent": c["consistent"]} for c in p1_checks() if c["check"].startswith("Table 1")]
    n_tr, n_pub, n_all = say("Training images"), say("PublicTest = PrivateTest images (each)"), say("total images")
    official = (FER2013_OFFICIAL["total"], FER2013_OFFICIAL["Training"], FER2013_OFFICIAL["PublicTest"])
    own += [
        {"check": "text: FER2013 total = Training + PublicTest + PrivateTest", "the paper says": f"{n_all:g}",
         "computed": f"{n_tr:g} + 2 × {n_pub:g} = {n_tr + 2 * n_pub:g}", "consistent": n_all == n_tr + 2 * n_pub},
        {"check": "Table 1 FER2013 train total vs the text's Training count",
         "the paper says": f"{t1.loc['Total', 'FER2013 train']:g}", "computed": f"text: {n_tr:g}",
         "consistent": t1.loc["Total", "FER2013 train"] == n_tr},
        {"check": "Table 1 FER2013 test total vs the text's test split size",
         "the paper says": f"{t1.loc['Total', 'FER2013 test']:g}", "computed": f"text: {n_pub:g} each",
         "consistent": t1.loc["Total", "FER2013 test"] == n_pub},
        {"check": "text FER2013 counts vs the official release", "the paper says": f"{n_all:g} / {n_tr:g} / {n_pub:g}",
         "computed": "official {} / {} / {}".format(*official), "consistent": (n_all, n_tr, n_pub) == official},
        {"check": "Table 1 FER2013 neutral (train) vs happiness, the largest official class", "the paper says":
         f"neutral {t1.loc['neutral', 'FER2013 train']:g} > happiness {t1.loc['happiness', 'FER2013 train']:g}",
         "computed": "official Training: neutral 4965 < happy 7215", "consistent": False},
        {"check": "Table 1 CK+ disgust train vs test (every other class has train = test)", "the paper says":
         f"{t1.loc['disgust', 'CK+ train']:g} vs {t1.loc['disgust', 'CK+ test']:g}",
         "computed": "equal if train = test = all 327",
         "consistent": t1.loc["disgust", "CK+ train"] == t1.loc["disgust", "CK+ test"]},
        {"check": "Table 1 CK+: train = test (same images for training and testing?)", "the paper says":
         f"{t1.loc['Total', 'CK+ train']:g} = {t1.loc['Total', 'CK+ test']:g}",
         "computed": f"text: {claim(PAPER, 'text §4.1', 'CK+', 'labelled sequences'):g} labelled sequences in all",
         "consistent": False},
    ]
    return pd.DataFrame(own)


def data_note(ck_table1, fer) -> str:
    """§4.1's counts against the data here: CK+ sequences and subjects, FER2013 images per split."""
    n_subj = len(set(ck_table1.groups.tolist()))
    return (f"CK+ here: {len(ck_table1)} labelled sequences (one peak frame each) from {n_subj} subjects; "
            f"the paper says {claim(PAPER, 'text §4.1', 'CK+', 'subjects'):g} subjects (the full CK+ release has "
            "123, of whom 118 have a labelled sequence).\n"
            f"FER2013 here: {len(fer)} images = "
            + " + ".join(f"{s} {int((fer.split == s).sum())}" for s in fer.splits))


# ------------------------------------------------------------------------------------------------ Figs 5-6
def stn_summary(num_classes: int) -> str:
    """torchinfo summary of the STN tutorial's network at 28x28 (choice 4: the paper gives no layers)."""
    from torchinfo import summary
    from ..models import create_model
    return str(summary(create_model("STNClassifier", num_classes=num_classes, image_size=28),
                       input_size=(1, 1, 28, 28), verbose=0, col_names=("output_size", "num_params"), depth=2))


def figure6_claims(runs, plan, s: dict, profile: str, names: dict) -> tuple[dict, list[dict]]:
    """Figs 5-6 and §4.2's "more than 99 %": (mn, rows). mn holds the test accuracies per seed with and without
    the STN ("stn", "plain"), the STN's test loss, the spec whose weights were kept and the data note."""
    spec = next(sp for sp in plan if sp.arm == MNIST_ARMS[True] and "weights" in sp.keep)
    acc_stn, acc_plain = (runs.metric("test")[MNIST_ARMS[k]] for k in (True, False))
    loss_stn = runs.metric("test", "loss")[MNIST_ARMS[True]]
    note = ("trained on the 5,000-image MNIST training subset (not the official 60,000), tested on the full "
            "10,000-image test set" if profile != "smoke" else "28x28 synthetic faces standing in for MNIST")
    kw = dict(dataset=names["MNIST"], split="test", seeds=s["seeds"][:len(acc_stn)], config=spec.config, note=note)
    rows = [_claim("Figure 6", "STN on MNIST", "test accuracy (%)", acc_stn, **kw),
            _claim("Figure 6", "STN on MNIST", "average test loss", loss_stn, unit="other", **kw),
            _claim("text §4.2", "Base+STN on MNIST", "test accuracy lower bound (%)", acc_stn, **kw),
            _claim("Figure 6", "same network without STN (ours only)", "test accuracy (%)", acc_plain, **kw)]
    return {"stn": acc_stn, "plain": acc_plain, "loss": loss_stn, "spec": spec, "note": note}, rows


def figure6_text(mn: dict, profile: str) -> str:
    """Fig. 6's printout (9881/10000) against ours with the STN, judged; ours without it."""
    exact = claim(PAPER, "Figure 6", "STN on MNIST", "correct test images") / claim(PAPER, "Figure 6", "STN on MNIST",
                                                                                  "test images")
    m = mean_ci(mn["stn"])
    return (f"paper, Fig. 6 printout: 9881/10000 = {100 * exact:.2f} % (printed rounded as 99 %; the text's 'more "
            f"than 99 %' contradicts it). Ours with STN: {fmt_ci(m, digits=2)} % -> against 98.81 %: "
            f"{judge(100 * exact, 100 * m['mean'], 100 * m['ci95'], profile=profile)}\n"
            f"ours without STN: {fmt_ci(mean_ci(mn['plain']), digits=2)} %   ({mn['note']})")


def figure6_beside(records: list[dict]) -> pd.DataFrame:
    """Figure 6's cells and §4.2's MNIST lower bound beside the paper."""
    return pd.concat([beside(records, PAPER, "Figure 6"),
                      beside(records, PAPER, "text §4.2").query("row == 'Base+STN on MNIST'")], ignore_index=True)


def stn_figure(runs, store, spec, mnist, names: dict, profile: str):
    """Fig. 5 re-run: 12 fixed test images and what the trained STN (the kept weights of `spec`) makes of them."""
    import torch
    from ..models import create_model
    from ..study import plots
    from .p1_superres import load_weights
    test = mnist.take("test")
    net = load_weights(create_model("STNClassifier", **spec.model_kw), weights(runs, store, spec)).eval()
    pick = np.random.default_rng(0).choice(len(test), 12, replace=False)
    mean, std = spec.config["mean"], spec.config["std"]
    x = (torch.as_tensor(test.images[pick]).float().unsqueeze(1) / 255 - mean) / std
    with torch.no_grad():
        warped = net.stn(x)
    warped = ((warped * std + mean) * 255).round().clamp(0, 255).to(torch.uint8).squeeze(1).numpy()
    return plots.image_rows({"input": test.images[pick], "STN output": warped},
                            suptitle=f"Fig. 5 re-run: STN on {names['MNIST']} test images ({profile} profile)")


# ------------------------------------------------------------------------------------------------ §3.2, §4.2: EDSR
def edsr_runs(runs) -> dict[tuple[str, int], tuple]:
    """{(loss, scale): (spec, record)} of the stored EDSR runs."""
    return {(loss, scale): got[0] for loss in ("l1", "l2") for scale in (2, 4)
            if (got := _stored(runs, f"EDSR x{scale} {loss.upper()}"))}


def model_sizes(s: dict) -> pd.DataFrame:
    """Parameter counts: EDSR x2 / x4 at the paper's B = 16, F = 128 (§3.2), this profile's EDSR, the ResNet18
    classifier (a reading: Fig. 2 draws a ResNet) and the STN."""
    from ..models import create_model
    sizes = {"EDSR x2, paper (B16 F128)": create_model("EDSR", scale=2),
             "EDSR x4, paper (B16 F128)": create_model("EDSR", scale=4),
             f"EDSR x2, this profile (B{s['sr_blocks']} F{s['sr_feats']})": create_model("EDSR", scale=2,
                                                                                        **p1.sr_kw(s)),
             "ResNet18 classifier (7 classes, grey)": create_model("resnet18", num_classes=7),
             "STN (48x48, tutorial localisation net)": create_model("Pipeline:Base+STN").stn}
    return pd.Series({k: sum(p.numel() for p in m.parameters()) for k, m in sizes.items()},
                     name="parameters").to_frame()


def edsr_table(E: dict) -> tuple[pd.DataFrame, dict]:
    """§3.2 / §4.2 from the EDSR runs `E` ({(loss, scale): (spec, record)}, `p1_wu_finch.edsr_runs`): (table, pairs).
    table: held-out PSNR/SSIM of bicubic and of EDSR L1 / L2 per scale, the best epoch, the PSNR gain over bicubic;
    pairs: {scale: {"PSNR"|"SSIM": mean_ci of L1 - L2, paired per held-out face}}."""
    rows, pairs = [], {}
    for sc in (2, 4):
        m = E["l1", sc][1]["metrics"]["p1.psnr_ssim"]
        rows.append({"scale": f"x{sc}", "method": "bicubic", "PSNR (dB)": m["bicubic_psnr"], "SSIM": m["bicubic_ssim"]})
        per = {}
        for loss in ("l1", "l2"):
            m = E[loss, sc][1]["metrics"]["p1.psnr_ssim"]
            per[loss] = np.array(m["psnr_per_image"]), np.array(m["ssim_per_image"])
            rows.append({"scale": f"x{sc}", "method": f"EDSR {loss.upper()}", "PSNR (dB)": m["psnr"], "SSIM": m["ssim"],
                         "best epoch": E[loss, sc][1]["best_epoch"] + 1})
        pairs[sc] = {k: mean_ci(per["l1"][i] - per["l2"][i]) for i, k in enumerate(("PSNR", "SSIM"))}
    table = pd.DataFrame(rows)
    table["PSNR gain over bicubic (dB)"] = table["PSNR (dB)"] - table.groupby("scale")["PSNR (dB)"].transform("first")
    return table, pairs


def edsr_results(runs, s: dict, data_root, names: dict) -> dict:
    """§3.2 / §4.2: the EDSR runs (E), their held-out faces, `edsr_table`'s table and pairs, the rows to record
    (held-out PSNR and SSIM per method and scale), the training note and the lr schedule of the x2 run."""
    from ..runs.data import prepare
    E = edsr_runs(runs)
    spec = E["l1", 2][0]
    heldout = prepare(spec, data_root).views["PrivateTest"].images
    table, pairs = edsr_table(E)
    cfg = spec.config
    note = (f"EDSR B{s['sr_blocks']} F{s['sr_feats']} res_scale {s['sr_res_scale']}, {cfg['epochs']} epochs"
            + (f" x {cfg['max_batches']} batches" if cfg["max_batches"] else "") + f" of {cfg['batch_size']}, fp32; "
            f"trained on {names['FER2013']} Training faces, scored on {len(heldout)} held-out PrivateTest faces; "
            "x4 initialised from x2 (same loss)")
    rows = [_claim("text §4.2", f"{rw['method']} {rw['scale']}", f"held-out {col}", rw[col], unit="other",
                   dataset=names["FER2013"], split=f"PrivateTest faces ({len(heldout)})", seeds=s["seeds"][:1],
                   config=cfg, note=note)
            for rw in table.drop(columns="PSNR gain over bicubic (dB)").to_dict("records")
            for col in ("PSNR (dB)", "SSIM")]
    n_sr = next(p.facts.get("n_train") for p in runs.planned if p.spec is spec)
    return {"E": E, "heldout": heldout, "table": table, "pairs": pairs, "claims": rows, "note": note,
            "schedule": p1.schedule_note(s, n_sr, cfg["epochs"], cfg["max_batches"])}


def l1_vs_l2(pairs: dict, profile: str) -> pd.DataFrame:
    """§4.2's "L1 is better than L2" (no number given): L1 - L2 per scale, paired over held-out faces, and whether
    the PSNR difference's 95 % CI lies above zero (holds), below (does not hold) or spans it (not resolved)."""
    def verdict(p):
        if profile == "smoke":
            return "not judged (synthetic data)"
        return ("holds here" if p["mean"] - p["ci95"] > 0 else "does not hold here" if p["mean"] + p["ci95"] < 0
                else "no difference resolved")
    return pd.DataFrame([{"scale": f"x{sc}", "L1 - L2 PSNR (dB)": fmt_ci(pairs[sc]["PSNR"], scale=1, digits=3),
                          "L1 - L2 SSIM": fmt_ci(pairs[sc]["SSIM"], scale=1, digits=4),
                          "L1 better (PSNR)?": pairs[sc]["PSNR"]["mean"] > 0,
                          "verdict on 'L1 is better'": verdict(pairs[sc]["PSNR"])} for sc in (2, 4)])


def edsr_figure(runs, store, sr: dict, s: dict, names: dict, profile: str):
    """§3.2 by eye: LR / bicubic / EDSR (L1) / HR on up to 8 held-out faces, x2 and x4 (`sr` = `edsr_results`)."""
    from ..models import create_model
    from ..study import plots
    from .p1_superres import load_weights, super_resolve
    heldout = sr["heldout"]
    show = np.arange(min(8, len(heldout)))
    rows = {}
    for sc in (2, 4):
        spec = sr["E"]["l1", sc][0]
        out = super_resolve(load_weights(create_model("EDSR", **spec.model_kw), weights(runs, store, spec)),
                            heldout[show], sc)
        rows[f"LR x{sc}"], rows[f"bicubic x{sc}"], rows[f"EDSR x{sc} (L1)"] = out["lr"], out["bicubic"], out["sr"]
    rows["HR (original)"] = heldout[show]
    return plots.image_rows(rows, suptitle=f"LR / bicubic / EDSR / HR on held-out {names['FER2013']} faces "
                                           f"({profile} profile; EDSR B{s['sr_blocks']} F{s['sr_feats']})")


# ------------------------------------------------------------------------------------------------ Table 2
T2 = {"FER2013": ("Table 2 FER2013", "PrivateTest"), "CK+": ("Table 2 CK+ (subject-grouped folds)", "test"),
      "CK+ (paper's protocol)": ("Table 2 CK+ (paper's protocol: train = test)", "all")}


def table2(runs, seeds) -> dict[tuple[str, str], list[float]]:
    """{(arm, column): [accuracy per seed]} for the columns of `T2`. CK+ folds are pooled per seed (correct over
    all test images of the folds run); a seed with no stored run is left out."""
    out = {}
    for column, (label, view) in T2.items():
        for arm in ARMS:
            got = _stored(runs, f"{label} · {arm}")
            if not got:
                continue
            vals = []
            for seed in seeds:
                ms = [r["metrics"][view] for spec, r in got if spec.seed == seed]
                if ms:
                    vals.append(sum(m["accuracy"] * m["n"] for m in ms) / sum(m["n"] for m in ms))
            out[arm, column] = vals
    return out


def _t2_spec(plan, column: str):
    """The first planned run of a Table 2 column (FER2013: its Base arm): whose config the column's note names."""
    label = T2[column][0]
    if column == "FER2013":
        return next(sp for sp in plan if sp.arm == f"{label} · Base")
    return next(sp for sp in plan if sp.arm.startswith(label))


def table2_splits(s: dict) -> dict[str, str]:
    """The test split of each Table 2 column (choice 17: CK+ subject-grouped folds; the paper's train = test)."""
    return {"FER2013": "PrivateTest",
            "CK+": f"pooled subject-grouped {s['ck_k']}-fold CV ({min(s['ck_folds'], s['ck_k'])} folds run)",
            "CK+ (paper's protocol)": "train = test: every labelled image (the paper's protocol)"}


def table2_note(plan, s: dict, column: str) -> str:
    """The recipe behind a Table 2 column (§4.2's optimiser; readings: classifier, SR mode and scale, epochs)."""
    c = _t2_spec(plan, column).config
    cut = f"{c['epochs']} epochs" + (f" x {c['max_batches']} batches" if c["max_batches"] else "")
    return (f"{s['classifier']} classifier, SR {s['sr_mode']} (EDSR x{s['pipeline_scale']} B{s['sr_blocks']} "
            f"F{s['sr_feats']}, L1), Adam {s['lr']:g} batch {s['batch_size']}, {cut}, augment {s['augment']}; "
            f"{table2_splits(s)[column]}" + ("; CK+ peak_frames=" + str(s["ck_peak_frames"]) if column != "FER2013"
                                              else ""))


def table2_claims(T: dict, plan, s: dict, names: dict) -> list[dict]:
    """Table 2: every (arm, column) of `T` (`p1_wu_finch.table2`: accuracy per seed). The paper's protocol
    (train = test) is its own column, judged against the paper's CK+ cell (`PP_MAP`)."""
    split, fer_cfg = table2_splits(s), _t2_spec(plan, "FER2013").config
    out = []
    for (arm, col), vals in T.items():
        dname = "FER2013" if col == "FER2013" else "CK+"
        out.append(_claim("Table 2", arm, PP if col == "CK+ (paper's protocol)" else dname, vals,
                          dataset=names[dname], seeds=s["seeds"][:len(vals)], split=split[col],
                          config=fer_cfg if col == "FER2013" else None, pretrained=False,
                          note=table2_note(plan, s, col)))
    return out


def table2_side_by_side(T: dict) -> pd.DataFrame:
    """Table 2 as the paper prints it (arms x CK+ / FER2013) beside ours (mean ± 95 % CI, "—" where not run)."""
    ours = pd.DataFrame({f"ours {c}": [fmt_ci(mean_ci(T[a, c])) if T.get((a, c)) else "—" for a in ARMS]
                         for c in T2}, index=list(ARMS))
    return pd.concat([claims_table(PAPER, "Table 2").add_prefix("paper "), ours], axis=1)


def fer_schedule(runs, plan, s: dict) -> str:
    """§4.2's lr step against Table 2's FER2013 runs: it never fires at 60 epochs (`p1_wu_finch.schedule_note`)."""
    spec = _t2_spec(plan, "FER2013")
    n_fer = next(p.facts.get("n_train") for p in runs.planned if p.spec is spec)
    return p1.schedule_note(s, n_fer, s["epochs_fer"], s["max_batches"])


def control_claims(T: dict, plan, s: dict, names: dict) -> tuple[list[dict], pd.DataFrame]:
    """Ours (choice 22): each +SR arm minus its bicubic control, paired by seed — what EDSR adds beyond input size.
    (rows, table); pairs with a side not run are left out."""
    split, rows, table = table2_splits(s), [], []
    for sr_arm, bic_arm in CONTROL_PAIRS:
        for col in ("FER2013", "CK+"):
            if not (T.get((sr_arm, col)) and T.get((bic_arm, col))):
                continue
            diff = np.array(T[sr_arm, col]) - np.array(T[bic_arm, col])
            rows.append(_claim("controls (ours)", f"{sr_arm} vs {bic_arm}", f"{col} gain (pp)", diff,
                               dataset=names[col], seeds=s["seeds"][:len(diff)], split=split[col],
                               note=table2_note(plan, s, col)))
            table.append({"EDSR vs bicubic": f"{sr_arm} − {bic_arm}", "dataset": col,
                          "difference (pp)": fmt_ci(mean_ci(diff)), "seeds": len(diff)})
    return rows, pd.DataFrame(table)


def stated_gains() -> pd.DataFrame:
    """§4.2's stated gains (pp) against the differences of the paper's own Table 2 cells."""
    t2 = claims_table(PAPER, "Table 2")
    rows = []
    for a, b in GAINS:
        for dname in ("CK+", "FER2013"):
            stated = claim(PAPER, "text §4.2", f"{a} vs {b}", f"{dname} gain (pp)")
            table = round(t2.loc[a, dname] - t2.loc[b, dname], 2)
            rows.append({"gain": f"{a} vs {b}", "dataset": dname, "stated in the text (pp)": stated,
                         "Table 2 cells": f"{t2.loc[a, dname]:g} - {t2.loc[b, dname]:g}",
                         "computed from Table 2 (pp)": table, "matches": abs(stated - table) < 0.05})
    return pd.DataFrame(rows)


def gain_claims(T: dict, plan, s: dict, names: dict) -> list[dict]:
    """§4.2's gains from our Table 2, paired by seed (same folds and splits), and its Base+STN+SR accuracies."""
    out = []
    for a, b in GAINS:
        for dname in ("CK+", "FER2013"):
            diff = np.array(T[a, dname]) - np.array(T[b, dname])
            out.append(_claim("text §4.2", f"{a} vs {b}", f"{dname} gain (pp)", diff, dataset=names[dname],
                              seeds=s["seeds"][:len(diff)], note="difference of our Table 2 accuracies, paired by "
                              "seed; " + table2_note(plan, s, dname)))
    for dname in ("CK+", "FER2013"):
        out.append(_claim("text §4.2", "Base+STN+SR", f"{dname} accuracy", T["Base+STN+SR", dname],
                          dataset=names[dname], seeds=s["seeds"], note=table2_note(plan, s, dname)))
    return out


# ------------------------------------------------------------------------------------------------ closing note
def everything(records: list[dict]) -> pd.DataFrame:
    """Every recorded cell of Table 1, Figure 6, Table 2 and §4.2 beside the paper."""
    return pd.concat([beside(records, PAPER, src, claims_map=PP_MAP).assign(source=src)
                      for src in ("Table 1", "Figure 6", "Table 2", "text §4.2")], ignore_index=True)


def timings(runs) -> pd.DataFrame:
    """Per stored run: epochs, training seconds, mean training img/s and the hardware it ran on."""
    def img_s(r):
        col = r["history"]["columns"].index("img_per_s")
        return round(float(np.nanmean([row[col] for row in r["history"]["rows"]])), 1)
    return pd.DataFrame([{"run": p.spec.arm, "seed": p.spec.seed, "epochs": r["epochs"], "train s": r["train_seconds"],
                          "img/s": img_s(r), "hardware": r["hardware"]}
                         for p, r in zip(runs.planned, runs.records) if r is not None])


def timings_by_run(t: pd.DataFrame) -> pd.DataFrame:
    """`timings` per arm: seeds, epochs, training seconds summed, img/s averaged."""
    return t.groupby("run", sort=False).agg({"seed": "count", "epochs": "max", "train s": "sum", "img/s": "mean",
                                             "hardware": "first"})


def headline(T: dict, sr_table: pd.DataFrame, mn: dict, s: dict, names: dict, profile: str,
             schedule: str) -> list[str]:
    """The closing lines of notebook 01: Figs 5-6, EDSR's PSNR, Table 2 (both CK+ protocols, FER2013), the bicubic
    controls and whether §4.2's lr step fired, each beside the paper where it has a number."""
    def cell(v, d):
        return f"{fmt_ci(mean_ci(T[v, d]))} % (paper {claim(PAPER, 'Table 2', v, d):g})"

    def psnr_of(method, sc):
        return sr_table[(sr_table.scale == f"x{sc}") & (sr_table.method == method)]["PSNR (dB)"].iloc[0]
    pp = "CK+ (paper's protocol)"
    return [
        f"STN on {names['MNIST']} ({profile}): {fmt_ci(mean_ci(mn['stn']), digits=2)} % test accuracy (paper "
        f"9881/10000 = 98.81 %); without STN {fmt_ci(mean_ci(mn['plain']), digits=2)} %"
        + ("; 5k-image training subset" if profile != "smoke" else ""),
        "EDSR held-out PSNR x2 / x4 (dB): " + "; ".join(
            f"{m} " + " / ".join(f"{psnr_of(m, sc):.2f}" for sc in (2, 4)) for m in ("EDSR L1", "EDSR L2", "bicubic")),
        "Table 2 CK+ (subject-grouped folds): " + "; ".join(f"{v} {cell(v, 'CK+')}" for v in VARIANTS),
        "Table 2 CK+ (paper's protocol, train = test): " + "; ".join(
            f"{v} {fmt_ci(mean_ci(T[v, pp]))} %" for v in VARIANTS if T.get((v, pp))),
        "Table 2 FER2013: " + "; ".join(f"{v} {cell(v, 'FER2013')}" for v in VARIANTS),
        "Bicubic controls (FER2013 / CK+): " + "; ".join(
            f"{v} " + " / ".join(fmt_ci(mean_ci(T[v, c])) for c in ("FER2013", "CK+") if T.get((v, c))) + " %"
            for v in CONTROLS if T.get((v, "FER2013"))),
        "lr schedule: " + schedule + " (Table 2, FER2013)",
    ]
