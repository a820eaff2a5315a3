"""What every paper notebook does first: resolve its parameters into a `NotebookRun` that knows the profile,
data, device, seeds and hardware, and writes figures and results where the study keeps them.

Figures and results go to the committed record (`figures/`, `reports/<profile>/`) unless the runner sent the
run elsewhere (an experiment with -p, or --out): see fer_lib.core.paths.

Every value of a paper's recipe is a notebook parameter (`None` = the recipe's value), resolved by
`NotebookRun.recipe`, which prints where each value comes from: "paper" (the paper states it, with section),
"reading" (the paper is silent or vague: the standard choice we took) or "override" (a -p parameter).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import results as R
from ..core.paths import figures_dir

PROFILES = ("smoke", "cpu", "full")


class WrittenPath(type(Path())):
    """A written file's path whose `relative_to(run.root)` (what notebooks print) falls back to the absolute
    path when the runner sent the run outside the project (an experiment's folder)."""

    def relative_to(self, *other, **kw):
        try:
            return super().relative_to(*other, **kw)
        except ValueError:
            return self


@dataclass
class NotebookRun:
    notebook: str
    profile: str
    device: torch.device
    seeds: list[int]
    data_root: Path | None
    hardware: str
    root: Path
    records: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)   # the resolved recipe, saved with the results

    @property
    def figdir(self) -> Path:
        d = figures_dir() / self.notebook
        d.mkdir(parents=True, exist_ok=True)
        return d

    def savefig(self, fig, name: str) -> Path:
        """Save under figures/<notebook>/<name>_<profile>.png (profiles never overwrite each other)."""
        path = self.figdir / f"{name}_{self.profile}.png"
        from . import plots
        if hasattr(plots, "save"):  # compact PNG (+ SVG for line plots), written atomically
            return WrittenPath(plots.save(fig, path))
        fig.savefig(path, dpi=110, bbox_inches="tight")
        return WrittenPath(path)

    def record(self, paper, source, row, column, values, *, dataset, **kw) -> dict:
        r = R.record(paper, source, row, column, values, profile=self.profile, dataset=dataset,
                     hw=self.hardware, **kw)
        # One cell is measured once per notebook: a rerun of the cell replaces its record.
        key = (paper, source, row, column, r["dataset"], r["split"])
        self.records = [x for x in self.records
                        if (x["paper"], x["source"], x["row"], x["column"], x["dataset"], x["split"]) != key]
        self.records.append(r)
        return r

    def save(self, **extra) -> Path:
        # no explicit root: results follow the runner's redirection of an experiment (fer_lib.core.paths)
        if self.settings:
            extra.setdefault("recipe", self.settings)
        return WrittenPath(R.write_results(self.notebook, self.profile, self.records,
                                           extra={"seeds": self.seeds, "data_root": str(self.data_root or ""), **extra}))

    def recipe(self, defaults: dict, **given) -> dict:
        """Resolve a paper's recipe: `defaults` = {name: (value, "paper §x" | "reading ...")}, `given` = the
        notebook's parameters of the same names (None = take the default). Prints one line per value saying
        where it comes from, keeps them in `settings` (saved with the results) and returns {name: value}.

            lr, batch_size = run.recipe({"lr": (1e-4, "paper §4.2"), "batch_size": (16, "reading")},
                                        lr=lr, batch_size=batch_size).values()
        """
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ValueError(f"recipe: {unknown} have no default; recipe values: {sorted(defaults)}")
        out, lines = {}, []
        for name, spec in defaults.items():
            value, label = spec if isinstance(spec, tuple) else (spec, "reading")
            if not str(label).startswith(("paper", "reading")):
                raise ValueError(f"recipe {name}: label {label!r} must start with 'paper' or 'reading'")
            v = given.get(name)
            if v is None:
                out[name], src = value, label
            else:
                out[name], src = v, f"override (recipe: {value!r}, {label})"
            self.settings[name] = {"value": out[name], "source": src}
            lines.append(f"  {name} = {out[name]!r}  [{src}]")
        print("recipe:\n" + "\n".join(lines))
        return out

    def rel(self, path) -> Path:
        """`path` relative to the project when inside it, else as it is (an experiment's folder): for printing."""
        return WrittenPath(path).relative_to(self.root)

    def describe(self) -> str:
        data = "embedded synthetic data" if self.profile == "smoke" else f"data from {self.data_root}"
        return (f"notebook {self.notebook} · profile {self.profile} · {data} · seeds {self.seeds} · "
                f"device {self.device} · {self.hardware}")


def start(notebook: str, profile: str = "smoke", data_root: str | None = None, device: str = "auto",
          seeds=(0,), threads: int | None = None, needs_data: bool = True) -> NotebookRun:
    """Check a notebook's papermill parameters and set up its run. Bad values raise naming the parameter."""
    from ..core.train import resolve_device
    if profile not in PROFILES:
        raise ValueError(f"parameter profile={profile!r}: choose one of {PROFILES}")
    seeds = [int(s) for s in (seeds if isinstance(seeds, (list, tuple)) else [seeds])]
    if not seeds:
        raise ValueError("parameter seeds: give at least one seed")
    root_dir = None
    if profile == "smoke" and data_root and not Path(data_root).expanduser().is_dir():
        # refused rather than silently ignored; off smoke the loaders say what they expected where
        raise ValueError(f"parameter data_root={data_root!r}: no such folder (the smoke profile reads no real "
                         "data: leave data_root empty)")
    if profile != "smoke" and needs_data:
        from ..data import data_root as find_root
        root_dir = find_root(data_root)
        if root_dir is None:
            raise ValueError(f"parameter data_root={data_root!r}: profile {profile!r} needs the real datasets; "
                             "pass data_root or set FER_DATA_ROOT (see README, 'Running on real data')")
    if threads:
        torch.set_num_threads(threads)
    return NotebookRun(notebook=notebook, profile=profile, device=resolve_device(device), seeds=seeds,
                       data_root=Path(root_dir) if root_dir else None, hardware=R.hardware(),
                       root=R.project_root())
