"""Paper 3's analyses: what notebook 03 records and tabulates from the stored runs of `p3_zhao.plan`.

Yuan Zhao, "Facial Expression Recognition Based on Various Deep Neural Networks" (§III.B, §IV, §V). Each `*_rows`
function returns the cells of one paper claim as `run.record(**row)` arguments (the notebook loops over them and
shows `beside(...)`); nothing here trains: every number comes from a stored run record, its history or
predictions, or from a speed table measured in the notebook. The plan, recipe, readings and budgets are in
`p3_zhao`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.metrics import fmt_ci, mean_ci
from ..study.claims import claim
from ..study.verdict import beside
from .p3_zhao import ACC_SPLITS, MODELS, PAPER, PAPER_ROW, plateau_epoch, saturation_epoch, vgg_phase_change

RATES = ("Happy", "Sad", "Neutral", "Anger", "Fear")   # the classes whose rate §IV.D states


def _row(source: str, row: str, column: str, values, **kw) -> dict:
    return {"paper": PAPER, "source": source, "row": row, "column": column, "values": values, **kw}


def accuracy_rows(acc: dict, stored: dict, cfg: dict, s: dict, dataset: str) -> list[dict]:
    """Abstract (57.15 / 58.83 / 60.00 %): each model's accuracy on every split of ACC_SPLITS (PrivateTest, the
    PublicTest selection split, deduplicated PrivateTest), then §V's "recognition rate of 60.0 %" read as the
    final model's (ResNet18) PrivateTest accuracy. `acc` = `p3_zhao.accuracies`, `stored` = {model: seeds}."""
    out = [_row("abstract", PAPER_ROW[n], "accuracy (%)", acc[n, sp], dataset=dataset, split=sp, seeds=stored[n],
                config=cfg[n], pretrained=False,
                note=f"{n}; {s['epochs'][n]} epochs x {s['max_batches'] or 'all'} batches; epoch chosen on PublicTest")
           for n in MODELS for sp in ACC_SPLITS]
    out.append(_row("text §V", "final model", "recognition rate (%)", acc["ResNet18", "PrivateTest"], dataset=dataset,
                    split="PrivateTest", seeds=stored["ResNet18"], config=cfg["ResNet18"], pretrained=False,
                    note="ResNet18 (the paper's 60.0 % matches its ResNet)"))
    return out


def accuracy_table(acc: dict) -> pd.DataFrame:
    """The abstract's accuracies beside ours: one row per model, mean ± CI per split (%)."""
    table = pd.DataFrame({sp: [fmt_ci(mean_ci(acc[n, sp]), digits=2) for n in MODELS] for sp in ACC_SPLITS},
                         index=list(MODELS))
    table.insert(0, "paper (abstract)", [claim(PAPER, "abstract", PAPER_ROW[n], "accuracy (%)") for n in MODELS])
    return table


def beside_split(records: list[dict], source: str, name: str = "split") -> pd.DataFrame:
    """`beside` for one source, with each record's split shown as column `name` (the abstract's rows repeat per
    split; §V's times per model, batch and device)."""
    tab = beside(records, PAPER, source)
    tab.insert(2, name, [r["split"] for r in records if (r["paper"], r["source"]) == (PAPER, source)])
    return tab


