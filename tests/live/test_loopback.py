import numpy as np
import pytest

from engine.live.loopback import find_delay, find_delay_envelope, make_probe


@pytest.mark.parametrize("kind", ["chirp", "mls"])
def test_probe_is_found_at_its_delay_in_noise(kind):
    rate = 48000
    probe = make_probe(rate, kind)
    rec = np.zeros(rate, np.float32)
    rec[12345 : 12345 + len(probe)] += 0.3 * probe
    rec += 0.02 * np.random.default_rng(0).standard_normal(rate).astype(np.float32)
    delay, quality = find_delay(probe, rec)
    assert delay == pytest.approx(12345, abs=0.5)
    assert quality > 10


def test_envelope_delay_survives_a_new_phase():
    from scipy.signal import hilbert

    rate = 16000
    probe = make_probe(rate, "bursts", seconds=0.6)
    # Same loudness envelope, new waveform: what a vocoder does to a signal.
    fresh = np.random.default_rng(1).standard_normal(len(probe))
    rebuilt = np.abs(hilbert(probe)) * fresh
    rec = np.concatenate([np.zeros(4000), rebuilt, np.zeros(4000)])
    assert find_delay(probe, rec)[0] is None  # the waveform is gone
    delay, corr = find_delay_envelope(probe, rec, rate)
    assert delay == pytest.approx(4000, abs=16)  # 1 ms at 16 kHz
    assert corr > 0.5


def test_nothing_is_found_in_noise():
    probe = make_probe(48000)
    assert find_delay(probe, np.random.default_rng(2).standard_normal(48000))[0] is None
    assert find_delay_envelope(probe, np.random.default_rng(3).standard_normal(48000),
                               48000)[0] is None  # fmt: skip


def test_bad_probe_options_raise():
    with pytest.raises(ValueError):
        make_probe(48000, "sweep")
    with pytest.raises(ValueError):
        make_probe(48000, "chirp", seconds=0.0001)
