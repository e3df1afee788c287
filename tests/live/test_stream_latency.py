"""Reported latency equals measured latency on JACK, in both stream modes.

One full-duplex stream and two separate streams (input and output) are
measured from outside by the probe clients. Two streams start one after the
other; the output callback measures the skew and the engine adds it back to
the ring, so both modes end up with the same ring latency (block + margin),
which PortAudio's JACK host adds nothing to (the streams are opened at
JACK's own period).
"""

import gc
import time

import numpy as np
import pytest

from engine.audio import shm
from engine.audio.stream import StreamSpec
from engine.live import control as cmd
from engine.live.engine import Engine, EngineOptions
from engine.live.loopback import find_delay
from tests.audio.jack_rig import PERIOD, RATE
from tests.audio.toy_stages import toy_factory

MARGIN_MS = 10.0


def _start(engine, duplex: bool):
    spec = StreamSpec(input="system", output="system", block=PERIOD, duplex=duplex)
    engine.send(cmd.Start(spec, chain="dry", margin_ms=MARGIN_MS, adaptive=False))
    deadline = time.monotonic() + 20.0
    while engine.snapshot().state != "running":
        assert time.monotonic() < deadline, engine.snapshot().error
        time.sleep(0.02)
    time.sleep(0.3)  # both streams running, skew settled
    return engine.snapshot()


@pytest.mark.parametrize("duplex", [True, False], ids=["duplex", "two-streams"])
def test_reported_latency_is_measured_latency(jack_server, rig, duplex):
    engine = Engine(factory=toy_factory(), options=EngineOptions(retry_s=0.3))
    try:
        snap = _start(engine, duplex)
        assert snap.status.duplex is duplex
        assert gc.get_freeze_count() > 0  # no full GC pass walks the models mid-stream
        rig.wire()
        x = 0.2 * np.random.default_rng(3).standard_normal(int(0.8 * RATE))
        x = np.clip(x, -0.7, 0.7).astype(np.float32)  # below the limiter's knee
        rec = rig.play_record(x, extra=0.3)
        delay, quality = find_delay(x, rec)
        assert delay is not None, quality
        snap = engine.snapshot()
        lat = snap.latency
        assert abs(1000.0 * delay / RATE - lat.total_ms) <= 1.0
        # the same latency in both modes: one period plus the margin, nothing else
        expected = PERIOD + round(MARGIN_MS * RATE / 1000.0)
        assert delay == pytest.approx(expected, abs=0.01)
        assert snap.status.margin_ms == pytest.approx(MARGIN_MS, abs=0.03)
        if not duplex:  # the start skew was measured (whole periods on JACK) and made up
            skew = engine._stream.host.counter(shm.SKEW)
            assert skew % PERIOD == 0
            assert engine._stream.host.skew_fill == max(0, skew)
        d = int(round(delay))
        half = len(x) // 2
        np.testing.assert_array_equal(rec[d + half : d + len(x)], x[half:])
    finally:
        engine.close()
