"""Run the study: execute every notebook with papermill, export HTML, write an index page.

    python -m fer_lib.reproduce [--profile smoke|cpu|full] [--data-root DIR] [--only 01,03]
                                [--device auto|cpu|cuda] [--force] [--timeout S] [-p NAME=VALUE ...] [--out DIR]
                                [--jobs N]

Where a run writes. Only the profile's canonical parameters (no -p) write the committed record,
reports/<profile>/ and figures/<notebook>/*_<profile>.png. A run with -p is an experiment: it writes to --out
DIR, or by default to experiments/<profile>-<parameters>/ (git-ignored), with its figures in <that>/figures/;
the record is never touched. --out without -p sends a canonical run elsewhere too.

What a run keeps. Each notebook executes into a new file (<name>.running.ipynb) and replaces its report
(<name>.ipynb, <name>.html) only when it succeeded. A failing notebook does not stop the others: its partial
output is kept beside the last good report as <name>.failed.{ipynb,html}, linked from the index, its
results/figures of the failed attempt are rolled back, and the exit status is 1. runs.json is written
atomically and marks a notebook "running" before it starts and "ok" only after its report is in place, so a
killed runner never leaves a half-executed report marked ok. A notebook is skipped when neither its source,
its parameters nor fer_lib's code changed since its last successful run (unless --force).

Bad input is refused before anything runs: a -p name that a notebook does not have (the message lists its
parameters), a --data-root that does not exist.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import html
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from .core.io import atomic_write_text
from .study.results import hardware, project_root

BASE_PARAMS = ("profile", "data_root", "device")


def notebooks(root: Path, only: list[str] | None = None) -> list[Path]:
    found = sorted((root / "notebooks").glob("[0-9][0-9]*.ipynb"))  # 00_…, 03b_…, 07_summary last
    if only:
        unknown = [o for o in only if not any(p.name.startswith(o) for p in found)]
        if unknown:
            raise SystemExit(f"--only: no notebook starts with {unknown}; notebooks: {[p.stem for p in found]}")
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
    return found


def source_key(nb: Path, params: dict, root: Path) -> str:
    """What a result depends on: the notebook, its parameters and fer_lib's code."""
    h = hashlib.sha1(nb.read_bytes())
    h.update(json.dumps(params, sort_keys=True).encode())
    for f in sorted((root / "fer_lib").rglob("*")):
        if f.suffix in (".py", ".yaml"):
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def notebook_parameters(nb: Path) -> list[str]:
    """The names assigned in a notebook's cell tagged `parameters` (what -p may set), read with Python's own
    parser (papermill's line parser skips lines such as `x = None  # the paper's`)."""
    import ast
    for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            names = []
            for node in ast.parse(src).body:
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, ast.AnnAssign) else []
                for t in targets:
                    for n in (t.elts if isinstance(t, ast.Tuple) else [t]):
                        if isinstance(n, ast.Name) and n.id not in names:
                            names.append(n.id)
            return names
    return []


def check_params(todo: list[Path], extra: dict) -> None:
    """Refuse a -p name that a selected notebook does not have (papermill would only warn and run on)."""
    problems = []
    for nb in todo:
        have = notebook_parameters(nb)
        unknown = [k for k in extra if k not in have]
        if unknown:
            problems.append(f"notebook {nb.stem} has no parameter {', '.join(map(repr, unknown))}; "
                            f"its parameters: {', '.join(have) or '(none)'}")
    if problems:
        raise SystemExit("-p: unknown parameter\n  " + "\n  ".join(problems) +
                         "\n(check the spelling, or pick the notebooks that have it with --only)")


def check_data_root(profile: str, data_root: str | None) -> None:
    """A --data-root that does not exist is refused up front, in every profile."""
    if data_root and not Path(data_root).expanduser().is_dir():
        hint = (" (the smoke profile reads no real data: leave --data-root out)" if profile == "smoke" else
                " — the folder holding fer2013/, ferplus/, ckplus/, mnist/ (README, 'Running on real data')")
        raise SystemExit(f"--data-root {data_root}: no such folder{hint}")
    env = os.environ.get("FER_DATA_ROOT")
    if profile != "smoke" and not data_root and env and not Path(env).expanduser().is_dir():
        raise SystemExit(f"FER_DATA_ROOT={env}: no such folder (README, 'Running on real data')")


