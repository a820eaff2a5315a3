"""fer_lib.saliency (paper 4 Fig. 15: gradient saliency, Grad-CAM, STN view) and plots.saliency_panel. Never trains."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from fer_lib.study import plots  # noqa: E402
from fer_lib.core.metrics import Predictions  # noqa: E402
from fer_lib.models.sdl import SpatialDeepLearning  # noqa: E402
from fer_lib.saliency import explain, grad_cam, gradient_saliency, last_conv, pack, pick_examples, unpack  # noqa: E402


class LeftHalf(nn.Module):
    """Logits depend on the left half of the image only (columns < 8 of 16)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        f = torch.relu(self.conv(x[..., :8]))
        return self.fc(f.mean((2, 3)))


@pytest.fixture
def u8():
    return np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)


def test_saliency_is_zero_where_the_output_does_not_look():
    torch.manual_seed(0)
    m, x = LeftHalf(), torch.randn(2, 1, 16, 16)
    s = gradient_saliency(m, x, target=1)
    assert s.shape == (2, 16, 16) and s.min() >= 0 and np.isclose(s.max(), 1)
    assert np.all(s[:, :, 8:] == 0) and s[:, :, :8].max() > 0
    c = grad_cam(m, m.conv, x, target=0)
    assert c.shape == (2, 16, 16) and c.min() >= 0 and c.max() <= 1


def test_last_conv_and_explain_on_sdl(u8):
    torch.manual_seed(0)
    m = SpatialDeepLearning()
    assert last_conv(m.baseline) is m.baseline[9]
    assert last_conv(m) is m.sdl2.features[0]  # registration order: the SDL branch comes last
    with pytest.raises(ValueError, match="no Conv2d"):
        last_conv(nn.Linear(2, 2))
    e = explain(m, u8, layer=last_conv(m.baseline))
    assert e["image"].dtype == np.uint8 and e["image"].shape == (3, 48, 48)
    # identity-initialised SDL-1: the transformer's view is the input itself
    assert np.abs(e["stn"].astype(int) - u8.astype(int)).max() <= 1
    for k in ("saliency", "cam"):
        assert e[k].shape == (3, 48, 48) and 0 <= e[k].min() and e[k].max() <= 1
    np.testing.assert_array_equal(e["target"], e["pred"])
    assert explain(m, u8, target=2)["target"].tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="uint8"):
        explain(m, u8.astype(np.float32))


def test_explain_without_stn(u8):
    m = SpatialDeepLearning(baseline_branch_only=True)
    e = explain(m, u8[:, None])  # (N, 1, H, W) accepted too
    assert e["stn"] is None and e["cam"].shape == (3, 48, 48)
    fig = plots.saliency_panel(e, titles=["a", "b", "c"])
    assert len(fig.axes) == 3 * 3  # no STN column
    plt.close(fig)


def test_pick_examples_prefers_confident_correct():
    y = np.array([0, 0, 0, 1, 1, 2])
    probs = np.array([[.6, .4, 0], [.9, .1, 0], [.2, .8, 0],   # class 0: #1 is the most confident correct
                      [.7, .3, 0], [.6, .4, 0],                  # class 1: none correct -> highest p(1) = #4
                      [0, 0, 1.]])
    p = Predictions(y, probs, ("a", "b", "c"))
    assert pick_examples(p) == [1, 4, 5]
    assert pick_examples(p, per_class=2) == [1, 0, 4, 3, 5]


def test_saliency_panel_with_stn(u8):
    e = explain(SpatialDeepLearning(), u8[:2])
    fig = plots.saliency_panel(e, titles=["x", "y"], suptitle="t")
    assert len(fig.axes) == 2 * 4
    plt.close(fig)


@pytest.mark.parametrize("with_stn", [True, False])
def test_pack_round_trip_is_small_and_8bit_exact(u8, with_stn):
    # A run record stores Fig. 15's panels (no weights in the store): images exact, maps to 1/255.
    import json
    torch.manual_seed(0)
    e = explain(SpatialDeepLearning(sdl_modules=2 if with_stn else 0), u8)
    d = pack(e, [5, 7, 9], split="test")
    assert len(json.dumps(d)) < 3 * 48 * 48 * 4 * 4 / 3 + 1000   # base64 of 4 uint8 planes per image
    back = unpack(json.loads(json.dumps(d)))
    np.testing.assert_array_equal(back["image"], u8)
    assert (back["stn"] is None) == (not with_stn)
    if with_stn:
        np.testing.assert_array_equal(back["stn"], e["stn"])
        assert d["stn_moved"] <= 1
    for k in ("saliency", "cam"):
        assert np.abs(back[k] - e[k]).max() <= 0.5 / 255 + 1e-9
    assert back["index"].tolist() == [5, 7, 9] and back["pred"].tolist() == e["pred"].tolist()
    fig = plots.saliency_panel(back, titles=["a", "b", "c"])
    plt.close(fig)
