import numpy as np
import pytest

from engine.live.meters import LevelMeter, LoadMeter, StepTimer, WaveBuffer
from engine.live.snapshot import Xruns


def test_step_timer_summary():
    t = StepTimer(window=100)
    for ms in range(1, 201):  # only the last 100 count for median/p99, max is all-time
        t.add(ms / 1000)
    s = t.summary()
    assert s.last_ms == pytest.approx(200)
    assert s.median_ms == pytest.approx(150.5)
    assert 198 <= s.p99_ms <= 200
    assert s.max_ms == pytest.approx(200) and s.steps == 200
    assert StepTimer().summary().steps == 0


def test_level_meter_reports_since_last_take():
    m = LevelMeter()
    m.add(np.full(100, 0.5, np.float32))
    m.add(np.zeros(100, np.float32))
    peak, rms = m.take()
    assert peak == pytest.approx(-6.02, abs=0.01)
    assert rms == pytest.approx(20 * np.log10(np.sqrt(0.125)), abs=0.01)
    assert m.take() == (-120.0, -120.0)


def test_wave_buffer_keeps_signed_peaks_in_order():
    w = WaveBuffer(points=4, decim=3)
    w.add(np.array([0.1, -0.9, 0.2, 0.3, 0.0], np.float32))
    w.add(np.array([0.1, 0.5, 0.4, 0.2, 0.7, 0.0, -0.2, 0.1], np.float32))
    snap = w.snapshot()
    # frames of 3: [.1 -.9 .2] [.3 0 .1] [.5 .4 .2] [.7 0 -.2], and [.1] still open
    np.testing.assert_allclose(snap, [-0.9, 0.3, 0.5, 0.7], atol=1e-6)
    assert not snap.flags.writeable


def test_load_meter_converges_to_busy_fraction():
    m = LoadMeter(rate=1000, tau=0.1)
    for _ in range(200):
        m.add(busy_seconds=0.025, frames=100)  # 25 ms of work per 100 ms of audio
    assert m.value == pytest.approx(0.25, rel=1e-3)


def test_xruns_total():
    assert Xruns(1, 2, 3, 4, 999).total == 10
