"""Glass-to-glass latency: play a known probe, find it again by cross-correlation.

With a loopback cable (or a virtual loopback such as a JACK connection from
the output ports back to the input ports) the engine feeds the probe into
its chain in place of the microphone; it travels through the chain, the
output device, the loop and the input device, and shows up in the raw
input that much later.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import chirp, correlate, max_len_seq

PROBES = ("chirp", "mls", "bursts")
ENVELOPE_FRAME_S = 0.0005  # 0.5 ms frames for envelope correlation


def make_probe(
    rate: int, kind: str = "chirp", seconds: float = 0.3, level: float = 0.5
) -> np.ndarray:
    """A probe signal ``(n,)`` float32 at ``rate``.

    ``chirp``: logarithmic sweep over the speech band (300 Hz - 3.4 kHz),
    Hann-faded at both ends, which survives band limits and speech models.
    ``mls``: maximum-length sequence (flat spectrum, sharpest peak; for
    dry paths). ``bursts``: speech-band noise bursts, for
    :func:`find_delay_envelope` through chains that re-create the phase.
    """
    if kind not in PROBES:
        raise ValueError(f"unknown probe '{kind}'; choose one of {PROBES}")
    n = int(seconds * rate)
    if n < 64:
        raise ValueError(f"probe too short: {seconds} s")
    if kind == "bursts":
        return _bursts(rate, n, level)
    if kind == "mls":
        bits = int(np.floor(np.log2(n + 1)))
        seq = max_len_seq(bits)[0].astype(np.float32) * 2 - 1
        return (level * seq).astype(np.float32)
    t = np.arange(n) / rate
    y = chirp(t, f0=300.0, t1=seconds, f1=3400.0, method="logarithmic")
    fade = min(n // 4, int(0.01 * rate))
    win = np.ones(n)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    win[:fade], win[n - fade :] = ramp, ramp[::-1]
    return (level * y * win).astype(np.float32)


def _bursts(rate: int, n: int, level: float) -> np.ndarray:
    """Speech-band noise bursts at irregular spacing (a unique envelope autocorrelation peak)."""
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(7)
    starts = np.array([0.0, 0.09, 0.15, 0.31, 0.38, 0.55]) * n / 0.6
    width = int(0.03 * n / 0.6)
    env = np.zeros(n)
    ramp = np.hanning(width)
    for s in starts.astype(int):
        stop = min(n, s + width)
        env[s:stop] = ramp[: stop - s]
    sos = butter(4, [300.0, min(3400.0, 0.45 * rate)], btype="band", fs=rate, output="sos")
    y = sosfilt(sos, rng.standard_normal(n)) * env
    return (level * y / np.max(np.abs(y))).astype(np.float32)


def envelope(x: np.ndarray, rate: int) -> np.ndarray:
    """RMS envelope in frames of :data:`ENVELOPE_FRAME_S` (``(n // frame,)``)."""
    frame = max(1, int(ENVELOPE_FRAME_S * rate))
    m = x.shape[0] // frame
    return np.sqrt(np.mean(np.asarray(x[: m * frame], np.float64).reshape(m, frame) ** 2, axis=1))


def find_delay_envelope(probe: np.ndarray, recording: np.ndarray, rate: int,
                        min_corr: float = 0.5):  # fmt: skip
    """Like :func:`find_delay` on RMS envelopes: for chains that do not keep the phase.

    A vocoder re-creates the waveform from a magnitude spectrogram, so the
    waveform no longer correlates with the probe; its loudness envelope
    still does. Returns ``(delay_samples | None, correlation)``: the
    normalised correlation of the envelopes at the best lag (below
    ``min_corr``: not found). Resolution: a fraction of
    :data:`ENVELOPE_FRAME_S`.
    """
    frame = max(1, int(ENVELOPE_FRAME_S * rate))
    ep, er = envelope(probe, rate), envelope(recording, rate)
    if er.shape[0] < ep.shape[0] or not ep.any():
        return None, 0.0
    ep = ep - ep.mean()
    c = correlate(er, ep, mode="valid", method="fft")
    win = np.lib.stride_tricks.sliding_window_view(er, ep.shape[0])
    norm = np.linalg.norm(ep) * np.sqrt(
        np.maximum((win**2).sum(1) - win.sum(1) ** 2 / ep.shape[0], 1e-20)
    )
    r = c / norm
    k = int(np.argmax(r))
    if r[k] < min_corr:
        return None, float(r[k])
    frac = 0.0
    if 0 < k < r.shape[0] - 1:
        a, b, d = r[k - 1], r[k], r[k + 1]
        denom = a - 2 * b + d
        frac = 0.5 * (a - d) / denom if denom != 0 else 0.0
    return (k + frac) * frame, float(r[k])


def find_delay(probe: np.ndarray, recording: np.ndarray, min_quality: float = 6.0):
    """Where ``probe`` starts in ``recording``: ``(delay_samples | None, quality)``.

    ``quality`` is the correlation peak over the typical correlation level
    (median of its magnitude, times 10); below ``min_quality`` the probe is
    taken as not found. The delay is refined to a fraction of a sample by a
    parabola through the peak.
    """
    probe = np.asarray(probe, np.float64)
    rec = np.asarray(recording, np.float64)
    if rec.shape[0] < probe.shape[0]:
        return None, 0.0
    c = correlate(rec, probe, mode="valid", method="fft")
    mag = np.abs(c)
    k = int(np.argmax(mag))
    floor = float(np.median(mag)) * 10.0 + 1e-12
    quality = float(mag[k] / floor)
    if quality < min_quality:
        return None, quality
    frac = 0.0
    if 0 < k < c.shape[0] - 1:
        a, b, d = mag[k - 1], mag[k], mag[k + 1]
        denom = a - 2 * b + d
        frac = 0.5 * (a - d) / denom if denom != 0 else 0.0
    return k + frac, quality
