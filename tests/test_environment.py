"""environment.yml and pyproject.toml must ask for the same packages with the same pins."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _norm(req: str) -> tuple[str, str]:
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", req)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_norm(r) for r in py["dependencies"])
    for extra in py.get("optional-dependencies", {}).values():
        wanted.update(_norm(r) for r in extra)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    have = dict(_norm(r) for r in pip if not r.startswith("-e"))
    assert have == wanted


def test_pins_that_matter():
    deps = dict(_norm(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert deps["torch"] == "==2.14.1" and deps["torchvision"] == "==0.29.1"
    assert deps["opencv-contrib-python-headless"] == "<5"


def test_make_lab_starts_jupyter_as_root_too():
    """Jupyter refuses root without --allow-root (root is the usual user in containers)."""
    import os
    import subprocess
    out = subprocess.run(["make", "-n", "-W", "pyproject.toml", "lab"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    lab = next(line for line in out.splitlines() if "jupyter lab" in line)
    assert ("--allow-root" in lab) == (os.getuid() == 0)


def test_venv_build_skips_the_slow_steps():
    """make all on a fresh clone: one pip pass, no pip self-upgrade, no byte-compiling of every installed file."""
    make = (ROOT / "Makefile").read_text()
    assert "--upgrade pip" not in make and "--no-compile" in make
