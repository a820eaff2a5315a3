"""Paper 2's runs: "ResNet50 transfer for facial expression recognition" on 48×48 FER2013 (§2-3, Tables 1-2).

Three models (registry names VanillaCNN, ResidualCNN, ResNet50Transfer) trained with the paper's Table 1 recipe:
- Table 2 on the paper's random 80/20 split of all 35,887 images (the 20 % is both its validation curve and
  its test set, as the text describes), and the same recipe on FER2013's official split (Training → PrivateTest,
  our addition: the random split leaks byte-identical images into the test part);
- ablations on the random split, Vanilla CNN (and Residual CNN for BN): class weights (inverse frequency, none;
  the paper's vector is the Table 2 run) and batch norm off (§3's "BN increases the convergence speed by 31 %",
  scored by fer_lib.convergence's absolute-target reading) — ≥ 3 seeds in the full profile.

The ResNet50 arms need ImageNet weights: a frozen RANDOM backbone is no transfer learning (22 % in the cpu run),
so in the full profile they are planned only when the weights can be read without the network — torchvision's
file in the torch hub cache (`resnet_weights="imagenet"`) or a user-supplied file (`resnet_weights=PATH`) — and
otherwise listed by `not_run(profile)` as "not run — no ImageNet weights". A model hook checks at build time that
the weights really loaded (never a silent fallback to random init in a planned transfer run).

What the paper states (read from paper_claims.yaml, labelled "paper"): Adam lr 1e-4, β (0.9, 0.999), 60 epochs,
batch 32 (Table 1); class weights w (text §3); the 80/20 random split.
Readings where it is silent (`READINGS`): augmentation magnitudes, input normalisation, the reported epoch (the
last: no early stopping on a split that is also the test set), the split seed, 3 seeds, the convergence target.
smoke and cpu budgets are cuts (seconds on synthetic faces; about half a FER2013 epoch per run on 2 CPU cores).
"""
from __future__ import annotations

from ..claims import claim
from ..models.transfer import imagenet_weights_file
from ..runs.hooks import register
from ..runs.plans import layered_settings
from ..runs.spec import RunSpec

NOTEBOOK, PAPER = "02", "p2"
MODELS = {"Vanilla CNN": "VanillaCNN", "Residual block + CNN": "ResidualCNN", "ResNet50 + CNN": "ResNet50Transfer"}
RESNET = "ResNet50 + CNN"
NOT_RUN_NO_WEIGHTS = "not run — no ImageNet weights"

PAPER_SETTINGS = {   # (value, where it comes from): read from the claims file, never typed in here
    "lr": (claim(PAPER, "Table 1", "Learning Rate", "Value"), "paper Table 1"),
    "betas": ([claim(PAPER, "Table 1", "β1", "Value"), claim(PAPER, "Table 1", "β2", "Value")], "paper Table 1"),
    "epochs": (int(claim(PAPER, "Table 1", "Epoch", "Value")), "paper Table 1"),
    "batch_size": (int(claim(PAPER, "Table 1", "Batch Size", "Value")), "paper Table 1"),
    "class_weights": ([claim(PAPER, "text §3", "loss class weights", f"w[{i}]") for i in range(7)],
                      "paper text §3: w = [0.1, 0.3, 0.3, 1.0, 0.3, 0.3, 0.1] in FER2013's label order"),
    "split_fractions": ([0.8, 0.2], "paper §3: 80 % of the entire dataset to train, 20 % to test"),
}
READINGS = {
    "optimizer": ("adam", "paper Table 1 names Adam's β1, β2"),
    "augment": ("standard", "reading: flip, rotation ±10°, shift ±10 %, scale 0.9-1.1, zero fill (no magnitudes "
                            "given)"),
    "select": ("last", "reading: the last epoch (the 20 % is also the test set: no selection on it)"),
    "resnet_norm": ("imagenet", "reading: grey mean 0.449, std 0.226 for the ImageNet backbone ('half': 0.5, 0.5)"),
    "resnet_weights": ("imagenet", "paper: ImageNet; torchvision's IMAGENET1K_V1 from the torch hub cache, or a "
                                   "file path; the full profile runs the ResNet50 arms only when they load"),
    "split_seed": (0, "reading: the seed of the random 80/20 split"),
    "seeds": ([0, 1, 2], "reading: the paper reports one run; 3 seeds give the spread a verdict needs"),
    "ablation_seeds": ([0, 1, 2], "issue 19: ≥ 3 seeds for the class-weight and BN ablations (cheap CNN runs)"),
    "convergence_margin": (0.20, "reading: convergence target = majority-class share + 20 pp, one absolute "
                                 "target for every run (fer_lib.convergence)"),
    "convergence_window": (3, "reading: epochs in the trailing mean the target is read on"),
}
NARROW = {"VanillaCNN": {"channels": [8, 16, 32, 64], "fc_hidden": 64},
          "ResidualCNN": {"plain_channels": [8, 16], "res_channels": [32, 32], "fc_hidden": 64}}
