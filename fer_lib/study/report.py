"""Executed notebooks → light HTML reports a person reads, and slim executed notebooks for git.

    python -m fer_lib.study.report reports/cpu/*.ipynb reports/full/*.ipynb     # re-render committed reports

`export_html(executed)` writes `<executed>.html` beside the notebook:
- a link back to the profile's index and a table of contents built from the notebook's headings; an "At a
  glance" section, when the notebook has one (e.g. from `fer_lib.study.summary.at_a_glance`), is moved right after
  the parameters, wherever the notebook computes it;
- no walls: stderr (warnings, `IProgress not found`, download notices, progress bars) is dropped, carriage-
  return progress lines are reduced to their last state, and any text output longer than 40 lines (progress
  logs, 130-line model dumps) keeps its first and last 12 lines;
- no machine paths: absolute paths under /work, /root, /tmp, /home, /mnt, /data become project-relative
  (or `$FER_DATA_ROOT` for data roots), and `../shared/papers/paperN_*.txt` becomes the paper's citation;
- images re-encoded (downscaled to <= 1000 px wide, palette PNG or JPEG, whichever is smaller) and squeezed
  further until the page is <= 1 MB; a small stylesheet instead of JupyterLab's 300 kB theme.
The numbers are those of the executed notebook: only their rendering changes.

`slim_notebook(executed)` (called by export_html unless slim=False) applies the same text cleaning to the
executed .ipynb and replaces its images by a one-line pointer to the HTML report, so that the committed
executed notebooks stay small (the HTML is the report of record; the figures also live in figures/).
"""
from __future__ import annotations

import argparse
import base64
import html as htmlmod
import io
import re
import sys
from pathlib import Path

from ..core.io import atomic_write, atomic_write_text

MAX_BYTES = 1_000_000     # the hard limit of a report
TARGET_BYTES = 700_000    # what image compression aims at (the tracked tree is limited to 10 MB in all)
MAX_LINES, KEEP_LINES = 40, 12
PAPER_TITLES = {
    "1": "Wu & Finch, “Enhancing Facial Expression Recognition Accuracy Through Spatial Transformation and "
         "Super-Resolution Preprocessing”",
    "2": "“ResNet50 transfer learning for 48×48 FER2013” (paper 2; title not printed in our copy)",
    "3": "Zhao, “Facial Expression Recognition Based on Various Deep Neural Networks” (Northeastern University)",
    "4": "Khan, Singh & Agrawal, “Enhancing Feature Extraction Technique Through Spatial Deep Learning Model for "
         "Facial Emotion Detection”, AETiC 2023",
    "5": "Wang, Li, Jiang & Xie, “Dynamic Resolution Guidance for Facial Expression Recognition”",
}
NOISE = re.compile(r"IProgress not found|ipywidgets|tqdm|it/s\]|s/it\]|Downloading|Download(ed|ing)? |"
                   r"\d+%\|[█▉▊▋▌▍▎▏ #]*\||UserWarning|FutureWarning|DeprecationWarning|warnings\.warn")
