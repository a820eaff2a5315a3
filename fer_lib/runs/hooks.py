"""Hooks by name: the small pieces of code a run spec names instead of carrying a function.

A paper module registers a hook *factory* at import time; a spec names it with its JSON-able keyword arguments
(`hook("p5.mstrain", factors=[1, 2, 4, 8])`); the runner calls `factory(ctx, **kw)` and uses what it returns:

    kind          the factory returns                                   used as
    batch_fn      f(x, y, gen) -> (x, y)                                fit(batch_fn=...) on training batches
    val_batch_fn  f(x, y, gen) -> (x, y)                                fit(val_batch_fn=...), and every evaluated
                                                                        view that names no batch_fn of its own
    loss_fn       f(model, x, y) -> (loss, logits or None)              fit(loss_fn=...) and evaluate(loss_fn=...)
    callback      f(epoch, row, model) -> None                          fit(callback=...) (several are chained)
    model         f(model) -> model                                     on the freshly built model, inside the
                                                                        seeded scope (load a needed run's weights)
    data          f(ds, role) -> ds                                     on each prepared FaceDataset; role is
                                                                        "train", "val" or a view's name
    metrics       f(model, data) -> {name: number or list}              after training; stored in the record's
                                                                        metrics under the hook's name

`ctx` (HookContext) carries the spec, its key, the device, the prepared data, the normalisation and the
artefacts of the runs the spec `needs` (`ctx.artefact("edsr_x2", "weights")` -> a path).

Each hook has a version that enters the run key: bump it whenever the hook's effect on a result changes.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

KINDS = ("batch_fn", "val_batch_fn", "loss_fn", "callback", "model", "data", "metrics")


@dataclass(frozen=True)
class Hook:
    name: str
    kind: str
    factory: Callable
    version: int
    module: str


@dataclass
class HookContext:
    spec: object                     # the RunSpec
    key: str
    device: object                   # torch.device
    data: object = None              # fer_lib.runs.data.RunData
    mean: float = 0.5                # the run's input normalisation (TrainConfig.mean/std)
    std: float = 0.5
    artefacts: dict = field(default_factory=dict)   # needed run's name -> its artefact folder

    def artefact(self, need: str, name: str = "weights") -> Path:
        """The file `name` (e.g. "weights" -> weights.pt) of the run this spec `needs` under the name `need`."""
        if need not in self.artefacts:
            raise KeyError(f"run {self.spec.label}: it does not declare needs={need!r} (needs={self.spec.needs})")
        folder = Path(self.artefacts[need])
        path = folder / (name if "." in name else f"{name}.pt")
        if not path.exists():
            raise FileNotFoundError(f"run {self.spec.label}: artefact {path} of needed run {need!r} is missing")
        return path


HOOKS: dict[str, Hook] = {}


def register(name: str, kind: str, version: int = 1):
    """Decorator over a hook factory: `@register("p5.mstrain", "batch_fn")` over
    `def mstrain(ctx, factors=...): return RandomFactor(...)`."""
    if kind not in KINDS:
        raise ValueError(f"hook {name!r}: unknown kind {kind!r}; choose from {KINDS}")

    def deco(factory: Callable) -> Callable:
        old = HOOKS.get(name)
        if old is not None and (old.module, old.factory.__qualname__) != (factory.__module__, factory.__qualname__):
            raise ValueError(f"hook {name!r} is registered twice ({old.module} and {factory.__module__})")
        HOOKS[name] = Hook(name, kind, factory, int(version), factory.__module__)
        return factory
    return deco


def get(name: str) -> Hook:
    """The registered hook `name`; imports the paper modules (fer_lib.papers.*) once if it is not known yet."""
    if name not in HOOKS:
        from .plans import import_plan_modules
        import_plan_modules(errors=[])   # a broken plan module must not hide the others' hooks
    if name not in HOOKS:
        raise KeyError(f"unknown hook {name!r}; registered: {sorted(HOOKS)} (a hook is registered when the "
                       "module defining it is imported: name the module in the plan or in fer_lib/papers)")
    return HOOKS[name]


def version(name: str) -> str:
    h = get(name)
    return f"{h.name}={h.version}"


def build(ref: dict, ctx: HookContext) -> tuple[str, object]:
    """(kind, the callable) of a hook reference {"name", "kw"}."""
    h = get(ref["name"])
    try:
        return h.kind, h.factory(ctx, **ref.get("kw", {}))
    except TypeError as e:
        raise TypeError(f"hook {ref['name']!r} ({h.module}): {e}") from None


def import_module(name: str) -> None:
    importlib.import_module(name)


# ----------------------------------------------------------------------------------- hooks every paper can use
@register("resolution.fixed_factor", "val_batch_fn")
def fixed_factor(ctx: HookContext, factor: float, **kw):
    """Every batch degraded by `factor` (bicubic down, then back up; fer_lib.core.degrade.FixedFactor)."""
    from ..core.degrade import FixedFactor
    return FixedFactor(factor, mean=ctx.mean, std=ctx.std, **kw)


@register("resolution.random_factor", "batch_fn")
def random_factor(ctx: HookContext, factors=(1, 2, 3, 4, 5, 6, 7, 8), **kw):
    """Each training image degraded by a factor drawn from `factors` (fer_lib.core.degrade.RandomFactor)."""
    from ..core.degrade import RandomFactor
    return RandomFactor(tuple(factors), mean=ctx.mean, std=ctx.std, **kw)