BUDGETS = {
    "smoke": dict(dataset="synthetic", data_kw={"counts": {"train": 560, "val": 140, "test": 140}, "seed": 0},
                  widths="narrow", epochs=3, resnet_epochs=1, max_batches=4, resnet_max_batches=1,
                  cap={"test": 48, "seed": 1}, seeds=[0], ablation_seeds=[0], random_backbone_ok=True,
                  val_n=48, test_n=48),
    "cpu": dict(dataset="fer2013", data_kw={}, widths="paper", epochs=10, resnet_epochs=5, max_batches=40,
                resnet_max_batches=40, cap={"test": 1000, "PublicTest": 1000, "seed": 1}, seeds=[0],
                ablation_seeds=[0, 1, 2], random_backbone_ok=True, val_n=1000, test_n=0),
    "full": dict(dataset="fer2013", data_kw={}, widths="paper", epochs=PAPER_SETTINGS["epochs"][0],
                 resnet_epochs=PAPER_SETTINGS["epochs"][0], max_batches=None, resnet_max_batches=None, cap={},
                 seeds=READINGS["seeds"][0], ablation_seeds=READINGS["ablation_seeds"][0],
                 random_backbone_ok=False, val_n=0, test_n=0),
}
# random_backbone_ok: train the ResNet50 arms without ImageNet weights (smoke/cpu: a pipeline check); val_n /
# test_n: the notebook's per-epoch monitor subset and final evaluation subset (0 = all; the plan caps with `cap`).
PARAMETERS = tuple(dict.fromkeys((*BUDGETS["full"], *PAPER_SETTINGS, *READINGS)))
SPLITS = {"synthetic": ("train", "val", "test"), "fer2013": ("Training", "PublicTest", "PrivateTest")}


def settings(profile: str, **overrides) -> dict:
    """{name: value}: the paper's settings, the readings, the profile's budget, then the overrides (None = keep)."""
    s = {k: d["value"] for k, d in layered_settings("p2_transfer", {**PAPER_SETTINGS, **READINGS}, BUDGETS, profile, overrides).items()}
    for k in ("seeds", "ablation_seeds"):
        s[k] = [int(x) for x in (s[k] if isinstance(s[k], (list, tuple)) else [s[k]])]
    return s


def sources(profile: str) -> dict[str, str]:
    """Where each setting of `profile` comes from: "paper …", "reading: …" or "budget (<profile> profile)"."""
    return {k: d["source"] for k, d in layered_settings(__name__.rsplit(".", 1)[-1], {**PAPER_SETTINGS, **READINGS},
                                                         BUDGETS, profile, {}).items()}


def weights_source(s: dict) -> str | None:
    """The model's `pretrained` argument when ImageNet weights can be read here without the network, else None."""
    w = s["resnet_weights"]
    if w in (None, "none"):
        return None
    f = imagenet_weights_file(w)
    return None if f is None else ("imagenet" if w == "imagenet" else str(f))


def not_run(profile: str, **overrides) -> dict[str, str]:
    """{arm: why} of the arms the plan leaves out (the full profile's ResNet50 arms without ImageNet weights)."""
    s = settings(profile, **overrides)
    if s["random_backbone_ok"] or weights_source(s) is not None:
        return {}
    return {f"Table 2 · {RESNET} · {split}": NOT_RUN_NO_WEIGHTS for split in ("random split", "official split")}


@register("p2.require_pretrained", "model", version=1)
def require_pretrained(ctx):
    """Fail the run (naming why) when a planned transfer model's ImageNet weights did not load."""
    def check(model):
        if not getattr(model, "pretrained", False):
            raise RuntimeError(f"{ctx.spec.label}: ImageNet weights did not load ({model.pretrained_note}); "
                               f"a frozen random backbone is not the paper's transfer learning")
        return model
    return check


