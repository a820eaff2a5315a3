"""The papermill runner, with real papermill runs of tiny notebooks written into a temporary project root:
a failure is reported and the others still run; a failed run keeps the last good report; a killed runner never
leaves a report marked ok; a damaged runs.json is recovered from; unknown -p names and missing data roots are
refused; experiments (-p) never write over the committed record."""
import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from fer_lib import reproduce

# A notebook's body can read two switch files in the project root: FAIL (raise after partial output) and SLOW
# (sleep, so that a test can kill the runner mid-notebook). It writes its results file and one figure file
# where fer_lib.core.paths says (the committed record, or an experiment's folder).
BODY = """
import os, pathlib, time
from fer_lib.core.paths import figures_dir, reports_dir
root = pathlib.Path(os.environ["FER_PROJECT_ROOT"])
res = reports_dir(profile) / "results" / f"{NAME}.json"
res.parent.mkdir(parents=True, exist_ok=True)
res.write_text('{"headline": ["%s run, epochs=%s"]}' % ("failing" if (root / "FAIL").exists() else "good", epochs))
fig = figures_dir() / NAME / f"plot_{profile}.png"
fig.parent.mkdir(parents=True, exist_ok=True)
fig.write_text(f"figure epochs={epochs}")
print("partial output of", NAME)
if (root / "SLOW").exists():
    time.sleep(300)
if (root / "FAIL").exists():
    raise RuntimeError("deliberate failure")
print("finished", NAME)
"""


def _nb(path, body, params='profile = "smoke"\ndata_root = ""\ndevice = "auto"\nepochs = 1'):
    nb = new_notebook()
    cell = new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, new_code_cell(f"NAME = {path.stem!r}"), new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_PROJECT_ROOT", str(tmp_path))
    monkeypatch.delenv("FER_REPORTS_DIR", raising=False)
    monkeypatch.delenv("FER_FIGURES_DIR", raising=False)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "fer_lib").mkdir()  # source_key hashes the project's fer_lib/ (empty here)
    return tmp_path


def _state(out):
    return json.loads((out / "runs.json").read_text())


def test_failure_is_reported_and_the_rest_completes(project, capsys):
    _nb(project / "notebooks" / "01_ok.ipynb", "print('first', profile)")
    _nb(project / "notebooks" / "02_broken.ipynb", "print('partial output')\nraise RuntimeError('deliberate')")
    _nb(project / "notebooks" / "03_ok.ipynb", "print('third')")
    assert reproduce.run("smoke", root=project) == 1
    out = project / "reports" / "smoke"
    state = _state(out)
    assert {k: v["status"] for k, v in state.items()} == {"01_ok": "ok", "02_broken": "failed", "03_ok": "ok"}
    assert state["02_broken"]["error"] == "RuntimeError: deliberate"
    # the partial output of the broken notebook is kept and exported beside (never as) its report
    assert "partial output" in (out / "02_broken.failed.html").read_text()
    assert not (out / "02_broken.html").exists() and not list(out.glob("*.running.*"))
    index = (out / "index.html").read_text()
    assert 'href="01_ok.html"' in index and 'href="03_ok.html"' in index and 'href="02_broken.failed.html"' in index
    assert "FAILED: 02_broken" in capsys.readouterr().err

    # Second run: the two good notebooks are unchanged and skipped; the broken one runs again.
    assert reproduce.run("smoke", root=project) == 1
    printed = capsys.readouterr().out
    assert "01_ok: unchanged" in printed and "03_ok: unchanged" in printed and "02_broken: running" in printed


def test_a_failed_run_keeps_the_last_good_report(project, capsys):
    _nb(project / "notebooks" / "01_nb.ipynb", BODY)
    out = project / "reports" / "smoke"
    assert reproduce.run("smoke", root=project) == 0
    good_html = (out / "01_nb.html").read_text()
    good_nb = (out / "01_nb.ipynb").read_bytes()
    assert "finished 01_nb" in good_html
    (project / "FAIL").touch()
    assert reproduce.run("smoke", root=project, force=True) == 1
    # the good report, its results and figures are as they were; the failed run sits beside them
    assert (out / "01_nb.html").read_text() == good_html and (out / "01_nb.ipynb").read_bytes() == good_nb
    assert json.loads((out / "results" / "01_nb.json").read_text())["headline"] == ["good run, epochs=1"]
    failed = (out / "01_nb.failed.html").read_text()
    assert "partial output of 01_nb" in failed and "deliberate failure" in failed
    s = _state(out)["01_nb"]
    assert s["status"] == "failed" and s["last_ok"]["headline"] == ["good run, epochs=1"]
    index = (out / "index.html").read_text()
    assert 'href="01_nb.failed.html"' in index and "last good run" in index and "good run, epochs=1" in index
    # fixed: the next run succeeds, replaces the report and drops the failed copy
    (project / "FAIL").unlink()
    assert reproduce.run("smoke", root=project) == 0
    assert not (out / "01_nb.failed.html").exists() and _state(out)["01_nb"]["status"] == "ok"


