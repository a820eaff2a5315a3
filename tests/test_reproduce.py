"""The papermill runner: a failing notebook is reported, the others still run, unchanged ones are skipped."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from fer_lib import reproduce


def _nb(path, body):
    nb = new_notebook()
    params = new_code_cell('profile = "smoke"\ndata_root = ""\ndevice = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_PROJECT_ROOT", str(tmp_path))
    (tmp_path / "notebooks").mkdir()
    _nb(tmp_path / "notebooks" / "01_ok.ipynb", "print('first', profile)")
    _nb(tmp_path / "notebooks" / "02_broken.ipynb", "print('partial output')\nraise RuntimeError('deliberate')")
    _nb(tmp_path / "notebooks" / "03_ok.ipynb", "print('third')")
    return tmp_path


def test_failure_is_reported_and_the_rest_completes(project, capsys):
    assert reproduce.run("smoke", root=project) == 1
    out = project / "reports" / "smoke"
    state = json.loads((out / "runs.json").read_text())
    assert {k: v["status"] for k, v in state.items()} == {"01_ok": "ok", "02_broken": "failed", "03_ok": "ok"}
    assert "deliberate" in state["02_broken"]["error"]
    # the partial output of the broken notebook is kept and exported
    assert "partial output" in (out / "02_broken.html").read_text()
    index = (out / "index.html").read_text()
    assert all(f'href="{n}.html"' in index for n in state)
    assert "FAILED: 02_broken" in capsys.readouterr().err

    # Second run: the two good notebooks are unchanged and skipped; the broken one runs again.
    assert reproduce.run("smoke", root=project) == 1
    printed = capsys.readouterr().out
    assert "01_ok: unchanged" in printed and "03_ok: unchanged" in printed and "02_broken: running" in printed


def test_only_and_force(project, capsys):
    assert reproduce.run("smoke", only=["03"], root=project) == 0
    assert reproduce.run("smoke", only=["03"], root=project, force=True) == 0
    assert capsys.readouterr().out.count("03_ok: running") == 2
    with pytest.raises(SystemExit, match="no notebook starts with"):
        reproduce.run("smoke", only=["99"], root=project)


def test_parse_params_reads_yaml_values_and_rejects_bad_items():
    assert reproduce.parse_params(["seeds=[0, 1]", "epochs=3", "augment=none", "lr=1e-3"]) == {
        "seeds": [0, 1], "epochs": 3, "augment": "none", "lr": 1e-3}
    for bad in ["seeds", "1x=2", "profile=cpu", "seeds=[0"]:
        with pytest.raises(SystemExit, match="--param"):
            reproduce.parse_params([bad])
