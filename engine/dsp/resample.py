"""Streaming resamplers between the device rate and the models' 16 kHz.

Every resampler here is *count-exact* and has a *constant, measured delay*:
after ``N`` input samples in total it has produced exactly
``ceil(N * out_rate / in_rate)`` samples, and its output is the ideal
resampled signal delayed by :attr:`delay` output samples. The engine relies
on both: each tap must hand over as many samples as it received, and the dry
path is delayed by exactly the wet path's latency.

Two kinds:

- ``"fir"`` (default): a polyphase linear-phase Kaiser FIR written for
  streaming; about 1 ms of delay per direction (70 dB stop band, pass band
  to ~0.85 x 8 kHz).
- ``"soxr-lq" / "soxr-mq" / "soxr-hq" / "soxr-vhq"``: ``soxr.ResampleStream``.
  libsoxr is time-aligned but withholds output in bursts of its internal
  block (measured at 48 kHz <-> 16 kHz with 256-frame blocks: up to 20 ms per
  direction for LQ, ~37 ms for HQ), so it is primed with that many zeros to
  stay count-exact; the priming is its delay. Higher quality, far more
  latency: hence not the default for live monitoring.

:func:`measure_delay` finds the delay of any of them with an impulse; the
constructors store it in :attr:`delay`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

QUALITIES = ("fir", "soxr-lq", "soxr-mq", "soxr-hq", "soxr-vhq")
_ATTENUATION_DB = 70.0
_TRANSITION = 0.3  # transition width as a fraction of the lower Nyquist frequency


def _ratio(in_rate: int, out_rate: int) -> tuple[int, int]:
    if in_rate <= 0 or out_rate <= 0 or in_rate != int(in_rate) or out_rate != int(out_rate):
        raise ValueError(f"sample rates must be positive integers, got {in_rate} -> {out_rate}")
    g = math.gcd(int(in_rate), int(out_rate))
    return int(out_rate) // g, int(in_rate) // g


def expected_output(total_in: int, in_rate: int, out_rate: int) -> int:
    """Samples a count-exact resampler has produced after ``total_in`` inputs."""
    up, down = _ratio(in_rate, out_rate)
    return -(-total_in * up // down)


class Identity:
    """Pass-through used when the device already runs at the model rate."""

    kind = "identity"

    def __init__(self, rate: int) -> None:
        self.in_rate = self.out_rate = int(rate)
        self.delay = 0.0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Return ``x`` as float32 (shape ``(n,)``)."""
        return np.asarray(x, dtype=np.float32).reshape(-1)

    def reset(self) -> None:
        """Nothing to forget."""


