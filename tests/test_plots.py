"""Shared figures: they draw without error and lay out what they are given."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fer_lib import plots  # noqa: E402


def test_image_rows_mixed_sizes():
    rows = {"LR": np.zeros((3, 12, 12), np.uint8), "HR": np.full((2, 48, 48), 200, np.uint8)}
    fig = plots.image_rows(rows, suptitle="x4")
    axes = np.array(fig.axes).reshape(2, 3)
    assert axes[0, 0].get_ylabel() == "LR" and axes[1, 0].get_ylabel() == "HR"
    assert axes[0, 2].images and not axes[1, 2].images  # a shorter row leaves its last cells empty
    plt.close(fig)