def model_kw(name: str, s: dict, batch_norm: bool = True) -> dict:
    if name == RESNET:
        return {"num_classes": 7, "pretrained": weights_source(s)}
    kw = dict(NARROW[MODELS[name]]) if s["widths"] == "narrow" else {}
    return {"num_classes": 7, "batch_norm": batch_norm, **kw}


def train_config(name: str, s: dict, **changes) -> dict:
    """The paper's recipe (Table 1 + weighted CE + augmentation), cut to the profile's budget."""
    resnet = name == RESNET
    norm = {"mean": 0.449, "std": 0.226} if resnet and s["resnet_norm"] == "imagenet" else {"mean": 0.5, "std": 0.5}
    cfg = {"epochs": int(s["resnet_epochs" if resnet else "epochs"]), "batch_size": int(s["batch_size"]),
           "lr": float(s["lr"]), "optimizer": s["optimizer"], "betas": list(s["betas"]),
           "class_weights": s["class_weights"], "augment": s["augment"], "select": s["select"],
           "max_batches": s["resnet_max_batches" if resnet else "max_batches"] or None,
           "eval_batch_size": 64 if resnet else 512, **norm}
    return {**cfg, **changes}


def factory(name: str, s: dict, batch_norm: bool = True):
    """A zero-argument builder of model `name` (a Table 2 row) under the settings `s`, for fit() to build in
    its seeded scope."""
    from ..models.registry import create_model
    return lambda: create_model(MODELS[name], **model_kw(name, s, batch_norm))


def fit_and_score(make, train, monitor, finals: dict, cfg):
    """fit() on `train` with `monitor` as the per-epoch validation set, then evaluate() the reported weights on
    each final set: (FitResult, {final name: Predictions})."""
    from ..train import evaluate, fit
    r = fit(make, train, monitor, cfg)
    return r, {k: evaluate(r.model, d, cfg.eval_batch_size, mean=cfg.mean, std=cfg.std) for k, d in finals.items()}


def plan(profile: str, **overrides) -> list[RunSpec]:
    """Table 2 on the random and the official split (every model), the class-weight and BN ablations
    (`ablation_seeds`); the ResNet50 arms only where `not_run` does not list them."""
    s = settings(profile, **overrides)
    tr, va, te = SPLITS[s["dataset"]]
    random_split = {"kind": "random", "fractions": list(s["split_fractions"]), "names": ["train", "test"],
                    "seed": int(s["split_seed"])}
    skip = not_run(profile, **overrides)
    common = dict(notebook=NOTEBOOK, paper=PAPER, dataset=s["dataset"], data_kw=s["data_kw"], cap=s["cap"])
    random_roles = dict(split=random_split, train=("train",), val=("test",), evaluate=("test",))
    official_roles = dict(split={}, train=(tr,), val=(va,), evaluate=(te,))
    specs = []

    def add(arm, name, roles, seeds, bn=True, tags=None, **cfg_changes):
        if arm in skip:
            return
        hooks = ({"name": "p2.require_pretrained", "kw": {}},) if name == RESNET and weights_source(s) else ()
        for seed in seeds:
            specs.append(RunSpec(arm=arm, model=MODELS[name], model_kw=model_kw(name, s, bn), seed=seed,
                                 config=train_config(name, s, **cfg_changes), hooks=hooks,
                                 tags={"model": name, **(tags or {})}, **roles, **common))

    for name in MODELS:   # the CNNs' random-split runs are also the ablations' baselines: their seeds too
        seeds = s["seeds"] if name == RESNET else sorted(set(s["seeds"]) | set(s["ablation_seeds"]))
        add(f"Table 2 · {name} · random split", name, random_roles, seeds, tags={"split": "random 80/20"})
        add(f"Table 2 · {name} · official split", name, official_roles, s["seeds"], tags={"split": "official"})
    for label, cw in (("inverse frequency", "inverse"), ("none", None)):
        add(f"ablation: class weights · {label}", "Vanilla CNN", random_roles, s["ablation_seeds"],
            tags={"ablation": "class weights", "weights": label}, class_weights=cw)
    for name in ("Vanilla CNN", "Residual block + CNN"):
        add(f"ablation: batch norm · {name} without BN", name, random_roles, s["ablation_seeds"], bn=False,
            tags={"ablation": "batch norm", "batch_norm": False})
    return specs
