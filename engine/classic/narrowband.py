"""16 kHz <-> 8 kHz by 2 with one linear-phase FIR, streamable sample-exactly.

G.711 is a narrowband (8 kHz, 300-3400 Hz) codec; its 64 kbit/s is 8 bits
at 8 kHz. To run it honestly inside a 16 kHz chain the signal is low-passed
and decimated by 2, coded, then zero-stuffed and low-passed again. Both
filters are the same causal FIR of ``TAPS`` taps (flat to 3.4 kHz within
0.1 dB, at least 60 dB down from 4 kHz), each delays by ``GROUP_DELAY``
samples, so the round trip delays by ``2 * GROUP_DELAY`` (6 ms).

:class:`CausalFir` computes the filter hop by hop with the last ``TAPS - 1``
inputs as history; its output is the same, value for value, as
:func:`fir` on the whole signal, because each output sample is the same
float64 dot product in the same order.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from scipy import signal

if TYPE_CHECKING:
    from engine.classic.framed_stage import FrameCodec

TAPS = 97
GROUP_DELAY = (TAPS - 1) // 2  # 48 samples at 16 kHz
CUTOFF_HZ = 3650.0
KAISER_BETA = 5.65
ROUND_TRIP_DELAY = 2 * GROUP_DELAY


@lru_cache(maxsize=1)
def lowpass() -> np.ndarray:
    """The anti-alias / anti-image FIR at 16 kHz, shape ``(TAPS,)`` float64, DC gain 1."""
    h = signal.firwin(TAPS, CUTOFF_HZ, fs=16_000, window=("kaiser", KAISER_BETA))
    h.setflags(write=False)
    return h


def fir(x_with_history: np.ndarray) -> np.ndarray:
    """Causal FIR on ``(TAPS - 1 + n,)`` samples -> ``(n,)`` outputs (float64)."""
    return np.convolve(np.asarray(x_with_history, np.float64), lowpass(), mode="valid")


class CausalFir:
    """Hop-by-hop form of :func:`fir` that keeps ``TAPS - 1`` samples of history."""

    def __init__(self) -> None:
        self._hist = np.zeros(TAPS - 1, dtype=np.float64)

    def reset(self) -> None:
        """Forget the history (the zeros before a stream)."""
        self._hist.fill(0.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter the next ``(n,)`` samples; returns ``(n,)`` float64."""
        buf = np.concatenate([self._hist, np.asarray(x, np.float64)])
        self._hist[:] = buf[-(TAPS - 1) :]
        return fir(buf)


def decimate_phase0(filtered: np.ndarray) -> np.ndarray:
    """Keep the even samples of a filtered 16 kHz signal: ``(2m,)`` -> ``(m,)``."""
    return filtered[0::2]


def zero_stuff(x8k: np.ndarray) -> np.ndarray:
    """Upsample by 2 before the anti-image filter: ``(m,)`` -> ``(2m,)``, gain 2."""
    up = np.zeros(2 * len(x8k), dtype=np.float64)
    up[0::2] = 2.0 * np.asarray(x8k, np.float64)
    return up


class NarrowbandFrames:
    """An 8 kHz frame codec run on 16 kHz frames: decimate, code, interpolate.

    The same filters as G.711's narrowband path, so the round trip lags by
    the codec's delay (doubled, at 16 kHz) plus :data:`ROUND_TRIP_DELAY`.
    """

    def __init__(self, codec: FrameCodec) -> None:
        self.codec = codec
        self.frame_size = 2 * codec.frame_size
        self.delay = 2 * codec.delay + ROUND_TRIP_DELAY
        self._down = CausalFir()
        self._up = CausalFir()

    @property
    def bitrate_bps(self) -> float:
        """The 8 kHz codec's rate."""
        return self.codec.bitrate_bps

    def roundtrip(self, frame: np.ndarray) -> np.ndarray:
        """One ``(frame_size,)`` 16 kHz frame through the codec at 8 kHz."""
        coded = self.codec.roundtrip(decimate_phase0(self._down(frame)).astype(np.float32))
        return self._up(zero_stuff(coded)).astype(np.float32)

    def reset(self) -> None:
        """Fresh codec and filter histories."""
        self.codec.reset()
        self._down.reset()
        self._up.reset()
