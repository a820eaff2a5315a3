"""Runs as data: every training a paper's tables need is declared (a `RunSpec`), keyed, stored and resumable.

Part of the shared machinery: the plans themselves live with each paper (fer_lib/papers/pN_*.py), the engine that
trains a spec in fer_lib/core/train.py, the tables and verdicts built from records in fer_lib/study/.

How a paper declares its runs (for the authors of fer_lib/papers/pN_*.py)
--------------------------------------------------------------------------
A plan module defines its budgets beside the plan, and a `plan(profile, **overrides)` that returns specs::

    from fer_lib.runs import RunSpec, hook, view, register_hook

    BUDGETS = {   # the only place a profile's budget lives; -p NAME=VALUE / overrides replace any entry
        "smoke": dict(dataset="synthetic", data_kw={"counts": {"Training": 280, "PublicTest": 70,
                      "PrivateTest": 70}}, epochs=2, max_batches=3, seeds=[0], cap={}),
        "cpu":   dict(dataset="fer2013", data_kw={}, epochs=3, max_batches=60, seeds=[0],
                      cap={"Training": 4000, "PublicTest": 1000, "seed": 0}),
        "full":  dict(dataset="fer2013", data_kw={}, epochs=100, max_batches=None, seeds=[0, 1, 2], cap={}),
    }

    @register_hook("p4.my_batch_hook", "batch_fn", version=1)   # only if the paper needs one
    def my_batch_hook(ctx, strength=1.0):
        return lambda x, y, gen: (x * strength, y)

    def plan(profile: str, **overrides) -> list[RunSpec]:
        b = {**BUDGETS[profile], **overrides}
        cfg = dict(epochs=b["epochs"], batch_size=128, lr=1e-3, optimizer="adam", max_batches=b["max_batches"])
        return [RunSpec(notebook="04", paper="p4", arm=f"Table 3 · {arm}", model="SpatialDeepLearning",
                        model_kw={"num_classes": 7, "sdl_modules": n}, dataset=b["dataset"],
                        data_kw=b["data_kw"], cap=b["cap"], train=("Training",), val=("PublicTest",),
                        evaluate=("PrivateTest",), config=cfg, seed=s, tags={"claim": "T3", "sdl": n})
                for arm, n in (("baseline", 0), ("+ SDL-1", 1), ("+ SDL-1 + SDL-2", 2))
                for s in b["seeds"]]

Fields of RunSpec (spec.py has the full comments): notebook, paper, arm (labels; not in the key), model +
model_kw (fer_lib.models.registry.create_model), dataset + data_kw (fer_lib.data.load), split ({} = the dataset's
own; {"kind": "group_kfold", "k": 10, "fold": f, "val": 0.1} for CK+/JAFFE/FERG; {"kind": "random", ...}),
train / val (split names), evaluate (split names, or `view("PrivateTest x4", "PrivateTest",
hook("resolution.fixed_factor", factor=4))`), cap (fixed random subsets per split, drawn with cap["seed"]),
config (TrainConfig fields), seed, hooks (`hook(name, **kw)`, registered in fer_lib.runs.hooks, kinds batch_fn,
val_batch_fn, loss_fn, callback, model, data, metrics), needs (names of runs of the same plan whose artefacts
this run loads, e.g. paper 1's SR arms need the EDSR ×2 run: `RunSpec(..., name="edsr_x2", keep=("weights",))`
and `RunSpec(..., needs=("edsr_x2",), hooks=(hook("p1.load_sr", need="edsr_x2"),))` where the model hook does
`model.sr.load_state_dict(torch.load(ctx.artefact("edsr_x2", "weights")))`), keep ("weights": save the trained
state_dict as an artefact; "probs": the record keeps probabilities), tags (free labels for tables).

The key excludes the display labels (notebook, paper, arm, name, tags): renaming an arm never retrains it, and
two arms declaring the same training share one record. tags["claim"] groups the pending table; tags
["cost_factor"] scales a run's time estimate (fer_lib/runs/costs.yaml holds seconds per image per model);
tags["device"] = "cpu" pins a run to the CPU on any machine (a tiny network a GPU would not speed up).

The key, the store, the notebook side
-------------------------------------
- `run_key(spec, data_fingerprint, code=None, needs_keys=None)`: hash of the spec (labels excluded, TrainConfig
  defaults filled in), the content fingerprint of the data rows each role uses, the code version
  (`model_version(model)` + hook versions + RECIPE_VERSION) and the keys of needed runs. `resolve(specs,
  data_root)` keys a whole plan -> [Planned(spec, key, ...)].
- `Store.for_profile(profile)`: records at reports/<profile>/runs/<notebook>/<key>.json (cpu, full) or under
  $FER_RUNS_DIR / ~/.cache/fer_lib/runs/smoke (smoke); checkpoints/<key>.pt; artefacts outside git
  ($FER_ARTEFACTS_DIR or ~/.cache/fer_lib/artefacts/<profile>/<key>/).
- `execute(spec, data_root, device, store)` -> record (dict), written atomically when the run completes.
- In a notebook (nb = fer_lib.study.notebook.start(...); smoke: assemble(None, plan) uses the smoke store)::

      runs = assemble(nb, p4_khan.plan(nb.profile, **overrides))   # stored runs loaded, missing ones trained
      runs = assemble(nb, plan, train=False)  # trains nothing: missing runs stay pending, the rest renders
      runs = assemble(nb, plan, on_error="record")   # a failing run (e.g. a diverging lr) is kept as failed,
                                                      # runs.failures says why; the others still train
      runs.status_line(); runs.pending_table()  # claim (tags["claim"]), arm, runs missing, est. GPU/CPU min
      runs.table()                           # one row per run: arm, seed, tags, status, accuracy per view
      runs.summary("PrivateTest")            # per arm: mean ± 95 % CI over stored seeds, "seeds 2/3"
      runs.metric("PrivateTest", "accuracy") # {arm: [value per stored seed]}
      runs.predictions("Table 3 · SDL", "PrivateTest")   # arm -> [Predictions per seed]; spec/key -> one
      runs.history(spec); runs.record(spec)  # per-epoch DataFrame; the raw record (dict)
      runs.select(arm=..., **tags)           # a sub-collection (e.g. select(factor=4))

  A record's predictions are exact class indices (fer_lib.core.metrics.Predictions with one-hot probabilities, or
  8-bit probabilities with keep=("probs",)); metrics per view hold accuracy, loss and n.
- Campaign: `python -m fer_lib.campaign status|run|import` (fer_lib/runs/campaign.py).
"""
from .hooks import HookContext, register as register_hook
from .key import RECIPE_VERSION, code_version, run_key
from .spec import RunSpec, hook, view
from .store import Store, history, predictions

__all__ = ["RunSpec", "hook", "view", "register_hook", "HookContext", "run_key", "code_version",
           "RECIPE_VERSION", "Store", "predictions", "history", "execute", "resolve", "assemble", "Runs", "Planned"]


def __getattr__(name):   # the heavier parts load on first use
    if name == "execute":
        from .execute import execute
        return execute
    if name in ("resolve", "Planned"):
        from . import plans
        return getattr(plans, name)
    if name in ("assemble", "Runs", "ensure"):
        from . import assembly as A
        return getattr(A, name)
    raise AttributeError(f"module 'fer_lib.runs' has no attribute {name!r}")
