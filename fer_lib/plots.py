"""Figures the notebooks share: learning curves, confusion heatmaps (seaborn), image grids."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def learning_curves(histories: dict[str, pd.DataFrame], title: str = ""):
    """Accuracy and loss per epoch, train dashed and validation solid, one colour per run."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.6))
    for (name, h), color in zip(histories.items(), sns.color_palette(n_colors=max(len(histories), 1))):
        for split, style in (("train", "--"), ("val", "-")):
            if f"{split}_acc" in h:
                ax_acc.plot(h["epoch"] + 1, h[f"{split}_acc"], style, color=color, label=f"{name} {split}")
            if f"{split}_loss" in h:
                ax_loss.plot(h["epoch"] + 1, h[f"{split}_loss"], style, color=color, label=f"{name} {split}")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.legend(fontsize=7)
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
    """uint8 images (N, H, W) or (N, H, W, 3) in a grid."""
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=7)
    fig.suptitle(suptitle)
    fig.tight_layout()
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
        ax.legend(fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