@lru_cache(maxsize=16)
def _polyphase_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """Kaiser low-pass for ``up/down``; returns ``(H (up, taps), delay_out)``.

    The prototype runs at ``up * in_rate``; its length ``2 * down * m + 1``
    makes the group delay exactly ``m`` output samples.
    """
    from scipy.signal import firwin, kaiser_beta, kaiserord

    fs_up = float(up)  # work in units of the input rate
    cutoff = 0.5 * min(1.0, up / down)  # lower Nyquist, in input-rate units
    width = _TRANSITION * cutoff
    numtaps, _ = kaiserord(_ATTENUATION_DB, width / (fs_up / 2))
    m = max(1, math.ceil((numtaps - 1) / (2 * down)))
    length = 2 * down * m + 1
    h = firwin(length, cutoff, window=("kaiser", kaiser_beta(_ATTENUATION_DB)), fs=fs_up)
    taps = -(-length // up)
    padded = np.zeros(taps * up)
    padded[:length] = h * up
    poly = padded.reshape(taps, up).T.astype(np.float32)  # poly[p, j] = up * h[p + j*up]
    return np.ascontiguousarray(poly), m


class FirResampler:
    """Streaming polyphase FIR resampler (``in_rate`` -> ``out_rate``), mono.

    Output ``k`` sits at input time ``k * down / up`` and needs inputs up to
    ``floor(k * down / up)`` only (causal), so nothing is withheld.
    """

    kind = "fir"

    def __init__(self, in_rate: int, out_rate: int, *, measure: bool = True) -> None:
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.up, self.down = _ratio(in_rate, out_rate)
        self._poly, _ = _polyphase_filter(self.up, self.down)
        self.taps = self._poly.shape[1]
        self._offsets = np.arange(self.taps, dtype=np.int64)
        self.reset()
        self.delay = (
            measure_delay(FirResampler(in_rate, out_rate, measure=False)) if measure else 0.0
        )

    def reset(self) -> None:
        """Back to a stream of zeros."""
        self._hist = np.zeros(self.taps - 1, dtype=np.float32)
        self._n_in = 0  # inputs consumed so far
        self._k = 0  # next output index

    def process(self, x: np.ndarray) -> np.ndarray:
        """Push ``(n,)`` samples; return the ``(m,)`` outputs that became computable."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        n = x.shape[0]
        buf = np.concatenate([self._hist, x])
        base = self._n_in - (self.taps - 1)  # global index of buf[0]
        self._n_in += n
        k_end = -(-self._n_in * self.up // self.down)
        ks = np.arange(self._k, k_end, dtype=np.int64)
        self._k = k_end
        t = ks * self.down
        rows = (t // self.up - base)[:, None] - self._offsets[None, :]
        y = np.einsum("kt,kt->k", self._poly[t % self.up], buf[rows])
        self._hist = buf[buf.shape[0] - (self.taps - 1) :].copy()
        return y.astype(np.float32, copy=False)


@lru_cache(maxsize=16)
def _fir_delay(in_rate: int, out_rate: int) -> float:
    """Measured once per rate pair: new taps start mid-stream on the engine thread."""
    return measure_delay(FirResampler(in_rate, out_rate, measure=False))


class SoxrResampler:
    """``soxr.ResampleStream`` made count-exact by a primed output FIFO.

    If libsoxr ever withholds more than the priming, zeros are emitted and
    counted in :attr:`shortfalls` (the alignment would then be off).
    """

    def __init__(
        self, in_rate: int, out_rate: int, quality: str = "hq", *, prime: int | None = None
    ) -> None:
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.up, self.down = _ratio(in_rate, out_rate)
        self.quality = quality
        self.kind = f"soxr-{quality}"
        self.prime = self._calibrate(64) if prime is None else prime
        self.shortfalls = 0
        self.reset()
        scratch = (
            SoxrResampler(in_rate, out_rate, quality, prime=self.prime) if prime is None else None
        )
        self.delay = measure_delay(scratch) if scratch is not None else float(self.prime)

    def _new_stream(self):
        import soxr

        return soxr.ResampleStream(
            self.in_rate, self.out_rate, 1, dtype="float32", quality=self.quality
        )

    def _calibrate(self, block: int) -> int:
        """Largest output shortfall seen on 0.5 s of noise in ``block``-sample pieces."""
        stream = self._new_stream()
        x = np.random.default_rng(0).standard_normal(self.in_rate // 2).astype(np.float32)
        worst, total_in, total_out = 0, 0, 0
        for i in range(0, x.shape[0], block):
            piece = x[i : i + block]
            total_in += piece.shape[0]
            total_out += stream.resample_chunk(piece).shape[0]
            worst = max(worst, expected_output(total_in, self.in_rate, self.out_rate) - total_out)
        return worst + 2

    def reset(self) -> None:
        """Back to a stream of zeros (re-primed)."""
        self._stream = self._new_stream()
        self._fifo = np.zeros(self.prime, dtype=np.float32)
        self._n_in = 0
        self._n_out = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Push ``(n,)`` samples; return exactly the count-exact number of outputs."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self._n_in += x.shape[0]
        fifo = np.concatenate([self._fifo, self._stream.resample_chunk(x)])
        want = expected_output(self._n_in, self.in_rate, self.out_rate) - self._n_out
        if fifo.shape[0] < want:
            self.shortfalls += 1
            fifo = np.concatenate([fifo, np.zeros(want - fifo.shape[0], np.float32)])
        self._fifo = fifo[want:]
        self._n_out += want
        return fifo[:want]


def make_resampler(in_rate: int, out_rate: int, quality: str = "fir"):
    """Create a count-exact streaming resampler; identity when the rates match."""
    if quality not in QUALITIES:
        raise ValueError(f"unknown resampler quality '{quality}'; choose one of {QUALITIES}")
    _ratio(in_rate, out_rate)
    if int(in_rate) == int(out_rate):
        return Identity(in_rate)
    if quality == "fir":
        return FirResampler(in_rate, out_rate)
    return SoxrResampler(in_rate, out_rate, quality.split("-", 1)[1])


def measure_delay(resampler, block: int = 97) -> float:
    """Delay in output samples of a *fresh* resampler, found with an impulse.

    The impulse sits at an input index whose ideal output position is an
    integer; the peak position (refined by a parabola through its
    neighbours) minus that ideal position is the delay. The resampler is
    left in a used state: pass a scratch instance.
    """
    up, down = _ratio(resampler.in_rate, resampler.out_rate)
    pos = down * max(1, -(-resampler.in_rate // (50 * down)))  # ~20 ms in, exact grid
    n = pos + resampler.in_rate // 4
    x = np.zeros(n, dtype=np.float32)
    x[pos] = 1.0
    y = np.concatenate([resampler.process(x[i : i + block]) for i in range(0, n, block)])
    k = int(np.argmax(y))
    frac = 0.0
    if 0 < k < y.shape[0] - 1:
        a, b, c = float(y[k - 1]), float(y[k]), float(y[k + 1])
        denom = a - 2 * b + c
        frac = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return k + frac - pos * up / down