def test_killed_runner_never_leaves_a_report_marked_ok(project):
    _nb(project / "notebooks" / "01_nb.ipynb", BODY)
    out = project / "reports" / "smoke"
    assert reproduce.run("smoke", root=project) == 0
    good_html = (out / "01_nb.html").read_text()
    (project / "SLOW").touch()
    env = dict(os.environ, FER_PROJECT_ROOT=str(project))
    code = f"from fer_lib import reproduce; from pathlib import Path; reproduce.run('smoke', root=Path({str(project)!r}), force=True)"
    p = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 150  # a loaded 2-core machine starts kernels slowly
        while time.time() < deadline:  # wait until the notebook is mid-way (its first cells ran)
            running = out / "01_nb.running.ipynb"
            if running.exists() and "partial output" in running.read_text(errors="replace"):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the runner never reached the notebook's sleeping cell")
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # runner and kernel, as kill -9 of a terminal's job would
        p.wait()
    s = _state(out)["01_nb"]  # still valid JSON, and not "ok"
    assert s["status"] == "running" and s["last_ok"]["headline"] == ["good run, epochs=1"]
    assert (out / "01_nb.html").read_text() == good_html  # the last good report is untouched
    (project / "SLOW").unlink()
    assert reproduce.run("smoke", root=project) == 0  # not skipped as "unchanged": it runs again
    assert _state(out)["01_nb"]["status"] == "ok" and not (out / "01_nb.running.ipynb").exists()


def test_damaged_runs_json_is_recovered_from(project, capsys):
    _nb(project / "notebooks" / "01_nb.ipynb", "print('hello')")
    out = project / "reports" / "smoke"
    out.mkdir(parents=True)
    (out / "runs.json").write_text('{"01_nb": {"status": "ok", "ke')  # truncated mid-write
    assert reproduce.run("smoke", root=project) == 0
    err = capsys.readouterr().err
    assert "runs.json is damaged" in err and "each runs again" in err and "JSONDecodeError" in err
    assert _state(out)["01_nb"]["status"] == "ok" and list(out.glob("runs.json.damaged-*"))


def test_unknown_parameter_is_refused_naming_it_and_listing_the_parameters(project):
    _nb(project / "notebooks" / "01_nb.ipynb", "print('hello')")
    with pytest.raises(SystemExit) as e:
        reproduce.run("smoke", root=project, extra={"epochz": 3})
    msg = str(e.value)
    assert "notebook 01_nb has no parameter 'epochz'" in msg and "profile, data_root, device, epochs" in msg
    assert not (project / "reports").exists() and not (project / "experiments").exists()  # nothing ran


def test_missing_data_root_is_refused(project):
    _nb(project / "notebooks" / "01_nb.ipynb", "print('hello')")
    for profile in ("smoke", "cpu"):
        with pytest.raises(SystemExit, match="--data-root /nonexistent: no such folder"):
            reproduce.run(profile, data_root="/nonexistent", root=project)
    assert not (project / "reports").exists()


def test_experiments_never_write_over_the_record(project, capsys):
    _nb(project / "notebooks" / "01_nb.ipynb", BODY)
    assert reproduce.run("smoke", root=project) == 0
    record = project / "reports" / "smoke"
    fig = project / "figures" / "01_nb" / "plot_smoke.png"
    before = {p: p.read_bytes() for p in [*record.rglob("*"), fig] if p.is_file()}
    # -p without --out: a default experiments/ folder
    assert reproduce.run("smoke", root=project, extra={"epochs": 3}) == 0
    (exp,) = (project / "experiments").iterdir()
    assert json.loads((exp / "results" / "01_nb.json").read_text())["headline"] == ["good run, epochs=3"]
    assert (exp / "figures" / "01_nb" / "plot_smoke.png").read_text() == "figure epochs=3"
    assert "finished 01_nb" in (exp / "01_nb.html").read_text()
    # --out DIR
    mine = project / "mine"
    assert reproduce.run("smoke", root=project, extra={"epochs": 4}, out=mine) == 0
    assert json.loads((mine / "results" / "01_nb.json").read_text())["headline"] == ["good run, epochs=4"]
    assert {p: p.read_bytes() for p in before} == before  # the record is byte for byte as it was
    assert "the record in reports/smoke/ and figures/ is not touched" in capsys.readouterr().out


