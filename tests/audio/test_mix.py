import numpy as np
import pytest

from engine.dsp.mix import (
    Crossfade,
    GainRamp,
    History,
    LevelTracker,
    Limiter,
    db_to_gain,
    match_gain,
)


def sine(f, n, rate=48000, amp=0.5):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / rate)).astype(np.float32)


def test_history_reads_any_delay_and_zeros_before_start():
    h = History(100)
    h.append(np.arange(1, 31, dtype=np.float32))
    np.testing.assert_array_equal(h.read(5, 0), [26, 27, 28, 29, 30])
    np.testing.assert_array_equal(h.read(5, 10), [16, 17, 18, 19, 20])
    np.testing.assert_array_equal(h.read(4, 28), [0, 0, 1, 2])
    for k in range(10):  # wrap around many times
        h.append(np.arange(31 + 30 * k, 61 + 30 * k, dtype=np.float32))
    np.testing.assert_array_equal(h.read(3, 50), np.array([278, 279, 280]) - 0)
    with pytest.raises(ValueError):
        h.read(10, 95)


def test_equal_power_crossfade_keeps_power_and_is_continuous():
    n = 4000
    a = sine(440, n)
    b = sine(440, n, amp=0.5)
    noise_a = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    noise_b = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    fade = Crossfade(720)
    out = np.empty(n, np.float32)
    fade.start()
    for i in range(0, n, 256):  # block-wise
        fade.mix(noise_a[i : i + 256], noise_b[i : i + 256], out[i : i + 256])
    assert not fade.active
    g_old = np.cos(np.minimum(np.arange(1, n + 1) / 720, 1) * np.pi / 2)
    g_new = np.sin(np.minimum(np.arange(1, n + 1) / 720, 1) * np.pi / 2)
    np.testing.assert_allclose(out, noise_a * g_old + noise_b * g_new, atol=1e-5)
    np.testing.assert_allclose(g_old**2 + g_new**2, 1.0, atol=1e-12)
    # Fading between two copies of one tone never jumps more than the tone itself.
    fade.start()
    fade.mix(a, b, out)
    assert np.max(np.abs(np.diff(out))) <= np.max(np.abs(np.diff(a))) * 1.45


def test_gain_ramp_reaches_target_smoothly():
    g = GainRamp(100, 1.0)
    g.set(0.0)
    x = np.ones(150, np.float32)
    g.apply(x)
    assert x[-1] == 0.0 and x[98] > 0
    assert np.max(np.abs(np.diff(x))) <= 0.0101


@pytest.mark.parametrize("ceiling_db", [-1.0, -6.0])
def test_limiter_never_exceeds_ceiling_and_adds_no_step(ceiling_db):
    ceiling = db_to_gain(ceiling_db)
    rate = 48000
    n = rate
    x = sine(300, n, amp=0.3)
    x[n // 4 :] *= 10.0  # sudden +20 dB at a zero crossing (300 Hz: 160 samples/cycle)
    x[n // 2 : n // 2 + 3] = [np.nan, np.inf, -np.inf]
    lim = Limiter(ceiling, rate)
    y = x.copy()
    for i in range(0, n, 256):
        lim.process(y[i : i + 256])
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) <= ceiling
    dx = np.abs(np.diff(np.nan_to_num(x, nan=0, posinf=0, neginf=0)))
    dy = np.abs(np.diff(y))
    around_nan = np.zeros_like(dy, bool)
    around_nan[n // 2 - 2 : n // 2 + 4] = True
    assert np.max(dy[~around_nan]) <= 1.05 * np.max(dx[~around_nan])
    assert lim.reduction_db > 10.0  # it is holding the loud part down


def test_limiter_is_transparent_below_knee():
    lim = Limiter(db_to_gain(-1), 48000)
    x = sine(1000, 4800, amp=0.5)
    y = lim.process(x.copy())
    np.testing.assert_array_equal(y, x)


def test_loudness_match_gain():
    ref, src = LevelTracker(48000, 0.1), LevelTracker(48000, 0.1)
    for _ in range(100):
        ref.update(sine(200, 480, amp=0.5))
        src.update(sine(200, 480, amp=0.25))
    assert match_gain(ref, src) == pytest.approx(2.0, rel=0.02)
    assert match_gain(ref, LevelTracker(48000)) == 1.0


def test_invalid_options_raise():
    for bad in (
        lambda: History(0),
        lambda: Crossfade(0),
        lambda: GainRamp(0),
        lambda: Limiter(1.5, 48000),
        lambda: Limiter(0.5, 48000, knee=1.0),
    ):
        with pytest.raises(ValueError):
            bad()
