"""Shared figures: they draw without error and lay out what they are given."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fer_lib.study import plots  # noqa: E402


def test_image_rows_mixed_sizes():
    rows = {"LR": np.zeros((3, 12, 12), np.uint8), "HR": np.full((2, 48, 48), 200, np.uint8)}
    fig = plots.image_rows(rows, suptitle="x4")
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 0].get_ylabel() == "LR" and axes[1, 0].get_ylabel() == "HR"
    assert axes[0, 2].images and not axes[1, 2].images  # a shorter row leaves its last cells empty
    plt.close(fig)


def test_learning_curves_house_style():
    import pandas as pd
    h = [pd.DataFrame({"epoch": range(5), "train_acc": [.2, .3, .4, .5, .6], "val_acc": [.2, .25, .3, .35, .4],
                       "train_loss": [2, 1.5, 1.2, 1, .9], "val_loss": [2, 1.7, 1.5, 1.4, 1.3]}) for _ in range(3)]
    fig = plots.learning_curves({"CNN": h, "VGG": h[0]}, "t")
    acc, loss = fig.axes
    assert all(float(t).is_integer() for t in acc.get_xticks())               # integer epoch ticks
    assert acc.yaxis.get_major_formatter()(0.5, 0).endswith("%")               # accuracy in %
    assert acc.get_legend() is None and fig.legends                            # the legend sits off the data
    assert acc.collections                                                     # a band over the 3 seeds
    plt.close(fig)


def test_save_png_150dpi_and_svg_for_line_plots(tmp_path):
    from PIL import Image
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3], [0.2, 0.5, 0.4])
    png = plots.save(fig, tmp_path / "curve")
    assert png.exists() and (tmp_path / "curve.svg").exists()
    assert Image.open(png).width >= 4 * 150 * 0.9                               # >= 150 dpi (bbox tight trims)
    fig2, ax2 = plt.subplots()
    ax2.imshow(np.zeros((8, 8)))
    plots.save(fig2, tmp_path / "grid")
    assert not (tmp_path / "grid.svg").exists()
    plt.close("all")


def test_compact_png_never_grows_and_keeps_size():
    import io

    from PIL import Image
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = plots.compact_png(buf.getvalue())
    assert len(out) <= len(buf.getvalue()) and Image.open(io.BytesIO(out)).size == (64, 64)


def test_image_grid_is_one_mosaic_with_titles():
    imgs = np.stack([np.full((10, 8), 40 * i, np.uint8) for i in range(5)])
    fig = plots.image_grid(imgs, titles=["a", "", "c", "", ""], ncols=3, suptitle="s")
    (ax,) = fig.axes
    mosaic = ax.images[0].get_array()
    assert mosaic.shape[1] == 3 * (8 + 1) and mosaic.shape[0] > 2 * 10       # 2 rows, 3 columns, white gaps
    assert [t.get_text() for t in ax.texts] == ["a", "c"]
    rgb = plots.image_grid(np.zeros((2, 6, 6, 3), np.uint8), ncols=2)
    assert rgb.axes[0].images[0].get_array().shape[2] == 3
    plt.close(fig)
    plt.close(rgb)