def epoch_rows(histories: dict, stored: dict, cfg: dict, s: dict, dataset: str) -> tuple[list[dict], dict]:
    """§IV.C: the CNN's "plateau by the 17th epoch" (the epoch of the best PublicTest accuracy, judged only with
    full passes beyond epoch 17) and the VGG's "no significant changes after the initial 30 epochs" (a reading:
    the first epoch after which the best PublicTest accuracy gains < `saturation_pp`; judged only with the full
    30 + 60 schedule). Returns the two rows and {"best_epochs", "saturation", "phase_change" (None unless
    judgeable)}. `histories` = {(model, seed): history}."""
    paper_plateau = claim(PAPER, "text §IV-C", "CNN", "val accuracy plateau epoch")
    best_epochs = [plateau_epoch(histories["CNN", sd]) for sd in stored["CNN"]]
    judgeable = s["max_batches"] is None and s["epochs"]["CNN"] > paper_plateau
    rows = [_row("text §IV-C", "CNN", "val accuracy plateau epoch", best_epochs if judgeable else [],
                 unit="epochs", dataset=dataset, split="PublicTest", seeds=stored["CNN"], config=cfg["CNN"],
                 note="epoch of the best PublicTest accuracy" if judgeable else
                      f"not run: {s['epochs']['CNN']} epochs of {s['max_batches'] or 'all'} batches "
                      f"cannot show a plateau at epoch {paper_plateau:.0f} (best epochs were {best_epochs})")]
    phase1, vgg_h = s["vgg_phase1"], [histories["VGG", sd] for sd in stored["VGG"]]
    vgg_ok = phase1 is not None and s["max_batches"] is None and s["epochs"]["VGG"] > phase1 and bool(vgg_h)
    sat = [saturation_epoch(h, s["saturation_pp"]) for h in vgg_h]
    rows.append(_row("text §IV-C", "VGG", "no change after epoch", sat if vgg_ok else [], unit="epochs",
                     dataset=dataset, split="PublicTest", seeds=stored["VGG"], config=cfg["VGG"],
                     note=f"first epoch after which the best PublicTest accuracy gains < {s['saturation_pp']} pp"
                     if vgg_ok else f"not run: needs the full 30 + 60 epoch schedule (this run: {s['epochs']['VGG']} epochs)"))
    return rows, {"best_epochs": best_epochs, "saturation": sat,
                  "phase_change": vgg_phase_change(vgg_h, phase1) if vgg_ok else None}


def table_i_rows(cms: dict, paper_cm: pd.DataFrame, best: str, cfg: dict, dataset: str) -> list[dict]:
    """Table I: every cell of the best model's row-normalised PrivateTest confusion matrix, one value per seed
    (`cms` = {seed: matrix} from `p3_zhao.confusions`), in the paper's row and column order."""
    return [_row("Table I", t, p, [cm.loc[t, p] for cm in cms.values()], dataset=dataset, split="PrivateTest",
                 seeds=list(cms), config=cfg[best], note=f"{best}, row-normalised")
            for t in paper_cm.index for p in paper_cm.columns]


def rate_rows(cms: dict, best: str, cfg: dict, dataset: str) -> list[dict]:
    """§IV.D's stated per-class rates (happy 81 %, sad 71 %, neutral 70 %, anger 59 %, fear 61 %), read as the
    best model's recall of the class: the diagonal of the row-normalised matrix."""
    return [_row("text §IV-D", c, "recognition rate (%)", [cm.loc[c, c] for cm in cms.values()], dataset=dataset,
                 split="PrivateTest", seeds=list(cms), config=cfg[best],
                 note=f"{best}: recall of the class (diagonal of the row-normalised matrix)") for c in RATES]


def speed_rows(speed: pd.DataFrame, device: str, dataset: str, threads: int) -> tuple[pd.Series, list[dict]]:
    """§V: "(0.22 ± 0.05) ms" per face (hardware not stated). Every row of `fer_lib.speed.inference_table` as a
    median time per face, the paper's case first (the final model, ResNet18, at batch 1 on the run `device`),
    then its ± read as the std over the repeats. Returns (that primary row, the rows to record)."""
    primary = speed[(speed.model == "ResNet18") & (speed.device == device) & (speed.batch == 1)].iloc[0]
    out = [_row("text §V", "single face image", "processing time (ms)", r["median ms/face"], unit="ms",
                dataset=dataset, split=f"{r.model} · batch {r.batch} · {r.device}",
                note=f"median of {r.repeats} repeats (q25 {r['q25 ms/face']:.4g}, q75 {r['q75 ms/face']:.4g} ms); "
                     f"{threads} CPU threads")
           for r in [primary] + [r for _, r in speed.iterrows() if r.name != primary.name]]
    out.append(_row("text §V", "single face image", "processing time ± (ms)", primary["std ms/face"], unit="ms",
                    dataset=dataset, split=f"ResNet18 · batch 1 · {primary.device}",
                    note="std over the repeats (the paper's ± read as a standard deviation)"))
    return primary, out
