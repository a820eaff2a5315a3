"""Where the study lives on disk."""
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
