"""fer_lib.speed: timing statistics on controlled calls, and the per-face bookkeeping of model timings."""
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from fer_lib.speed import inference_table, inference_time, time_call


def test_time_call_counts_warmup_and_repeats():
    calls = []
    r = time_call(lambda: calls.append(1), repeats=7, warmup=3)
    assert len(calls) == 10 and r["n"] == 7
    assert r["min"] <= r["q25"] <= r["median"] <= r["q75"]
    with pytest.raises(ValueError, match="repeats"):
        time_call(lambda: None, repeats=0)


def test_time_call_measures_a_known_sleep():
    r = time_call(lambda: time.sleep(0.01), repeats=5, warmup=1)
    assert 0.009 <= r["median"] < 0.05
    assert np.isfinite(r["std"])


def test_time_call_min_and_max_seconds():
    r = time_call(lambda: None, repeats=3, warmup=0, min_seconds=0.005)
    assert r["n"] >= 3
    r = time_call(lambda: time.sleep(0.01), repeats=100, warmup=0, max_seconds=0.03)
    assert 3 <= r["n"] < 10  # stopped early, but never below 3 repeats


class _Probe(nn.Module):
    """Records the mode and grad state it was called in."""
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_grad_enabled(), tuple(x.shape)))
        return self.lin(x.flatten(1))


def test_inference_time_eval_no_grad_and_per_face():
    m = _Probe().train()
    r = inference_time(m, batch_size=8, input_shape=(1, 2, 2), repeats=4, warmup=2)
    assert m.training  # restored
    assert all(s == (False, False, (8, 1, 2, 2)) for s in m.seen) and len(m.seen) == 6
    assert r["ms_per_face"] == pytest.approx(1e3 * r["median"] / 8)
    assert r["faces_per_s"] == pytest.approx(8 / r["median"])


def test_inference_table_rows():
    t = inference_table({"a": _Probe(), "b": _Probe()}, batch_sizes=(1, 4), repeats=2, warmup=0,
                        input_shape=(1, 2, 2))
    assert list(t["model"]) == ["a", "a", "b", "b"] and list(t["batch"]) == [1, 4, 1, 4]
    assert (t["median ms/face"] > 0).all() and set(t["device"]) == {"cpu"}
