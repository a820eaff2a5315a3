"""The embedded synthetic dataset: deterministic, any size, clear errors."""
import numpy as np
import pytest

from fer_lib.data import FER7
from fer_lib.data.synthetic import make_synthetic


def test_deterministic_per_seed():
    a = make_synthetic({"train": 30, "test": 14}, seed=5)
    b = make_synthetic({"train": 30, "test": 14}, seed=5)
    c = make_synthetic({"train": 30, "test": 14}, seed=6)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)


def test_splits_are_independent_of_each_other():
    a = make_synthetic({"train": 21, "test": 14}, seed=1)
    b = make_synthetic({"train": 21, "test": 14, "val": 7}, seed=1)
    assert np.array_equal(a.take("test").images, b.take("test").images)


def test_shape_classes_balance():
    ds = make_synthetic({"train": 70}, size=64)
    assert ds.images.shape == (70, 64, 64) and ds.images.dtype == np.uint8
    assert ds.classes == FER7 and np.bincount(ds.labels).tolist() == [10] * 7
    assert make_synthetic({"x": 7}, size=32, rgb=True).images.shape == (7, 32, 32, 3)


def test_images_vary_and_use_the_range():
    ds = make_synthetic({"train": 14})
    assert ds.images.std() > 20 and len({im.tobytes() for im in ds.images}) == 14


@pytest.mark.parametrize("kw, match", [({"size": 4}, "size"), ({"counts": {"train": -1}}, "counts"),
                                       ({"hard": -1}, "hard")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kw)
