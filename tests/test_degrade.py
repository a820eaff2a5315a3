"""Resolution degradation keeps the shape and removes detail in proportion to the factor."""
import numpy as np
import pytest
import torch

from fer_lib.core.degrade import degrade, degrade_per_sample, degrade_uint8, downsample


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


def test_degrade_image_rounds_to_8_bits_and_resizes_after():
    from fer_lib.core.degrade import degrade_image, to_uint8_grid
    u = torch.randint(0, 256, (2, 1, 20, 20), dtype=torch.uint8)
    x = (u.float() / 255 - 0.5) / 0.5
    torch.testing.assert_close(to_uint8_grid(x, 0.5, 0.5), x)            # already an image: unchanged
    y = degrade_image(x, 2, mean=0.5, std=0.5)
    p = (y * 0.5 + 0.5) * 255
    assert torch.allclose(p, p.round(), atol=1e-3) and not torch.allclose(degrade(x, 2), y, atol=1e-6)
    assert torch.equal(degrade_image(x, 2), degrade(x, 2))                # no normalisation given: plain floats
    assert degrade_image(x, 1, mean=0.5, std=0.5, out_size=36).shape == (2, 1, 36, 36)
    out = degrade_per_sample(x, torch.tensor([0, 1]), [1, 4], mean=0.5, std=0.5, out_size=36)
    torch.testing.assert_close(out[1:], degrade_image(x[1:], 4, mean=0.5, std=0.5, out_size=36))
