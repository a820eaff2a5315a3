"""Light HTML reports: TOC, back link, no walls, no machine paths, <= 1 MB, slim executed notebooks."""
import base64
import io

import nbformat
import pytest
import numpy as np
from PIL import Image

from fer_lib.study.report import clean_text, export_html


def _png(size=360, seed=0) -> str:
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _notebook(tmp_path, n_images=1):
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("print('x')")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="IProgress not found. Please update jupyter\n"),
        nbformat.v4.new_output("stream", name="stdout",
                               text="\n".join(f"epoch {i}/400 loss 0.1" for i in range(400)) + "\nloaded /root/data/fer2013/fer2013.csv\n"
                                    "written /work/main/reports/cpu/results/x.json\n"),
        *[nbformat.v4.new_output("display_data", data={"image/png": _png(seed=i), "text/plain": "<Figure>"})
          for i in range(n_images)]]
    nb.cells = [nbformat.v4.new_markdown_cell("# 03 · Title\n\nPaper: `../shared/papers/paper3_zhao_cnn_vgg_resnet_realtime.txt`"),
                nbformat.v4.new_markdown_cell("## 1. Data"), code,
                nbformat.v4.new_markdown_cell("## At a glance"), nbformat.v4.new_code_cell("print('glance')")]
    path = tmp_path / "03_x.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_export_html(tmp_path):
    path = _notebook(tmp_path)
    out = export_html(path, root=tmp_path)
    page = out.read_text()
    assert out.stat().st_size <= 1_000_000
    assert 'href="index.html"' in page and '<nav class="toc">' in page
    assert page.index("At-a-glance") < page.index("1.-Data")
    assert page.index("At a glance<") < page.index("1. Data<")                   # moved up, not only listed first
    for bad in ("IProgress", "/root/", "/work/", "shared/papers"):
        assert bad not in page
    assert "lines omitted" in page and "Facial Expression Recognition Based on Various Deep Neural Networks" in page
    slim = nbformat.read(str(path), as_version=4)                     # the executed notebook is slimmed
    assert not any(k.startswith("image/") for c in slim.cells for o in c.get("outputs", []) for k in o.get("data", {}))
    with pytest.raises(ValueError, match="already slimmed"):           # and never re-rendered without its images
        export_html(path, root=tmp_path)


def test_many_images_still_under_1_mb(tmp_path):
    out = export_html(_notebook(tmp_path, n_images=6), root=tmp_path, slim=False)
    assert out.stat().st_size <= 1_000_000


def test_clean_text_paths(tmp_path):
    assert clean_text(f"{tmp_path}/reports/x.html", tmp_path) == "reports/x.html"
    assert clean_text("data from /root/data", None) == "data from $FER_DATA_ROOT"
    assert "/tmp/" not in clean_text("cache /tmp/abc/def.pt", None)


def test_code_cells_render_as_pygments_did_without_its_spans(tmp_path):
    # The report's plain-code filter must give what highlighting + span removal gave (the reports did not change
    # when pygments was taken out of the export for speed).
    import re

    from nbconvert import HTMLExporter

    from fer_lib.study.report import _render
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 03 · T"),
                nbformat.v4.new_code_cell('\n\nx = "a<b>" & 1  # it\'s\n\tprint(x)  \n\n'), nbformat.v4.new_code_cell("")]
    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    old, _ = exporter.from_notebook_node(nb)
    old = re.sub(r'(<div class="highlight[^"]*">)(.*?)(</div>)',
                 lambda m: m.group(1) + re.sub(r"</?span[^>]*>", "", m.group(2)) + m.group(3), old, flags=re.S)
    new = _render(nb, "t")
    code = re.findall(r'<div class="highlight[^"]*">.*?</div>', new, flags=re.S)
    assert code == re.findall(r'<div class="highlight[^"]*">.*?</div>', old, flags=re.S) and len(code) == 2


def test_the_runner_imports_no_plotting_or_model_stack(tmp_path):
    # The runner exports ten reports per `make all`: fer_lib.study.report must not pull pyplot/seaborn/scipy in, and
    # a notebook importing one model module must not pay for the registry's torchvision (torch._dynamo).
    import subprocess
    import sys
    code = ("import sys, fer_lib.study.report, fer_lib.study.plots, fer_lib.models.small; "
            "heavy = [m for m in ('matplotlib.pyplot', 'seaborn', 'scipy.stats', 'torchvision', 'nbconvert') "
            "if m in sys.modules]; print(heavy); assert not heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_an_image_whose_base64_reads_as_a_machine_path_is_encoded_another_way(monkeypatch):
    """base64 can spell "/tmp/..." by chance; the report then takes the next encoding, so a scan for leaked
    paths finds none."""
    import base64 as b64
    import io
    import re

    import numpy as np
    from PIL import Image

    from fer_lib.study import report
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(buf, "PNG")
    src = b64.b64encode(buf.getvalue()).decode()
    first = report._recode(src, 800, 75)
    assert not report.B64_PATH.search(first[1])
    monkeypatch.setattr(report, "B64_PATH", re.compile(re.escape(first[1][:40])))  # as if it spelled a path
    second = report._recode(src, 800, 75)
    assert second[1] != first[1] and b64.b64decode(second[1])

