"""A tiny run plan for the tests of fer_lib.runs and the campaign (synthetic data, a few batches: seconds).

Two arms × two seeds, plus a producer ("tiny_source", keeps its weights) and a consumer that needs it (its model
hook loads the producer's weights). $TINY_DIE_MARKER adds a callback that kills its worker once (os._exit after
epoch 0 while the marker file does not exist), to test that a killed worker's run is re-run.
"""
import os
from pathlib import Path

import torch

from fer_lib.runs import RunSpec, hook, register_hook, view

BUDGETS = {
    "smoke": dict(counts={"Training": 70, "PublicTest": 35, "PrivateTest": 35}, epochs=2, max_batches=2,
                  seeds=[0, 1]),
    "cpu": dict(counts={"Training": 140, "PublicTest": 70, "PrivateTest": 70}, epochs=2, max_batches=3, seeds=[0]),
    "full": dict(counts={"Training": 280, "PublicTest": 70, "PrivateTest": 70}, epochs=3, max_batches=None,
                 seeds=[0, 1, 2]),
}


@register_hook("tiny.load_weights", "model")
def load_weights(ctx, need):
    state = torch.load(ctx.artefact(need, "weights"), map_location="cpu")

    def apply(model):
        model.load_state_dict(state)
        return model
    return apply


@register_hook("tiny.die_once", "callback")
def die_once(ctx, marker):
    def cb(epoch, row, model):
        if epoch == 0 and not Path(marker).exists():
            Path(marker).write_text("killed once")
            os._exit(3)   # as a kill -9 would: no exception, no record, the checkpoint of epoch 0 stays
    return cb


def plan(profile: str, **overrides) -> list[RunSpec]:
    b = {**BUDGETS[profile], **overrides}
    base = dict(notebook="98", paper="px", model="SmallCNN", model_kw={"widths": [4, 8]}, dataset="synthetic",
                data_kw={"counts": b["counts"], "size": 16},
                config={"epochs": b["epochs"], "batch_size": 16, "max_batches": b["max_batches"], "augment": None})
    die = (hook("tiny.die_once", marker=os.environ["TINY_DIE_MARKER"]),) if os.environ.get("TINY_DIE_MARKER") else ()
    specs = [RunSpec(arm=f"arm {a}", seed=s, **{**base, "config": {**base["config"], "lr": lr}},
                     tags={"claim": "T1", "lr": lr}, hooks=die if (a, s) == ("B", 0) else (),
                     evaluate=("PrivateTest", view("PrivateTest x2", "PrivateTest",
                                                   hook("resolution.fixed_factor", factor=2))))
             for a, lr in (("A", 1e-3), ("B", 3e-3)) for s in b["seeds"]]
    specs.append(RunSpec(arm="source", seed=0, name="tiny_source", keep=("weights",), tags={"claim": "T2"}, **base))
    specs.append(RunSpec(arm="fine-tuned from source", seed=0, needs=("tiny_source",), tags={"claim": "T2"},
                         hooks=(hook("tiny.load_weights", need="tiny_source"),), **base))
    return specs