def export_html(executed: Path, out: Path | None = None) -> Path:
    """HTML of an executed notebook: fer_lib.study.report.export_html (light report) when present, else nbconvert's."""
    out = out or executed.with_suffix(".html")
    try:
        from .study.report import export_html as light
    except ImportError:
        light = None
    if light is not None:
        try:
            made = Path(light(executed))
            if made != out:
                os.replace(made, out)
            return out
        except Exception as e:  # the light report is a nicety: fall back to nbconvert's page, say so
            print(f"    fer_lib.study.report.export_html failed on {executed.name} ({type(e).__name__}: {e}); "
                  "nbconvert's HTML used instead", file=sys.stderr)
    import nbformat
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    atomic_write_text(out, body)
    return out


SAVE_EVERY_S = 10.0


def _engine() -> str:
    """papermill's nbclient engine, but saving the executing notebook at most every SAVE_EVERY_S seconds rather
    than at the start and end of every cell (00_datasets: 78 writes of a 1.5 MB notebook, each validated: ~2 s).
    A killed run still leaves its recent output in <name>.running.ipynb; a finished or failed notebook is
    written in full, as before (papermill writes it after the engine returns)."""
    from papermill.engines import NBClientEngine, papermill_engines

    class ThrottledSaves(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            save, last = nb_man.save, [-SAVE_EVERY_S]

            def throttled(**kw):
                if time.monotonic() - last[0] >= SAVE_EVERY_S:
                    last[0] = time.monotonic()
                    save(**kw)
            nb_man.save = throttled
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("fer_lib", ThrottledSaves)
    return "fer_lib"


def load_state(state_file: Path) -> dict:
    """runs.json, or {} — a damaged file (e.g. truncated by a kill before writes were atomic) is set aside with
    a message, and every notebook then runs again."""
    if not state_file.exists():
        return {}
    try:
        state = json.loads(state_file.read_text())
        if not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
            raise ValueError("not a mapping of notebook -> entry")
        return state
    except (ValueError, UnicodeDecodeError) as e:
        kept = state_file.with_name(f"runs.json.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(state_file, kept)
        print(f"{state_file} is damaged ({type(e).__name__}: {e}); moved to {kept.name}. The run status of "
              f"every notebook is unknown, so each runs again (the reports on disk stay until replaced).",
              file=sys.stderr)
        return {}


def save_state(state_file: Path, state: dict) -> None:
    atomic_write_text(state_file, json.dumps(state, indent=1))


def headline(results_file: Path) -> list[str]:
    if not results_file.exists():
        return []
    try:
        doc = json.loads(results_file.read_text())
    except ValueError:
        return [f"(unreadable {results_file.name})"]
    return doc.get("headline") or []


def write_index(outdir: Path, profile: str, state: dict, note: str = "") -> Path:
    rows = []
    # The summary notebook leads the index (the study's verdict), then the notebooks in order.
    order = sorted(state, key=lambda k: (not k.endswith("_summary"), k))
    for name in order:
        s, e = state[name], html.escape(name)
        status = s["status"]
        link = f'<a href="{e}.html">{e}</a>' if s.get("html") or (outdir / f"{name}.html").exists() else e
        last = s.get("last_ok") if status != "ok" else None
        heads = "<br>".join(html.escape(h) for h in (s.get("headline") if status == "ok" else
                                                       (last or {}).get("headline")) or [])
        if status == "ok":
            cell = '<span style="color:green">ok</span>'
        else:
            label = {"failed": "failed", "running": "interrupted (the runner stopped during this notebook)"}.get(status, status)
            cell = f'<span style="color:red">{label}</span>'
            if s.get("failed_html"):
                cell += f' — <a href="{e}.failed.html">the failed run</a>'
            if s.get("error"):
                cell += f'<br><small>{html.escape(s["error"])[:300]}</small>'
            good = outdir / f"{name}.html"
            when = (last or {}).get("finished") or (good.exists() and time.strftime(
                "%Y-%m-%d %H:%M", time.localtime(good.stat().st_mtime)))
            cell += (f'<br><small>the report linked is the last good run ({html.escape(when)})</small>'
                     if good.exists() else "<br><small>no good report yet</small>")
        rows.append(f'<tr><td>{link}</td><td>{cell}</td>'
                    f'<td>{s.get("seconds", 0):.0f} s</td><td>{html.escape(s.get("hardware", ""))}</td>'
                    f'<td>{html.escape(s.get("finished", s.get("started", "")))}</td><td>{heads}</td></tr>')
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>FER reproduction study — {profile}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border-bottom:1px solid #ddd;padding:.4em;vertical-align:top;text-align:left}}</style>
</head><body><h1>FER reproduction study — profile <code>{profile}</code></h1>
<p>Each notebook executed with papermill (parameters: profile={profile}). Numbers below come from
<code>results/*.json</code>; the paper's own numbers are shown beside ours inside each report.
{"<b>Smoke profile: embedded synthetic data — these numbers test the code, not the papers.</b>" if profile == "smoke" else ""}
{html.escape(note)}</p>
<table><tr><th>notebook</th><th>status</th><th>time</th><th>hardware</th><th>finished</th><th>headline</th></tr>
{''.join(rows)}</table></body></html>"""
    path = outdir / "index.html"
    atomic_write_text(path, page)
    return path


def experiment_dir(root: Path, profile: str, extra: dict) -> Path:
    """experiments/<profile>-<parameters>/: a stable folder per set of -p values (reruns skip what is unchanged)."""
    text = ",".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in sorted(extra.items()))
    slug = re.sub(r"[^A-Za-z0-9.=,_-]+", "", text)[:60].replace("=", "-").replace(",", "_")
    return root / "experiments" / f"{profile}-{slug}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"


@contextlib.contextmanager
def environment(**values):
    """Set environment variables for the kernels papermill starts; restore them afterwards."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items() if v is not None})
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def rollback_on_failure(owned):
    """Snapshot the files `owned()` lists (one notebook's results and figures); if the block raises, put them
    back and remove the ones the failed attempt created, so a failed run leaves the record as it was."""
    with tempfile.TemporaryDirectory() as tmp:
        before = owned()
        saved = {}
        for i, f in enumerate(before):
            saved[f] = Path(tmp) / str(i)
            shutil.copy2(f, saved[f])
        try:
            yield
        except BaseException:
            for f in owned():
                if f not in saved:
                    f.unlink(missing_ok=True)
            for f, copy in saved.items():
                shutil.copy2(copy, f)
            raise


def _owned_files(name: str, profile: str, results: Path, figures: Path):
    def owned() -> list[Path]:
        figs = sorted((figures / name).glob(f"*_{profile}.*")) if (figures / name).is_dir() else []
        return [f for f in [results / f"{name}.json", *figs] if f.exists()]
    return owned


def slowest_cells(executed: Path, n: int = 3) -> list[str]:
    """The n slowest cells of an executed notebook (papermill's per-cell durations): where its time goes."""
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    timed = [((c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0), i,
              ("".join(c["source"]) if isinstance(c["source"], list) else c["source"]).strip().split("\n")[0][:60])
             for i, c in enumerate(cells) if c["cell_type"] == "code"]
    return [f"cell {i}: {d:.1f} s ({first})" for d, i, first in sorted(timed, reverse=True)[:n]]


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the notebook kernels), user + system."""
    import resource
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _error_line(e: Exception) -> str:
    ename, evalue = getattr(e, "ename", None), getattr(e, "evalue", None)
    if ename:  # papermill's PapermillExecutionError: the notebook's own exception
        return f"{ename}: {evalue}"
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[-1] if text else ''}"


def run(profile: str = "smoke", data_root: str | None = None, only: list[str] | None = None,
        device: str = "auto", force: bool = False, timeout: int | None = None, root: Path | None = None,
        extra: dict | None = None, out: str | Path | None = None, jobs: int = 1) -> int:
    """Execute the notebooks (module docstring). jobs > 1 runs that many notebooks side by side (the summary
    last, alone): on 2 cores, one notebook's single-threaded stretches (kernel start, imports, plots, tables,
    the HTML export) overlap another's; results are the same, timings measured inside a notebook are not."""
    import papermill as pm

    root = root or project_root()
    extra = dict(extra or {})
    # papermill's parameter-cell parser warns on lines it cannot read (e.g. "# the paper's"); the names are
    # checked here with Python's own parser instead, so its warnings are only noise
    logging.getLogger("papermill.translators").setLevel(logging.ERROR)
    engine = _engine()
    todo = notebooks(root, only)
    check_data_root(profile, data_root)
    check_params(todo, extra)
    canonical_dir = root / "reports" / profile
    outdir = Path(out).expanduser().resolve() if out else (canonical_dir if not extra else
                                                            experiment_dir(root, profile, extra))
    record = outdir == canonical_dir.resolve() or outdir == canonical_dir
    outdir.mkdir(parents=True, exist_ok=True)
    figures = root / "figures" if record else outdir / "figures"
    if not record:
        print(f"{'experiment (-p ' + ', '.join(extra) + ')' if extra else 'run'}: writing to {outdir} "
              f"(the record in reports/{profile}/ and figures/ is not touched)")
    state_file = outdir / "runs.json"
    state = load_state(state_file)
    params = {"profile": profile, "data_root": data_root or "", "device": device, **extra}
    failed = []
    env = dict(FER_PROJECT_ROOT=root,  # the kernels write results and figures under this root ...
               FER_REPORTS_DIR=None if record else outdir,  # ... or, off the record, here
               FER_FIGURES_DIR=None if record else figures,
               # torch's OpenMP threads spin while waiting: on a 2-core machine with anything else running that
               # made a smoke training 3x slower (28 s vs 9.3 s an epoch); sleeping threads lose nothing here
               OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    lock = threading.Lock()  # state, runs.json and the printed lines, when notebooks run side by side

    def one(i: int, nb: Path) -> None:
        name = nb.stem
        nb_params = dict(params)
        if not record and "update_readme" in notebook_parameters(nb) and "update_readme" not in extra:
            nb_params["update_readme"] = False  # an off-record run never rewrites the README's results
        key = source_key(nb, nb_params, root)
        with lock:
            prev = state.get(name, {})
            if not force and prev.get("status") == "ok" and prev.get("key") == key and (outdir / f"{name}.html").exists():
                print(f"[{i}/{len(todo)}] {name}: unchanged since its last run — skipped (--force reruns it)")
                return
            print(f"[{i}/{len(todo)}] {name}: running (profile {profile}) ...", flush=True)
            last_ok = {k: prev[k] for k in ("finished", "seconds", "headline", "hardware", "params") if k in prev} \
                if prev.get("status") == "ok" else prev.get("last_ok")
            entry = {"status": "running", "key": key, "hardware": hardware(), "params": nb_params,
                     "started": time.strftime("%Y-%m-%d %H:%M"), "last_ok": last_ok}
            state[name] = dict(entry)  # a copy: `entry` changes below, outside the lock
            save_state(state_file, state)  # a kill from here on leaves "running", never a stale "ok"
        running = outdir / f"{name}.running.ipynb"
        t0, cpu0 = time.time(), _cpu_seconds()
        try:
            with rollback_on_failure(_owned_files(name, profile, outdir / "results", figures)):
                # the kernel starts in notebooks/ (nbclient's resources path), without papermill's cwd=, which
                # changes the directory of the whole runner: not safe with notebooks running side by side
                pm.execute_notebook(str(nb), str(running), parameters=nb_params, kernel_name="python3",
                                    progress_bar=False, execution_timeout=timeout, engine_name=engine,
                                    resources={"metadata": {"path": str(nb.parent)}})
            entry["slowest_cells"] = slowest_cells(running)  # read before the export slims the notebook
            html_tmp = export_html(running, outdir / f"{name}.running.html")
            os.replace(running, outdir / f"{name}.ipynb")
            os.replace(html_tmp, outdir / f"{name}.html")
            for stale in (outdir / f"{name}.failed.ipynb", outdir / f"{name}.failed.html"):
                stale.unlink(missing_ok=True)
            entry.update(status="ok", html=True, last_ok=None)
        except Exception as e:  # a failing notebook must not stop the others
            entry.update(status="failed", error=_error_line(e), html=(outdir / f"{name}.html").exists())
            with lock:
                failed.append(name)
            if running.exists():  # keep the partial run beside the last good report
                os.replace(running, outdir / f"{name}.failed.ipynb")
                try:
                    export_html(outdir / f"{name}.failed.ipynb", outdir / f"{name}.failed.html")
                    entry["failed_html"] = True
                except Exception as e2:
                    entry["error"] += f" (HTML export of the failed run failed: {e2})"
            (outdir / f"{name}.running.html").unlink(missing_ok=True)
        entry["seconds"] = time.time() - t0
        # runner + kernel: a figure that load barely moves (with --jobs > 1 it also counts the neighbour's kernel)
        entry["cpu_seconds"] = _cpu_seconds() - cpu0
        entry["finished"] = time.strftime("%Y-%m-%d %H:%M")
        if entry["status"] == "ok":
            entry["headline"] = headline(outdir / "results" / f"{name}.json")
            entry.pop("last_ok", None)
        with lock:
            state[name] = entry
            save_state(state_file, state)
            print(f"    {name}: {entry['status']} in {entry['seconds']:.0f} s ({entry['cpu_seconds']:.0f} CPU s)" + (f" — {entry['error']}" if entry["status"] != "ok" else ""), flush=True)

    with environment(**env):
        # The summary notebook reads every other notebook's results: it runs last, alone.
        first = [(i, nb) for i, nb in enumerate(todo, 1) if not nb.stem.endswith("_summary")]
        last = [(i, nb) for i, nb in enumerate(todo, 1) if nb.stem.endswith("_summary")]
        if jobs > 1 and len(first) > 1:
            with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
                for f in [pool.submit(one, i, nb) for i, nb in first]:
                    f.result()
        else:
            for i, nb in first:
                one(i, nb)
        for i, nb in last:
            one(i, nb)
    note = "" if record else f"Off-record run with parameters {extra}." if extra else "Off-record run."
    index = write_index(outdir, profile, state, note)
    print(f"index: {index}")
    if failed:
        print(f"FAILED: {', '.join(failed)} (the failed runs are kept as <name>.failed.html beside the last good "
              f"reports in {outdir})", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="smoke", choices=("smoke", "cpu", "full"))
    ap.add_argument("--data-root", default=None, help="real datasets (default: $FER_DATA_ROOT, then ../shared/data)")
    ap.add_argument("--only", default=None, help="comma-separated notebook prefixes, e.g. 01,03")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--force", action="store_true", help="rerun notebooks even when unchanged")
    ap.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                    help="another papermill parameter, VALUE read as YAML (e.g. -p seeds=[0] -p epochs=3); the name "
                         "must be one of the notebook's parameters. Makes the run an experiment (see --out)")
    ap.add_argument("--out", default=None, metavar="DIR",
                    help="write reports, results and figures here (default: reports/<profile>/ for the canonical "
                         "parameters, experiments/<profile>-<params>/ for a run with -p)")
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="notebooks run side by side (default 1). `make all` uses 2 for the smoke profile: results "
                         "are the same, but timings measured inside a notebook then share the machine")
    a = ap.parse_args(argv)
    if a.jobs < 1:
        raise SystemExit(f"--jobs {a.jobs}: give 1 or more")
    only = [s.strip() for s in a.only.split(",")] if a.only else None
    return run(a.profile, a.data_root, only, a.device, a.force, a.timeout, extra=parse_params(a.param), out=a.out,
               jobs=a.jobs)


def parse_params(items: list[str]) -> dict:
    """["seeds=[0, 1]", "epochs=3"] -> {"seeds": [0, 1], "epochs": 3}; a clear error names a bad item."""
    import yaml

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise SystemExit(f"--param {item!r}: expected NAME=VALUE, e.g. seeds=[0]")
        if name in BASE_PARAMS:
            raise SystemExit(f"--param {item!r}: use --{name.replace('_', '-')} for {name}")
        try:
            v = yaml.safe_load(value)
            if isinstance(v, str):  # YAML 1.1 reads 1e-3 as a string
                try:
                    v = float(v)
                except ValueError:
                    pass
            out[name] = v
        except yaml.YAMLError as e:
            raise SystemExit(f"--param {item!r}: VALUE is not valid YAML ({e})") from None
    return out


if __name__ == "__main__":
    sys.exit(main())
