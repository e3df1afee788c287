"""Objective quality metrics on 16 kHz mono signals, and delay estimation.

PESQ-WB and STOI come from the maintained ``pesq`` and ``pystoi`` packages;
SI-SDR and the log-mel distance are short enough to write here.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

SR = 16_000


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sr: int = SR) -> float:
    """Wideband PESQ (ITU-T P.862.2), MOS-LQO in [1.04, 4.64]; NaN if undefined."""
    from pesq import NoUtterancesError, pesq

    try:
        return float(pesq(sr, ref.astype(np.float64), deg.astype(np.float64), "wb"))
    except (NoUtterancesError, ValueError):
        return math.nan


def stoi(ref: np.ndarray, deg: np.ndarray, sr: int = SR) -> float:
    """Short-time objective intelligibility in [0, 1] (pystoi); NaN if undefined.

    pystoi needs 30 frames (~384 ms) of non-silent speech; on shorter
    utterances it warns and returns 1e-5, which would drag means down, so
    that case is reported as undefined instead.
    """
    import warnings

    from pystoi import stoi as _stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(ref.astype(np.float64), deg.astype(np.float64), sr, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return math.nan
    return value


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (higher is better)."""
    ref = ref.astype(np.float64) - ref.mean()
    est = est.astype(np.float64) - est.mean()
    energy = np.dot(ref, ref)
    if energy == 0.0:
        return math.nan
    target = np.dot(est, ref) / energy * ref
    noise = est - target
    return float(10 * np.log10(np.dot(target, target) / max(np.dot(noise, noise), 1e-20)))


def _log_mel(x: np.ndarray, fb: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    _, _, spec = signal.stft(x, nperseg=n_fft, noverlap=n_fft - hop, window="hann", boundary=None)
    mag = np.abs(spec) * (n_fft / 2)  # undo scipy's window-sum scaling, roughly
    return np.log(np.maximum(fb @ mag, 1e-5))


def log_mel_l1(ref: np.ndarray, deg: np.ndarray, sr: int = SR) -> float:
    """Mean absolute difference of 80-band log-mel spectrograms (lower is better)."""
    from engine.dsp.mel import slaney_mel_filterbank

    fb = slaney_mel_filterbank(sample_rate=sr, n_fft=1024, n_mels=80, f_min=0.0, f_max=sr / 2)
    n = min(len(ref), len(deg))
    if n < 1024:
        return math.nan
    return float(np.mean(np.abs(_log_mel(ref[:n], fb) - _log_mel(deg[:n], fb))))


def find_delay(ref: np.ndarray, out: np.ndarray, max_lag: int) -> int:
    """Lag (samples, 0..max_lag) at which ``out`` best matches ``ref`` (cross-correlation).

    ``out[n + lag] ~ ref[n]``. Uses the absolute correlation so that an
    inverted output still aligns.
    """
    n = min(len(ref), len(out) - max_lag)
    if n <= 0:
        raise ValueError("signal too short to estimate the delay")
    corr = signal.correlate(out[: n + max_lag], ref[:n], mode="valid", method="fft")
    return int(np.argmax(np.abs(corr[: max_lag + 1])))


def envelope_delay(ref: np.ndarray, out: np.ndarray, max_lag: int, window: int = 80) -> int:
    """Lag (samples, 0..max_lag) at which ``out``'s energy envelope best matches ``ref``'s.

    For outputs that keep the sound but not the waveform (a vocoder makes
    its own phase), the waveform cross-correlation means nothing; the 5 ms
    RMS envelopes of speech still line up within a few milliseconds.
    """
    kernel = np.ones(window) / window

    def env(x: np.ndarray) -> np.ndarray:
        e = np.sqrt(np.convolve(np.square(x.astype(np.float64)), kernel, mode="same"))
        return e - e.mean()

    return find_delay(env(ref), env(out), max_lag)


def mean_ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% confidence interval (Student t); NaNs dropped."""
    from scipy import stats

    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return float(v.mean()), float(half)
