"""A stage feeding the vocoder, fused with it: same output, less latency."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.series_stage import SeriesStage
from engine.stage import HopStage
from tests.streaming import stream


class Smear(HopStage):
    """A causal toy stage: each step outputs a running mix of its hop, plus a model delay."""

    def __init__(self, hop: int, model_delay: int = 0, name: str = "toy") -> None:
        super().__init__(hop)
        self.name, self.model_delay = name, model_delay
        self._mem = 0.0
        self._line = np.zeros(model_delay, np.float32)

    def _causal(self, x: np.ndarray) -> np.ndarray:
        y = np.empty_like(x)
        for i, v in enumerate(x):
            self._mem = 0.5 * self._mem + v
            y[i] = self._mem
        return y

    def step(self, hop_in):
        y = np.concatenate([self._line, self._causal(hop_in)])
        self._line = y[self.hop :].copy()
        return y[: self.hop]

    def reset_state(self):
        self._mem = 0.0
        self._line[:] = 0.0

    def offline(self, x):
        saved = (self._mem, self._line.copy())
        self._mem, self._line = 0.0, np.zeros(self.model_delay, np.float32)
        y = self._causal(np.asarray(x, np.float32))
        self._mem, self._line = saved
        return y


@pytest.mark.parametrize(
    ("a", "b", "latency"),
    [(240, 320, 480), (240, 640, 800), (240, 960, 960), (240, 1600, 1760), (320, 320, 320)],
)
def test_latency_is_the_worst_phase_not_the_sum(a, b, latency):
    s = SeriesStage(Smear(a), Smear(b))
    assert s.latency == latency
    assert s.saved == a + b - latency


@settings(max_examples=40, deadline=None)
@given(
    a=st.sampled_from([80, 160, 240, 320]),
    chunk=st.integers(1, 5),
    da=st.sampled_from([0, 8, 104]),
    db=st.sampled_from([0, 704]),
    blocks=st.lists(st.integers(1, 700), min_size=1, max_size=12),
)
def test_stream_equals_offline_delayed_by_latency(a, chunk, da, db, blocks):
    s = SeriesStage(Smear(a, da), Smear(320 * chunk, db, name="vocoder"))
    x = np.random.default_rng(a + chunk).standard_normal(6000).astype(np.float32)
    y = stream(s, x, blocks)
    ref = s.offline(x)
    lat = s.latency
    assert not y[:lat].any()
    np.testing.assert_allclose(y[lat:], ref[: len(x) - lat], rtol=1e-5, atol=1e-5)


def test_reset_starts_a_new_stream():
    s = SeriesStage(Smear(240, 8), Smear(320, 0, name="vocoder"))
    x = np.random.default_rng(1).standard_normal(3000).astype(np.float32)
    first = s.process(x)
    s.reset()
    np.testing.assert_array_equal(s.process(x), first)
