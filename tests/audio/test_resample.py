import numpy as np
import pytest

from engine.dsp.resample import (
    FirResampler,
    Identity,
    SoxrResampler,
    expected_output,
    make_resampler,
    measure_delay,
)
from tests.streaming import stream as stream_blocks

RATES = [(48000, 16000), (16000, 48000), (44100, 16000), (16000, 44100), (32000, 16000)]


def stream(resampler, x, blocks=(256, 7, 1000, 1, 64)):
    return stream_blocks(resampler, x, blocks)


@pytest.mark.parametrize("rates", RATES)
def test_fir_is_count_exact_and_block_size_invariant(rates):
    a, b = rates
    x = np.random.default_rng(1).standard_normal(a // 5).astype(np.float32)
    y1 = stream(FirResampler(a, b), x)
    y2 = stream(FirResampler(a, b), x, blocks=(333,))
    assert len(y1) == expected_output(len(x), a, b)
    np.testing.assert_allclose(y1, y2, atol=1e-6)


@pytest.mark.parametrize("rates", RATES)
def test_fir_delay_is_about_one_millisecond_and_a_whole_sample(rates):
    a, b = rates
    r = FirResampler(a, b)
    assert 0.5e-3 < r.delay / b < 1.5e-3
    assert abs(r.delay - round(r.delay)) < 0.05


@pytest.mark.parametrize("rates", [(48000, 16000), (16000, 48000), (44100, 16000)])
def test_fir_sine_comes_out_delayed_by_the_measured_delay(rates):
    a, b = rates
    f = 1000.0
    x = np.sin(2 * np.pi * f * np.arange(a // 2) / a).astype(np.float32)
    r = FirResampler(a, b)
    y = stream(r, x)
    t = (np.arange(len(y)) - r.delay) / b
    ideal = np.sin(2 * np.pi * f * t)
    steady = slice(b // 20, len(y) - 10)
    np.testing.assert_allclose(y[steady], ideal[steady], atol=2e-3)


def test_fir_rejects_what_would_alias():
    a, b = 48000, 16000
    x = np.sin(2 * np.pi * 11000 * np.arange(a // 2) / a).astype(np.float32)
    y = stream(FirResampler(a, b), x)[1000:]
    assert 20 * np.log10(np.sqrt(np.mean(y**2)) / np.sqrt(0.5)) < -60


@pytest.mark.parametrize("quality", ["lq", "hq"])
def test_soxr_is_count_exact_and_delay_equals_its_priming(quality):
    a, b = 48000, 16000
    r = SoxrResampler(a, b, quality)
    x = np.random.default_rng(2).standard_normal(a // 2).astype(np.float32)
    y = stream(r, x)
    assert len(y) == expected_output(len(x), a, b)
    assert r.shortfalls == 0
    assert abs(r.delay - r.prime) <= 1.0


def test_measure_delay_finds_a_known_delay():
    class Delayed:
        in_rate = out_rate = 16000

        def __init__(self):
            self.buf = np.zeros(37, np.float32)

        def process(self, x):
            z = np.concatenate([self.buf, x])
            self.buf = z[len(x) :]
            return z[: len(x)]

    assert measure_delay(Delayed()) == pytest.approx(37.0)


def test_identity_when_rates_match_and_bad_options_raise():
    r = make_resampler(16000, 16000)
    assert isinstance(r, Identity) and r.delay == 0
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(r.process(x), x)
    with pytest.raises(ValueError):
        make_resampler(48000, 16000, "best")
    with pytest.raises(ValueError):
        make_resampler(0, 16000)
