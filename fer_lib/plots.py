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
