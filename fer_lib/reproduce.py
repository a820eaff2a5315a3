"""Run the study: execute every notebook with papermill, export HTML with nbconvert, write an index page.

    python -m fer_lib.reproduce [--profile smoke|cpu|full] [--data-root DIR] [--only 01,03]
                                [--device auto|cpu|cuda] [--force] [--timeout S]

Executed notebooks and their HTML land in reports/<profile>/. A failing notebook does not stop the others:
its partial output is kept and linked, and the exit status is 1. A notebook is skipped when neither its
source, its parameters nor fer_lib's code changed since its last successful run (unless --force).
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import sys
import time
from pathlib import Path

from .results import hardware, project_root


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


def export_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    out = executed.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def headline(results_file: Path) -> list[str]:
    if not results_file.exists():
        return []
    doc = json.loads(results_file.read_text())
    return doc.get("headline") or []


def write_index(outdir: Path, profile: str, state: dict) -> Path:
    rows = []
    # The summary notebook leads the index (the study's verdict), then the notebooks in order.
    order = sorted(state, key=lambda k: (not k.endswith("_summary"), k))
    for name in order:
        s = state[name]
        ok = s["status"] == "ok"
        link = f'<a href="{html.escape(name)}.html">{html.escape(name)}</a>' if s.get("html") else html.escape(name)
        heads = "<br>".join(html.escape(h) for h in s.get("headline", []))
        err = f'<br><small>{html.escape(s.get("error", ""))[:300]}</small>' if not ok else ""
        rows.append(f'<tr><td>{link}</td><td style="color:{"green" if ok else "red"}">{s["status"]}{err}</td>'
                    f'<td>{s["seconds"]:.0f} s</td><td>{html.escape(s["hardware"])}</td>'
                    f'<td>{html.escape(s["finished"])}</td><td>{heads}</td></tr>')
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>FER reproduction study — {profile}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border-bottom:1px solid #ddd;padding:.4em;vertical-align:top;text-align:left}}</style>
</head><body><h1>FER reproduction study — profile <code>{profile}</code></h1>
<p>Each notebook executed with papermill (parameters: profile={profile}). Numbers below come from
<code>results/*.json</code>; the paper's own numbers are shown beside ours inside each report.
{"<b>Smoke profile: embedded synthetic data — these numbers test the code, not the papers.</b>" if profile == "smoke" else ""}</p>
<table><tr><th>notebook</th><th>status</th><th>time</th><th>hardware</th><th>finished</th><th>headline</th></tr>
{''.join(rows)}</table></body></html>"""
    path = outdir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def run(profile: str = "smoke", data_root: str | None = None, only: list[str] | None = None,
        device: str = "auto", force: bool = False, timeout: int | None = None, root: Path | None = None,
        extra: dict | None = None) -> int:
    import papermill as pm

    root = root or project_root()
    outdir = root / "reports" / profile
    outdir.mkdir(parents=True, exist_ok=True)
    state_file = outdir / "runs.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    params = {"profile": profile, "data_root": data_root or "", "device": device, **(extra or {})}
    os.environ["FER_PROJECT_ROOT"] = str(root)  # the kernels write results and figures under this root
    failed = []
    todo = notebooks(root, only)
    for i, nb in enumerate(todo, 1):
        name, key = nb.stem, source_key(nb, params, root)
        prev = state.get(name, {})
        if not force and prev.get("status") == "ok" and prev.get("key") == key and (outdir / f"{name}.html").exists():
            print(f"[{i}/{len(todo)}] {name}: unchanged since its last run — skipped (--force reruns it)")
            continue
        print(f"[{i}/{len(todo)}] {name}: running (profile {profile}) ...", flush=True)
        executed = outdir / f"{name}.ipynb"
        t0 = time.time()
        entry = {"key": key, "hardware": hardware(), "params": params}
        try:
            pm.execute_notebook(str(nb), str(executed), parameters=params, cwd=str(nb.parent),
                                kernel_name="python3", progress_bar=False, execution_timeout=timeout)
            entry["status"] = "ok"
        except Exception as e:  # a failing notebook must not stop the others
            entry["status"] = "failed"
            entry["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
            failed.append(name)
        entry["seconds"] = time.time() - t0
        entry["finished"] = time.strftime("%Y-%m-%d %H:%M")
        entry["html"] = False
        if executed.exists():
            try:
                export_html(executed)
                entry["html"] = True
            except Exception as e:
                entry["error"] = entry.get("error", "") + f" (HTML export failed: {e})"
        entry["headline"] = headline(outdir / "results" / f"{name}.json")
        state[name] = entry
        state_file.write_text(json.dumps(state, indent=1))
        print(f"    {entry['status']} in {entry['seconds']:.0f} s" + (f" — {entry.get('error')}" if failed and failed[-1] == name else ""))
    index = write_index(outdir, profile, state)
    print(f"index: {index}")
    if failed:
        print(f"FAILED: {', '.join(failed)} (partial outputs kept in {outdir})", file=sys.stderr)
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
                    help="another papermill parameter, VALUE read as YAML (e.g. -p seeds=[0] -p epochs=3); "
                         "recorded in runs.json and in each notebook's own parameters cell")
    a = ap.parse_args(argv)
    only = [s.strip() for s in a.only.split(",")] if a.only else None
    return run(a.profile, a.data_root, only, a.device, a.force, a.timeout, extra=parse_params(a.param))


def parse_params(items: list[str]) -> dict:
    """["seeds=[0, 1]", "epochs=3"] -> {"seeds": [0, 1], "epochs": 3}; a clear error names a bad item."""
    import yaml

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise SystemExit(f"--param {item!r}: expected NAME=VALUE, e.g. seeds=[0]")
        if name in ("profile", "data_root", "device"):
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
