"""What every paper notebook does first: resolve its parameters into a `NotebookRun` that knows the profile,
data, device, seeds and hardware, and writes figures and results where the study keeps them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import results as R

PROFILES = ("smoke", "cpu", "full")


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

    @property
    def figdir(self) -> Path:
        d = self.root / "figures" / self.notebook
        d.mkdir(parents=True, exist_ok=True)
        return d

    def savefig(self, fig, name: str) -> Path:
        """Save under figures/<notebook>/<name>_<profile>.png (profiles never overwrite each other)."""
        path = self.figdir / f"{name}_{self.profile}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        return path

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
        return R.write_results(self.notebook, self.profile, self.records, self.root,
                               extra={"seeds": self.seeds, "data_root": str(self.data_root or ""), **extra})

    def describe(self) -> str:
        data = "embedded synthetic data" if self.profile == "smoke" else f"data from {self.data_root}"
        return (f"notebook {self.notebook} · profile {self.profile} · {data} · seeds {self.seeds} · "
                f"device {self.device} · {self.hardware}")


def start(notebook: str, profile: str = "smoke", data_root: str | None = None, device: str = "auto",
          seeds=(0,), threads: int | None = None, needs_data: bool = True) -> NotebookRun:
    """Check a notebook's papermill parameters and set up its run. Bad values raise naming the parameter."""
    from .train import resolve_device
    if profile not in PROFILES:
        raise ValueError(f"parameter profile={profile!r}: choose one of {PROFILES}")
    seeds = [int(s) for s in (seeds if isinstance(seeds, (list, tuple)) else [seeds])]
    if not seeds:
        raise ValueError("parameter seeds: give at least one seed")
    root_dir = None
    if profile != "smoke" and needs_data:
        from .data import data_root as find_root
        root_dir = find_root(data_root)
        if root_dir is None:
            raise ValueError(f"parameter data_root={data_root!r}: profile {profile!r} needs the real datasets; "
                             "pass data_root or set FER_DATA_ROOT (see README, 'Running on real data')")
    if threads:
        torch.set_num_threads(threads)
    return NotebookRun(notebook=notebook, profile=profile, device=resolve_device(device), seeds=seeds,
                       data_root=Path(root_dir) if root_dir else None, hardware=R.hardware(),
                       root=R.project_root())