PATH = re.compile(r"(?<![\w.])(/(?:work|root|tmp|home|mnt|data|scratch|private|var/folders)(?:/[^\s'\"<>(),;:`|\]]*)?)")
B64_PATH = re.compile(r"/(?:work|root|tmp|home|mnt|data|scratch|private)/")
PAPER_PATH = re.compile(r"`?(?:\.\./)*shared/papers/paper(\d)[\w.-]*\.txt`?")
CSS = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:70em;margin:1.5em auto;
padding:0 1em;line-height:1.45;color:#222}nav.toc{background:#f6f8fa;border:1px solid #ddd;padding:.5em 1em;
font-size:.9em}nav.toc ul{margin:.2em 0;padding-left:1.2em}a.back{font-size:.9em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border-bottom:1px solid #ddd;
padding:.2em .5em;text-align:right;vertical-align:top}th{background:#f6f8fa}
.jp-InputArea,.input_area{background:#f7f7f7;border-left:3px solid #cfd8dc;font-size:.8em;overflow-x:auto}
pre{white-space:pre-wrap;margin:.3em 0}.jp-OutputArea-output pre{font-size:.8em}.jp-InputPrompt,.jp-OutputPrompt,
.prompt{display:none}img{max-width:100%;height:auto}.anchor-link{display:none}
body.hide-code .jp-InputArea{display:none}#code-toggle{float:right;font-size:.8em}"""


def clean_text(text: str, root: Path | None = None) -> str:
    """Machine paths out, papers cited by title instead of a path outside the repo."""
    text = PAPER_PATH.sub(lambda m: PAPER_TITLES.get(m.group(1), "the paper"), text)
    text = re.sub(r"`?(?:\.\./)*shared/papers/?`?", "the papers' texts (not distributed)", text)
    root_s = str(root or "").rstrip("/")

    def repl(m):
        p = m.group(1)
        if root_s and p.startswith(root_s + "/"):
            return p[len(root_s) + 1:]
        for marker in ("/main/", "/repo/"):
            if marker in p:
                return p.split(marker, 1)[1]
        if re.search(r"/data\b|/datasets?\b|fer2013|ckplus|ferplus|rafdb", p):
            return "$FER_DATA_ROOT" + (p.split("data", 1)[1] if "/data/" in p else "")
        if "/.cache/" in p:
            return "~/.cache/" + p.split("/.cache/", 1)[1]
        return "<local path>"
    return PATH.sub(repl, text)


def _squash_lines(text: str) -> str:
    """Carriage-return progress → last state; noisy lines out; long outputs → head and tail."""
    lines = [ln.rsplit("\r", 1)[-1] for ln in text.split("\n")]
    lines = [ln for ln in lines if not NOISE.search(ln)]
    if len(lines) > MAX_LINES:
        cut = len(lines) - 2 * KEEP_LINES
        lines = lines[:KEEP_LINES] + [f"… {cut} lines omitted in this report …"] + lines[-KEEP_LINES:]
    return "\n".join(lines)


def _as_text(v) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


CPU_VERDICT = "not comparable — cpu profile (cut budget: a pipeline check)"
OLD_VERDICTS = [re.compile(r"not reproduced \([^)]*\)"), re.compile(r"inconclusive \(CI ± [^)]*\)"),
                re.compile(r"(?<=>)reproduced(?=<)"), re.compile(r"(?<=: )reproduced\b"), re.compile(r"(?<=\s)reproduced$", re.M)]


def restate_cpu_verdicts(text: str) -> str:
    """Under the verdict policy a cpu-profile row carries no verdict: the verdict words an older policy printed
    in a cpu report's outputs are re-rendered as what the policy gives any cpu row (numbers untouched)."""
    for pat in OLD_VERDICTS:
        text = pat.sub(CPU_VERDICT, text)
    return text


def notebook_profile(nb) -> str:
    """The profile a notebook ran under (its papermill-injected parameters), '' when unknown."""
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            m = re.search(r"""^profile\s*=\s*["'](\w+)["']""", cell.source, re.M)
            if m:
                return m.group(1)
    return ""


def clean_notebook(nb, root: Path | None = None):
    """In place: drop stderr and widget outputs, squash progress walls, remove machine paths; in a cpu-profile
    notebook, outputs carry no verdict words (`restate_cpu_verdicts`)."""
    cpu = notebook_profile(nb) == "cpu"
    fix = restate_cpu_verdicts if cpu else (lambda t: t)
    for cell in nb.cells:
        cell.source = clean_text(cell.source, root)
        if cell.cell_type != "code":
            continue
        outs = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                if o.get("name") == "stderr":
                    continue
                t = fix(_squash_lines(clean_text(_as_text(o.get("text", "")), root)))
                if not t.strip():
                    continue
                o["text"] = t
            elif o.get("output_type") in ("display_data", "execute_result"):
                data = o.get("data", {})
                data.pop("application/vnd.jupyter.widget-view+json", None)
                if not data or (set(data) == {"text/plain"} and re.match(r"\s*(HBox|VBox|IntProgress|FloatProgress)\(",
                                                                         _as_text(data["text/plain"]))):
                    continue
                for k in ("text/plain", "text/html", "text/markdown"):
                    if k in data:
                        t = fix(clean_text(_as_text(data[k]), root))
                        data[k] = _squash_lines(t) if k == "text/plain" else t
            elif o.get("output_type") == "error":
                o["traceback"] = [clean_text(t, root) for t in o.get("traceback", [])]
            outs.append(o)
        cell.outputs = outs
    for k in ("papermill",):
        nb.metadata.pop(k, None)
    return nb


def _recode(b64: str, width: int, quality: int) -> tuple[str, str]:
    """A PNG (base64) → (mime, base64) at most `width` px wide: compact PNG or JPEG, whichever is smaller."""
    from PIL import Image

    from .plots import compact_png
    raw = base64.b64decode(b64)
    im = Image.open(io.BytesIO(raw))
    im.load()
    if im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    rgba = im.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    png_in = io.BytesIO()
    flat.save(png_in, "PNG", compress_level=1)  # only compact_png's input: fast beats small here
    png = compact_png(png_in.getvalue())
    r, g, b = flat.split()
    src = r if r.tobytes() == g.tobytes() == b.tobytes() else flat

    def jpeg(q):
        jpg = io.BytesIO()
        src.save(jpg, "JPEG", quality=q, optimize=True)
        return "image/jpeg", jpg.getvalue()
    choices = [("image/png", png), jpeg(quality)]
    if len(png) > len(choices[1][1]):
        choices.reverse()
    # base64 text can hold "/tmp/..." by chance, and a scan for leaked machine paths cannot tell it from one:
    # then the other encoding, or the JPEG one quality step down
    encoded = [(m, base64.b64encode(d).decode()) for m, d in choices + [jpeg(quality - 1), jpeg(quality - 2)]]
    return next((c for c in encoded if not B64_PATH.search(c[1])), encoded[0])


def _images(nb):
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = o.get("data", {})
            if "image/png" in data:
                yield data


def _toc(body: str) -> str:
    heads = re.findall(r'<h([1-3]) id="([^"]+)"[^>]*>(.*?)</h\1>', body, flags=re.S)
    items = []
    for level, anchor, inner in heads[1:] if heads and heads[0][0] == "1" else heads:
        title = re.sub(r"<[^>]+>", "", inner).replace("¶", "").strip()
        items.append((int(level), anchor, title))
    glance = [x for x in items if "at a glance" in x[2].lower()]
    items = glance + [x for x in items if x not in glance]
    li = "".join(f'<li style="margin-left:{(lvl - 2) * 1.2}em"><a href="#{a}">{htmlmod.escape(t)}</a></li>'
                 for lvl, a, t in items if lvl >= 2)
    return f'<nav class="toc"><b>Contents</b><ul>{li}</ul></nav>' if li else ""


STALE = re.compile(r"not reproduced \(ours (?:lower|higher)\)")
STALE_NOTE = ('<p style="background:#fff8e1;border:1px solid #f0c36d;padding:.5em">This report was executed under '
              "the study's earlier verdict rule (its words “reproduced / not reproduced (ours higher|lower)”). The "
              'numbers are those of the run; the verdicts under the current policy (fer_lib/study/verdict.py: direction-'
              'aware, tolerance from the measurement, single seed marked) are in <a href="07_summary.html">the '
              "summary report</a> and the README's findings.</p>")


def glance_first(nb):
    """In place: move the notebook's "At a glance" section (a heading with those words and the cells up to the
    next heading of the same or a higher level) to just after the parameters, so findings come first."""
    def level(cell):
        m = re.match(r"\s*(#+)\s", cell.source) if cell.cell_type == "markdown" else None
        return len(m.group(1)) if m else None
    start = next((i for i, c in enumerate(nb.cells) if level(c) and re.search(r"at a glance", c.source.split("\n")[0], re.I)),
                 None)
    if start is None:
        return nb
    lv = level(nb.cells[start])
    end = next((j for j in range(start + 1, len(nb.cells)) if level(nb.cells[j]) and level(nb.cells[j]) <= lv), len(nb.cells))
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    after = max([i for i, t in enumerate(tags) if "parameters" in t or "injected-parameters" in t] or [0]) + 1
    if start <= after:
        return nb
    section = nb.cells[start:end]
    nb.cells = nb.cells[:after] + section + nb.cells[after:start] + nb.cells[end:]
    return nb


def _plain_code(source: str, language: str | None = None, metadata=None) -> str:
    """nbconvert's `highlight_code` filter without the highlighting: the same markup as pygments' (which strips
    the source's leading/trailing newlines and ends it with one), no colour spans. Reports are plain code anyway
    (their spans were over half a report's text and removed after rendering), and pygments plus sanitising its
    spans were most of a report's rendering time (00_datasets: 3.5 of 4.3 s on a loaded 2-core machine)."""
    code = htmlmod.escape(source.strip("\n") or " ", quote=False)
    return f'<div class=" highlight hl-{language or "ipython3"}"><pre>{code}\n</pre></div>\n'


def _render(nb, title: str) -> str:
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="basic", filters={"highlight_code": _plain_code})
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    # plain code (any span left from another filter): syntax-highlight spans are over half of a report's text
    body = re.sub(r'(<div class="highlight[^"]*">)(.*?)(</div>)',
                  lambda m: m.group(1) + re.sub(r"</?span[^>]*>", "", m.group(2)) + m.group(3), body, flags=re.S)
    toc = _toc(body) + (STALE_NOTE if STALE.search(body) else "")
    m = re.search(r"</h1>", body)
    body = body[:m.end()] + toc + body[m.end():] if m else toc + body
    toggle = ('<button id="code-toggle" onclick="document.body.classList.toggle(\'hide-code\')">show/hide code'
              '</button>')
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{htmlmod.escape(title)}</title>'
            f'<style>{CSS}</style></head><body>{toggle}<a class="back" href="index.html">← all reports (index)</a>'
            f"{body}</body></html>")