def test_only_and_force(project, capsys):
    _nb(project / "notebooks" / "03_ok.ipynb", "print('third')")
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


def test_recipe_values_are_parameters_that_say_where_they_come_from(project, capsys):
    from fer_lib.study import notebook
    run = notebook.start("01_x", "smoke", needs_data=False)
    got = run.recipe({"lr": (1e-4, "paper §4.2"), "batch_size": (16, "reading: not stated")}, lr=3e-4, batch_size=None)
    assert got == {"lr": 3e-4, "batch_size": 16}
    printed = capsys.readouterr().out
    assert "lr = 0.0003  [override (recipe: 0.0001, paper §4.2)]" in printed
    assert "batch_size = 16  [reading: not stated]" in printed
    doc = json.loads(run.save().read_text())
    assert doc["recipe"]["lr"] == {"value": 3e-4, "source": "override (recipe: 0.0001, paper §4.2)"}
    with pytest.raises(ValueError, match="must start with 'paper' or 'reading'"):
        run.recipe({"lr": (1e-4, "my guess")})
    with pytest.raises(ValueError, match=r"\['momentum'\] have no default"):
        run.recipe({"lr": (1e-4, "paper")}, momentum=0.9)


def test_parameters_are_read_with_pythons_parser(tmp_path):
    """papermill's line parser skips `x = None  # the paper's …`; such a parameter must still be accepted."""
    nb = tmp_path / "01_nb.ipynb"
    _nb(nb, "pass", params="profile = 'smoke'\nlr = None  # None: the paper's 0.03\nBATCH, LR = 16, 1e-4\nx: int = 3")
    assert reproduce.notebook_parameters(nb) == ["profile", "lr", "BATCH", "LR", "x"]
    reproduce.check_params([nb], {"lr": 0.1})


def test_notebook_figures_and_results_follow_the_runners_folder(project, monkeypatch):
    """What a kernel does in an experiment: savefig and save write to the experiment's folders, and the
    notebooks' `path.relative_to(run.root)` still prints (the absolute path)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from fer_lib.study import notebook
    exp = project.parent / "exp"
    monkeypatch.setenv("FER_REPORTS_DIR", str(exp))
    monkeypatch.setenv("FER_FIGURES_DIR", str(exp / "figures"))
    run = notebook.start("01_x", "smoke", needs_data=False)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png = run.savefig(fig, "curve")
    res = run.save()
    assert png == exp / "figures" / "01_x" / "curve_smoke.png" and png.exists()
    assert res == exp / "results" / "01_x.json" and res.relative_to(run.root) == res
    assert not (project / "figures").exists() and not (project / "reports").exists()


def test_notebook_start_refuses_a_missing_data_root_in_smoke(tmp_path):
    from fer_lib.study import notebook
    with pytest.raises(ValueError, match=r"parameter data_root='/nonexistent': no such folder \(the smoke profile"):
        notebook.start("01_x", "smoke", "/nonexistent")
    assert notebook.start("01_x", "smoke", str(tmp_path)).profile == "smoke"  # an existing folder is fine


def test_jobs_run_notebooks_side_by_side_and_the_summary_last(project):
    # --jobs 2 (what `make all` uses for smoke): every kernel still starts in notebooks/ (papermill's cwd= would
    # move the whole runner), and the summary starts only when every other notebook has written its results.
    check_cwd = "import os\nassert os.path.basename(os.getcwd()) == 'notebooks', os.getcwd()\n"
    for name in ("01_a", "02_b"):
        _nb(project / "notebooks" / f"{name}.ipynb", check_cwd + BODY)
    _nb(project / "notebooks" / "07_summary.ipynb", check_cwd + (
        "from fer_lib.core.paths import reports_dir\n"
        "assert all((reports_dir(profile) / 'results' / f'{n}.json').exists() for n in ('01_a', '02_b'))\n"))
    assert reproduce.run("smoke", root=project, jobs=2) == 0
    assert {k: v["status"] for k, v in _state(project / "reports" / "smoke").items()} == \
        {"01_a": "ok", "02_b": "ok", "07_summary": "ok"}
