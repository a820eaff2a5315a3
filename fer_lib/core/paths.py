"""Where the study lives on disk, and where a run writes.

The committed record is `reports/<profile>/` and `figures/<notebook>/*_<profile>.png`. The runner
(`fer_lib.reproduce`) points a run elsewhere through two environment variables, read here by everything that
writes or reads results and figures, so an experiment (a run with `-p NAME=VALUE`) never replaces the record:
- FER_REPORTS_DIR: the folder standing for `reports/<profile>/` (results/, executed notebooks, index);
- FER_FIGURES_DIR: the folder standing for `figures/`.
"""
from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding the study's pyproject.toml: $FER_PROJECT_ROOT, else searched upwards from `start`/cwd."""
    if os.environ.get("FER_PROJECT_ROOT"):
        return Path(os.environ["FER_PROJECT_ROOT"]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "pyproject.toml").exists() and (p / "fer_lib").is_dir():
            return p
    # Installed without the source tree: fall back to the package's parent.
    return Path(__file__).resolve().parent.parent


def reports_dir(profile: str, root: Path | None = None) -> Path:
    """`reports/<profile>/` of the project — or $FER_REPORTS_DIR when the runner redirects an experiment.
    An explicit `root` (tests, tools reading another checkout) always means that project's record."""
    if root is None and os.environ.get("FER_REPORTS_DIR"):
        return Path(os.environ["FER_REPORTS_DIR"]).expanduser().resolve()
    return (root or project_root()) / "reports" / profile


def figures_dir(root: Path | None = None) -> Path:
    """`figures/` of the project — or $FER_FIGURES_DIR when the runner redirects an experiment."""
    if root is None and os.environ.get("FER_FIGURES_DIR"):
        return Path(os.environ["FER_FIGURES_DIR"]).expanduser().resolve()
    return (root or project_root()) / "figures"


def is_experiment() -> bool:
    """True inside a run the runner sent away from the committed record (a run with -p, or with --out):
    such a run must not rewrite shared files either (e.g. the README's results block)."""
    return bool(os.environ.get("FER_REPORTS_DIR"))