def export_html(executed: Path, *, out: Path | None = None, max_bytes: int = MAX_BYTES, slim: bool = True,
                root: Path | None = None) -> Path:
    """Write the light HTML report of an executed notebook (module docstring); returns its path.

    slim=True also rewrites the executed notebook in place without images (see `slim_notebook`)."""
    import copy

    import nbformat
    from ..core.paths import project_root
    executed = Path(executed)
    root = root or project_root()
    raw = nbformat.read(executed, as_version=4)
    out = Path(out) if out else executed.with_suffix(".html")
    if raw.metadata.get("fer_slim") and out.exists():
        # a slimmed notebook has lost its images: re-rendering it would strip the figures from its report
        raise ValueError(f"{executed}: already slimmed (its images live only in {out.name}); rerun the notebook "
                         "to re-render its report")
    nb = glance_first(clean_notebook(raw, root))
    originals = [dict(d) for d in _images(nb)]
    title = executed.stem.split(".")[0]   # the runner's <name>.running.ipynb is the report <name>
    page = ""
    for width, quality in ((800, 75), (720, 70), (640, 65), (480, 55), (360, 45)):
        work = copy.deepcopy(nb)
        for data, orig in zip(_images(work), originals):
            mime, b64 = _recode(_as_text(orig["image/png"]).replace("\n", ""), width, quality)
            data.pop("image/png")
            data[mime] = b64
        page = _render(work, title)
        if len(page.encode()) <= min(max_bytes, TARGET_BYTES) or (width <= 640 and len(page.encode()) <= max_bytes):
            break
    else:   # still too big: the largest images give way to a pointer to figures/
        sizes = sorted(((len(_as_text(d.get("image/png", ""))), i) for i, d in enumerate(_images(work))), reverse=True)
        imgs = list(_images(work))
        for _, i in sizes:
            for k in [k for k in imgs[i] if k.startswith("image/")]:
                imgs[i].pop(k)
            imgs[i]["text/plain"] = "[figure left out to keep this report under 1 MB: see figures/]"
            page = _render(work, title)
            if len(page.encode()) <= max_bytes:
                break
    atomic_write_text(out, page)
    if slim:
        slim_notebook(executed, html_name=out.name, root=root)
    return out


