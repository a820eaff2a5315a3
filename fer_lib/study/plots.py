"""Figures the notebooks share: learning curves, confusion heatmaps (seaborn), image grids, and how they are saved.

House style (issue 16): integer epoch ticks, accuracy in % wherever the tables use %, legends outside the data,
error bands where there are seeds; `save` writes a PNG at 150 dpi (palette-compressed, see `compact_png`) and,
for line plots, an SVG beside it.
"""
from __future__ import annotations

import importlib
import io
import zlib
from pathlib import Path

import numpy as np

from ..core.io import atomic_write, atomic_write_bytes

DPI = 150


class _OnFirstUse:
    """A module imported when first used: the runner's HTML export needs only `compact_png`, and importing
    pyplot + seaborn (+ scipy.stats under it) there cost it 2-5 s."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)


plt, sns, pd = _OnFirstUse("matplotlib.pyplot"), _OnFirstUse("seaborn"), _OnFirstUse("pandas")


def compact_png(data: bytes, max_width: int | None = None) -> bytes:
    """A smaller PNG that looks the same: grey images as 64-level greyscale, plots as a 256-colour palette,
    photo-like colour images as a 48-colour dithered palette; never larger than the input."""
    from PIL import Image, ImageOps
    im = Image.open(io.BytesIO(data))
    im.load()
    rgb = im.convert("RGBA")
    if rgb.getextrema()[3][0] < 255:            # transparency: flatten on white
        bg = Image.new("RGBA", rgb.size, "white")
        rgb = Image.alpha_composite(bg, rgb)
    rgb = rgb.convert("RGB")
    if max_width and rgb.width > max_width:
        rgb = rgb.resize((max_width, round(rgb.height * max_width / rgb.width)), Image.LANCZOS)
    r, g, b = rgb.split()
    colours = rgb.getcolors(1 << 16)
    if r.tobytes() == g.tobytes() == b.tobytes():
        out = ImageOps.posterize(r, 6) if colours is None or len(colours) > 64 else r
    elif colours is None or len(colours) > 4000:
        out = rgb.quantize(48, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    else:
        out = rgb.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    # Grey contact sheets: zlib's run-length strategy is ~25x faster than optimize=True (level 9: 1.3 s for one
    # 1000x1300 sheet) and ~3 % smaller; palette plots compress worse with it, so they keep optimize=True.
    out.save(buf, "PNG", **({"compress_level": 9, "compress_type": zlib.Z_RLE} if out.mode == "L" else
                            {"optimize": True}))
    return buf.getvalue() if buf.tell() < len(data) else data


def save(fig, path, svg: bool | None = None) -> Path:
    """Save `fig` as <path>.png at 150 dpi, compacted, and <path>.svg when it is a line plot (svg=None: a figure
    whose axes hold lines and no images). Atomic: a crash leaves no half-written file."""
    path = Path(path).with_suffix("")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    png = atomic_write_bytes(path.with_suffix(".png"), compact_png(buf.getvalue()))
    if svg is None:
        svg = any(ax.lines for ax in fig.axes) and not any(ax.images for ax in fig.axes)
    if svg:
        atomic_write(path.with_suffix(".svg"), lambda f: fig.savefig(f, format="svg", bbox_inches="tight"))
    return png


def epoch_axis(ax) -> None:
    """Integer epoch ticks."""
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")


def percent_axis(ax, fractions: bool = True) -> None:
    """Accuracy shown in % (values given as fractions when fractions=True)."""
    from matplotlib.ticker import PercentFormatter
    ax.yaxis.set_major_formatter(PercentFormatter(1.0 if fractions else 100.0, decimals=0))


def learning_curves(histories: dict, title: str = ""):
    """Accuracy (%) and loss per epoch, train dashed and validation solid, one colour per run; a value of
    `histories` may be a list of per-seed histories, drawn as the mean with a min–max band over seeds.
    Integer epoch ticks; the legend sits outside the axes."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.6))
    for (name, h), color in zip(histories.items(), sns.color_palette(n_colors=max(len(histories), 1))):
        runs = h if isinstance(h, (list, tuple)) else [h]
        for split, style in (("train", "--"), ("val", "-")):
            for metric, ax in (("acc", ax_acc), ("loss", ax_loss)):
                col = f"{split}_{metric}"
                if not all(col in r for r in runs):
                    continue
                m = pd.concat([r.set_index(r["epoch"] + 1)[col] for r in runs], axis=1)
                ax.plot(m.index, m.mean(axis=1), style, color=color, label=f"{name} {split}" + (f" (n={len(runs)})" if len(runs) > 1 else ""))
                if len(runs) > 1:
                    ax.fill_between(m.index, m.min(axis=1), m.max(axis=1), color=color, alpha=0.15, linewidth=0)
    ax_acc.set(ylabel="accuracy", title="accuracy")
    ax_loss.set(ylabel="loss", title="loss")
    percent_axis(ax_acc)
    for ax in (ax_acc, ax_loss):
        epoch_axis(ax)
    handles, labels = ax_acc.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_heatmap(cm: pd.DataFrame, title: str = "", ax=None, fmt: str | None = None):
    """Seaborn heatmap of a confusion matrix DataFrame (rows true, columns predicted)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    normalised = cm.to_numpy().max() <= 1.0 + 1e-9
    sns.heatmap(cm, annot=True, fmt=fmt or (".2f" if normalised else "d"), cmap="Blues", cbar=False, ax=ax,
                vmin=0, vmax=1 if normalised else None, annot_kws={"fontsize": 7})
    ax.set(title=title, xlabel="predicted", ylabel="true")
    return ax.figure


def image_grid(images: np.ndarray, titles=None, ncols: int = 8, size: float = 1.1, suptitle: str = ""):
    """uint8 images (N, H, W) or (N, H, W, 3) in a grid, each title above its image. Drawn as one mosaic on one
    axes: one axes per image made a 70-image contact sheet take ~2 s to build and draw (it is drawn twice: saved
    and shown)."""
    images = np.asarray(images)
    n = len(images)
    nrows = max(1, -(-n // ncols))
    h, w = images.shape[1:3]
    gap = max(1, round(0.06 * w))                                   # white between images
    band = round(0.15 * h) if titles is not None else gap           # room for a title line above each image
    white = 255 if images.dtype.kind in "ui" or images.ndim == 3 else 1.0
    mosaic = np.full((nrows * (h + band), ncols * (w + gap)) + images.shape[3:], white, dtype=images.dtype)
    width = ncols * size                                            # inches; the height follows the mosaic
    height = width * mosaic.shape[0] / mosaic.shape[1]
    top = 0.35 if suptitle else 0.0
    fig = plt.figure(figsize=(width, height + top))
    ax = fig.add_axes((0, 0, 1, height / (height + top)))
    for i in range(n):
        y, x = (i // ncols) * (h + band) + band, (i % ncols) * (w + gap)
        mosaic[y:y + h, x:x + w] = images[i]
        if titles is not None and str(titles[i]):
            ax.text(x + w / 2, y - 1, str(titles[i]), ha="center", va="bottom", fontsize=7)
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255) if images.ndim == 3 else ax.imshow(mosaic)
    ax.axis("off")
    fig.suptitle(suptitle)
    return fig


def class_examples(ds, per_class: int = 8, seed: int = 0, split: str | None = None):
    """A contact sheet: `per_class` random images of each class, one row per class."""
    rng = np.random.default_rng(seed)
    pick, titles = [], []
    sub = ds.take(split) if split else ds
    for c, name in enumerate(sub.classes):
        idx = np.flatnonzero(sub.labels == c)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        chosen = list(chosen) + [None] * (per_class - len(chosen))
        pick += chosen
        titles += [name] + [""] * (per_class - 1)
    blank = np.zeros_like(sub.images[0])
    imgs = np.stack([sub.images[i] if i is not None else blank for i in pick])
    return image_grid(imgs, titles, ncols=per_class, suptitle=f"{ds.name}: {per_class} examples per class")


def saliency_panel(expl: dict, titles=None, suptitle: str = "", size: float = 1.5):
    """Paper 4 Fig. 15: one row per example — input | spatial-transformer view | gradient saliency | Grad-CAM.

    expl: `fer_lib.saliency.explain`'s dict (image, stn or None, saliency, cam). Saliency is drawn on its own
    ('hot'), Grad-CAM as a 'jet' overlay (alpha 0.45) on the input. titles: one label per row (e.g. class)."""
    cols = [("input", "image"), ("STN view (SDL-1)", "stn"), ("gradient saliency", "saliency"), ("Grad-CAM", "cam")]
    cols = [c for c in cols if expl.get(c[1]) is not None]
    n = len(expl["image"])
    fig, axes = plt.subplots(n, len(cols), figsize=(len(cols) * size, n * size), squeeze=False)
    for i in range(n):
        for j, (head, key) in enumerate(cols):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            if key in ("image", "stn"):
                ax.imshow(expl[key][i], cmap="gray", vmin=0, vmax=255)
            elif key == "saliency":
                ax.imshow(expl[key][i], cmap="hot", vmin=0, vmax=1)
            else:
                ax.imshow(expl["image"][i], cmap="gray", vmin=0, vmax=255)
                ax.imshow(expl[key][i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            if i == 0:
                ax.set_title(head, fontsize=8)
            if j == 0 and titles is not None:
                ax.set_ylabel(str(titles[i]), fontsize=8)
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def image_rows(rows: dict, size: float = 1.1, suptitle: str = ""):
    """One row of uint8 grey images per entry of `rows` ({label: images (N, h, w)}), the label at the row's
    left; rows may hold images of different sizes (e.g. paper 1's LR / bicubic / EDSR / HR), each drawn
    at the same on-screen size."""
    labels = list(rows)
    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(labels), ncols, figsize=(ncols * size, len(labels) * size * 1.05), squeeze=False)
    for r, label in enumerate(labels):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(rows[label]):
                img = rows[label][c]
                ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if c == 0:
                ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def factor_curves(table: pd.DataFrame, panels: dict[str, list[str]], reference: pd.DataFrame | None = None,
                  reference_label: str = "paper", ylabel: str = "accuracy", title: str = ""):
    """Accuracy against the test down-sampling factor (paper 5, Fig 7): one panel per group of rows of
    `table` (rows = models, columns = factor names "x1", "x2", …), one line per row; `reference` (e.g. the
    paper's table, same layout and scale) is drawn dashed in the same colour where it has the row."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    cols = list(table.columns)
    x = np.arange(len(cols))
    for ax, (name, rows) in zip(axes[0], panels.items()):
        for row, color in zip(rows, sns.color_palette(n_colors=max(len(rows), 1))):
            if row in table.index:
                ax.plot(x, table.loc[row, cols].astype(float), "o-", color=color, label=row)
            if reference is not None and row in reference.index:
                ref = reference.loc[row].reindex(cols).astype(float)
                ax.plot(x, ref, "--", color=color, alpha=0.6, label=f"{row} ({reference_label})")
        ax.set(xticks=x, xticklabels=cols, xlabel="test down-sampling factor", ylabel=ylabel, title=name)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
