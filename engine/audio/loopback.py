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

PROBES = ("chirp", "mls")


def make_probe(
    rate: int, kind: str = "chirp", seconds: float = 0.3, level: float = 0.5
) -> np.ndarray:
    """A probe signal ``(n,)`` float32 at ``rate``.

    ``chirp``: logarithmic sweep over the speech band (300 Hz - 3.4 kHz),
    Hann-faded at both ends, which survives band limits and speech models.
    ``mls``: maximum-length sequence (flat spectrum, sharpest peak; for
    dry paths).
    """
    if kind not in PROBES:
        raise ValueError(f"unknown probe '{kind}'; choose one of {PROBES}")
    n = int(seconds * rate)
    if n < 64:
        raise ValueError(f"probe too short: {seconds} s")
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