def slim_notebook(executed: Path, html_name: str | None = None, root: Path | None = None) -> Path:
    """Rewrite an executed notebook in place: cleaned text (as in the HTML) and images replaced by a pointer."""
    import nbformat
    executed = Path(executed)
    nb = clean_notebook(nbformat.read(executed, as_version=4), root)
    for data in _images(nb):
        for k in [k for k in data if k.startswith("image/")]:
            data.pop(k)
        data["text/plain"] = f"[figure: in {html_name or executed.with_suffix('.html').name} and figures/]"
    for cell in nb.cells:   # a table's HTML is what every viewer shows: its text twin only doubles the file
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if "text/html" in o.get("data", {}):
                o["data"].pop("text/plain", None)
    nb.metadata["fer_slim"] = True
    for cell in nb.cells:   # drop per-cell execution timestamps: noise in diffs
        cell.get("metadata", {}).pop("execution", None)
        cell.get("metadata", {}).pop("papermill", None)
    atomic_write(executed, lambda f: nbformat.write(nb, f), "w")
    return executed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--no-slim", action="store_true", help="leave the executed notebooks untouched")
    a = ap.parse_args(argv)
    failed = 0
    for nb in a.notebooks:
        try:
            out = export_html(nb, slim=not a.no_slim)
            print(f"{out}: {out.stat().st_size / 1e3:.0f} kB")
        except ValueError as e:
            print(f"skipped: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
