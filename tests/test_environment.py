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
