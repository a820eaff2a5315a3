"""Paper 1's pipeline models: the bicubic control arms beside the paper's four Table 2 rows. Never trains."""
import pytest
import torch
import torch.nn.functional as F

from fer_lib.models import create_model
from fer_lib.models.edsr import EDSR
from fer_lib.models.pipeline import ARMS, CONTROLS, VARIANTS, Bicubic, variant


@pytest.fixture
def x48():
    torch.manual_seed(0)
    return torch.randn(2, 1, 48, 48)


def test_variants_are_the_papers_four_rows_and_controls_are_apart():
    assert VARIANTS == ("Base", "Base+STN", "Base+SR", "Base+STN+SR")
    assert CONTROLS == ("Base+bicubic", "Base+STN+bicubic") and ARMS == VARIANTS + CONTROLS


@pytest.mark.parametrize("name", CONTROLS)
def test_bicubic_arm_shapes(name, x48):
    m = variant(name, sr=EDSR(2, n_resblocks=1, n_feats=8)).eval()   # `sr` is ignored by a control arm
    assert isinstance(m.sr, Bicubic) and (m.stn is not None) == ("STN" in name)
    assert sum(p.numel() for p in m.sr.parameters()) == 0
    pre = m.preprocess(x48)
    assert pre.shape == (2, 1, 96, 96) and m(x48).shape == (2, 7)
    if m.stn is None:
        torch.testing.assert_close(pre, F.interpolate(x48, scale_factor=2, mode="bicubic", align_corners=False))
    # Same input size as the +SR arm it controls.
    sr_name = name.replace("bicubic", "SR")
    assert variant(sr_name, sr=EDSR(2, n_resblocks=1, n_feats=8)).eval().preprocess(x48).shape == pre.shape


def test_bicubic_arm_lets_the_stn_learn(x48):
    m = variant("Base+STN+bicubic", sr_frozen=True).train()
    m(x48).sum().backward()
    assert m.stn.fc_theta.weight.grad is not None and m.stn.fc_theta.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", CONTROLS)
def test_registry_builds_control_arms(name, x48):
    m = create_model(f"Pipeline:{name}", classifier="SmallCNN", classifier_kw={"widths": [8, 16, 32]}).eval()
    assert isinstance(m.sr, Bicubic) and m(x48).shape == (2, 7)
    assert create_model(name).sr.scale == 2 and create_model(f"Pipeline:{name}", sr_scale=4).sr.scale == 4
