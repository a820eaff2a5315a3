"""Plans: the per-paper modules that declare runs, and their resolution into keyed runs.

A plan module (fer_lib/papers/pN_*.py) defines `BUDGETS = {"smoke": {...}, "cpu": {...}, "full": {...}}` and
`plan(profile, **overrides) -> list[RunSpec]`. `resolve` computes every run's key in dependency order (a run's
key includes the keys of the runs it `needs`).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType

from ..data import DatasetError
from .spec import RunSpec

PROFILES = ("smoke", "cpu", "full")


def layered_settings(who: str, recipe: dict, budgets: dict, profile: str, overrides: dict, *,
                     full_sources: dict | None = None, normalise=None) -> dict[str, dict]:
    """{name: {"value", "source"}} of a paper's settings, in layers: its recipe ({name: (value, source)}), then the
    profile's budget, then the overrides that are not None — each value labelled with where it comes from
    ("paper §…", "reading: …", "budget (<profile> profile)", "override (was …)"). In the full profile a budget
    value's source is `full_sources[name]`, else the recipe's when it agrees, else "budget (full profile)".
    Names ending in "seeds" become lists of ints; `normalise(name, value, settings)` returns an override's stored
    form or raises naming it. `who` names the paper module in errors (an unknown profile or parameter)."""
    if profile not in budgets:
        raise ValueError(f"{who}: profile={profile!r}; choose one of {list(budgets)}")
    known = list(dict.fromkeys((*recipe, *budgets["full"])))
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"{who}: unknown parameter(s) {unknown}; known: {known}")
    out = {k: {"value": v, "source": src} for k, (v, src) in recipe.items()}
    for k, v in budgets[profile].items():
        if profile != "full":
            src = f"budget ({profile} profile)"
        elif k in (full_sources or {}):
            src = full_sources[k]
        else:
            src = out[k]["source"] if k in out and out[k]["value"] == v else "budget (full profile)"
        out[k] = {"value": v, "source": src}
    for k, v in overrides.items():
        if v is None:
            continue
        if k.endswith("seeds"):
            v = [int(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
        if normalise is not None:
            v = normalise(k, v, out)
        out[k] = {"value": v, "source": f"override (was {out[k]['value']!r}, {out[k]['source']})"}
    return out


def import_plan_modules(package: str = "fer_lib.papers", errors: list | None = None) -> dict[str, ModuleType]:
    """{module name: module} of every module of `package` that defines `plan` and `BUDGETS`.
    errors: a list to collect (module, message) of modules that fail to import; without it they raise."""
    try:
        pkg = importlib.import_module(package)
    except ModuleNotFoundError:
        return {}
    out = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        try:
            mod = importlib.import_module(f"{package}.{info.name}")
        except Exception as e:
            if errors is None:
                raise
            errors.append((f"{package}.{info.name}", f"import failed: {type(e).__name__}: {e}"))
            continue
        if callable(getattr(mod, "plan", None)) and isinstance(getattr(mod, "BUDGETS", None), dict):
            out[mod.__name__] = mod
    return out


def load_plan_modules(names=None, errors: list | None = None) -> dict[str, ModuleType]:
    """The named plan modules (dotted names), or every one of fer_lib.papers when `names` is None."""
    if not names:
        return import_plan_modules(errors=errors)
    out = {}
    for n in names:
        mod = importlib.import_module(n)
        if not (callable(getattr(mod, "plan", None)) and isinstance(getattr(mod, "BUDGETS", None), dict)):
            raise ValueError(f"module {n} is not a plan module: it needs plan(profile, **overrides) and BUDGETS")
        out[n] = mod
    return out


def plan_specs(modules: dict[str, ModuleType], profile: str, only: str | None = None,
               errors: list | None = None) -> list[RunSpec]:
    """Every spec of every module for `profile`; `only` keeps notebooks whose name starts with it ("04").
    errors: a list to collect (module, message) of plans that fail; without it they raise."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r}: choose one of {PROFILES}")
    specs = []
    for name, mod in modules.items():
        try:
            got = list(mod.plan(profile))
            bad = [s for s in got if not isinstance(s, RunSpec)]
            if bad:
                raise TypeError(f"{name}.plan({profile!r}) returned {type(bad[0]).__name__}, not RunSpec")
        except Exception as e:
            if errors is None:
                raise
            errors.append((name, f"plan({profile!r}) failed: {type(e).__name__}: {e}"))
            continue
        specs += got
    if only is None:
        return specs
    keep = {id(s) for s in specs if s.notebook.startswith(str(only))}
    named = {s.name: s for s in specs if s.name}
    todo = [n for s in specs if id(s) in keep for n in s.needs]
    while todo:   # the runs the kept ones need come along, whatever their notebook
        s = named.get(todo.pop())
        if s is not None and id(s) not in keep:
            keep.add(id(s))
            todo += list(s.needs)
    return [s for s in specs if id(s) in keep]


@dataclass(frozen=True)
class Planned:
    """A spec with its key (None when its data are not here: `error` says why)."""
    spec: RunSpec
    key: str | None
    data_fingerprint: str | None = None
    needs_keys: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)       # n_train, n_val, n_eval, image_shape (for estimates)
    error: str | None = None
    invalid: bool = False       # the spec does not fit its data (e.g. names a split the data lack): fix the plan


def resolve(specs: list[RunSpec], data_root=None) -> list[Planned]:
    """Key every spec (in the given order); `needs` must name runs of the same list (RunSpec.name)."""
    from .data import data_facts
    from .key import run_key
    by_name: dict[str, RunSpec] = {}
    for s in specs:
        if s.name:
            other = by_name.get(s.name)
            if other is not None and other.key_dict() != s.key_dict():
                raise ValueError(f"plan: two different runs are named {s.name!r} ({other.label}; {s.label})")
            by_name[s.name] = s
    done: dict[int, Planned] = {}
    keys_by_name: dict[str, str | None] = {}

    def visit(i: int, s: RunSpec, stack=()):
        if i in done:
            return done[i]
        for n in s.needs:
            if n not in by_name:
                raise ValueError(f"plan: {s.label} needs {n!r}, which no run of the plan is named")
            if n in stack:
                raise ValueError(f"plan: runs {stack + (n,)} need each other")
            j = next(k for k, t in enumerate(specs) if t.name == n)
            visit(j, specs[j], stack + (s.name or s.label,))
        try:
            fp, facts = data_facts(s, data_root)
        except Exception as e:  # absent data (or a spec its data contradict): listed, but without a key
            missing = isinstance(e, DatasetError) and "not found" in str(e) or isinstance(e, FileNotFoundError)
            done[i] = Planned(s, None, error=f"{type(e).__name__}: {e}", invalid=not missing)
            return done[i]
        needs = {n: keys_by_name.get(n) for n in s.needs}
        if any(k is None for k in needs.values()):
            done[i] = Planned(s, None, fp, facts=facts, error=f"a needed run has no key: {needs}")
        else:
            done[i] = Planned(s, run_key(s, fp, needs_keys=needs), fp, needs, facts)
        if s.name:
            keys_by_name[s.name] = done[i].key
        return done[i]

    for i, s in enumerate(specs):
        visit(i, s)
    return [done[i] for i in range(len(specs))]
