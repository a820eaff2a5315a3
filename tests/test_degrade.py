"""Resolution degradation keeps the shape and removes detail in proportion to the factor."""
import numpy as np
import pytest
import torch

from fer_lib.degrade import degrade, degrade_per_sample, degrade_uint8, downsample


def test_shapes_and_identity():
    x = torch.rand(3, 1, 48, 48)
    assert downsample(x, 4).shape == (3, 1, 12, 12) and downsample(x, 6).shape == (3, 1, 8, 8)
    assert degrade(x, 8).shape == x.shape and torch.equal(degrade(x, 1), x)
    with pytest.raises(ValueError, match="factor"):
        downsample(x, 0.5)


def test_more_factor_more_loss():
    x = torch.rand(4, 1, 48, 48)
    err = [float((degrade(x, k) - x).abs().mean()) for k in (2, 4, 8)]
    assert err[0] < err[1] < err[2]


def test_per_sample_and_uint8():
    x = torch.rand(4, 1, 16, 16)
    out = degrade_per_sample(x, torch.tensor([0, 1, 0, 1]), [1, 4])
    assert torch.equal(out[0], x[0]) and torch.allclose(out[1], degrade(x[1:2], 4)[0])
    u = degrade_uint8(np.full((2, 16, 16), 100, np.uint8), 4)
    assert u.dtype == np.uint8 and (u == 100).all()
