"""RTPGHI (engine.dsp.pghi): phase from magnitude alone, frame by frame, no look-ahead."""

import numpy as np
import pytest

from engine.dsp.pghi import RTPGHI, causal_istft, causal_stft, rtpghi, wrap

SR = 16000
GEOMETRIES = [(512, 128), (1024, 320)]


def with_flush(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    return np.concatenate((x, np.zeros(-(-(n_fft - hop) // hop) * hop)))


def reconstruct(x: np.ndarray, n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude of ``x``, RTPGHI's phase, and the magnitude of what that phase resynthesises."""
    mag = np.abs(causal_stft(with_flush(x, n_fft, hop), n_fft, hop))
    phase = rtpghi(mag, n_fft, hop)
    y = causal_istft(mag * np.exp(1j * phase), n_fft, hop)
    return mag, phase, np.abs(causal_stft(y, n_fft, hop))


def spectral_convergence(ref: np.ndarray, est: np.ndarray, n_fft: int, hop: int) -> float:
    inner = slice(n_fft // hop + 1, -(n_fft // hop + 1))  # away from the start and the flush
    return float(np.linalg.norm(est[inner] - ref[inner]) / np.linalg.norm(ref[inner]))


def chirp(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return 0.5 * np.sin(2 * np.pi * (300 * t + 0.5 * 2700 / seconds * t**2))


# Measured: sinusoid 0.010 / 0.0013, 2 s chirp 0.013 / 0.126; zero phase gives 0.80-0.99.
@pytest.mark.parametrize(
    ("n_fft", "hop", "sine_bound", "chirp_bound"),
    [(512, 128, 0.03, 0.04), (1024, 320, 0.03, 0.2)],
)
def test_magnitude_of_reconstruction_matches(n_fft, hop, sine_bound, chirp_bound):
    t = np.arange(hop * 100) / SR
    sine = 0.3 * np.sin(2 * np.pi * 1234.5 * t + 0.7)
    mag, _, rebuilt = reconstruct(sine, n_fft, hop)
    assert spectral_convergence(mag, rebuilt, n_fft, hop) < sine_bound
    mag, _, rebuilt = reconstruct(chirp(2.0), n_fft, hop)
    assert spectral_convergence(mag, rebuilt, n_fft, hop) < chirp_bound


@pytest.mark.parametrize(("n_fft", "hop"), GEOMETRIES)
def test_phase_advances_at_the_sinusoid_frequency(n_fft, hop):
    freq = 1234.5  # advance per hop is far from a multiple of 2*pi for both hops
    t = np.arange(hop * 60) / SR
    mag, phase, _ = reconstruct(np.sin(2 * np.pi * freq * t), n_fft, hop)
    peak = int(round(freq * n_fft / SR))
    advance = np.diff(phase[5:50, peak])
    expected = wrap(np.array(2 * np.pi * freq * hop / SR))
    assert abs(float(expected)) > 0.5
    assert np.max(np.abs(wrap(advance - expected))) < 0.05


@pytest.mark.parametrize(("n_fft", "hop"), GEOMETRIES)
def test_stream_equals_whole_spectrogram_and_is_causal(n_fft, hop):
    rng = np.random.default_rng(3)
    x = chirp(0.5) + 0.05 * rng.standard_normal(SR // 2)
    x = x[: len(x) // hop * hop]
    mag = np.abs(causal_stft(x, n_fft, hop))
    whole = rtpghi(mag, n_fft, hop)
    stream = RTPGHI(n_fft, hop)
    streamed = np.stack([stream.step(frame) for frame in mag])
    np.testing.assert_array_equal(streamed, whole)
    # No look-ahead: a frame's phase does not change when later frames are cut off.
    np.testing.assert_array_equal(rtpghi(mag[:10], n_fft, hop), whole[:10])
    stream.reset()
    np.testing.assert_array_equal(stream.step(mag[0]), whole[0])


@pytest.mark.parametrize(("n_fft", "hop"), GEOMETRIES)
def test_zero_input_gives_finite_zero_output(n_fft, hop):
    mag = np.zeros((20, n_fft // 2 + 1))
    phase = rtpghi(mag, n_fft, hop)
    assert np.all(np.isfinite(phase))
    y = causal_istft(mag * np.exp(1j * phase), n_fft, hop)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) < 1e-12


@pytest.mark.parametrize(("n_fft", "hop"), GEOMETRIES)
def test_causal_stft_round_trip_is_aligned(n_fft, hop):
    x = np.random.default_rng(0).standard_normal(hop * 30)
    y = causal_istft(causal_stft(with_flush(x, n_fft, hop), n_fft, hop), n_fft, hop)
    np.testing.assert_allclose(y[: len(x)], x, atol=1e-9)


def test_rejects_wrong_frame_size():
    with pytest.raises(ValueError):
        RTPGHI(512, 128).step(np.ones(256))
