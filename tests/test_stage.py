import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.stage import DryStage, HopStage
from tests.streaming import stream


class Square(HopStage):
    """A stateful toy stage: output = input**2 + running sum of the hop's first sample."""

    def __init__(self, hop: int) -> None:
        super().__init__(hop)
        self.acc = 0.0

    def step(self, hop_in):
        self.acc += float(hop_in[0])
        return hop_in**2 + np.float32(self.acc)

    def reset_state(self):
        self.acc = 0.0

    def offline(self, x):
        n = len(x)
        pad = np.concatenate([x, np.zeros((-n) % self.hop, np.float32)])
        hops = pad.reshape(-1, self.hop)
        acc = np.cumsum(hops[:, 0].astype(np.float64)).astype(np.float32)
        return (hops**2 + acc[:, None]).reshape(-1)[:n].astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(hop=st.integers(1, 50), blocks=st.lists(st.integers(1, 130), min_size=1, max_size=6))
def test_stream_equals_offline_delayed_by_latency(hop, blocks):
    x = np.random.default_rng(hop).standard_normal(1000).astype(np.float32)
    stage = Square(hop)
    y = stream(stage, x, blocks)
    ref = np.concatenate([np.zeros(stage.latency, np.float32), stage.offline(x)])[: len(x)]
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


def test_reset_restarts_the_stream():
    x = np.arange(100, dtype=np.float32)
    stage = Square(7)
    a = stage.process(x)
    stage.reset()
    b = stage.process(x)
    np.testing.assert_array_equal(a, b)


def test_dry_stage_is_a_pure_delay():
    x = np.random.default_rng(0).standard_normal(500).astype(np.float32)
    stage = DryStage(hop=64)
    y = stage.process(x)
    assert stage.latency == 64
    np.testing.assert_array_equal(y[64:], x[:-64])
    assert not y[:64].any()
