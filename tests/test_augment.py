"""Batched augmentation: shapes, identity, determinism under a generator."""
import pytest
import torch

from fer_lib.core.augment import Augment, get_augment


def test_no_augmentation_is_identity():
    x = torch.rand(4, 1, 16, 16)
    assert torch.allclose(get_augment("none")(x), x)
    # flip with probability 1 and nothing else is an exact mirror
    assert torch.allclose(Augment(flip=1.0)(x), x.flip(-1), atol=1e-5)


def test_generator_makes_it_reproducible():
    x = torch.rand(8, 1, 24, 24)
    aug = get_augment("strong")
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    c = aug(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape


def test_erasing_blanks_a_rectangle():
    x = torch.ones(16, 1, 32, 32)
    out = Augment(flip=0, erase=1.0, erase_area=(0.1, 0.1))(x, torch.Generator().manual_seed(0))
    frac = (out == 0).float().mean(dim=(1, 2, 3))
    assert (frac > 0).all() and (frac < 0.2).all()


def test_bad_spec():
    with pytest.raises(ValueError, match="scale"):
        Augment(scale=(1.2, 0.9))
