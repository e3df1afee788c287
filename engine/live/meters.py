"""Meters: accumulators the engine thread updates after every block.

Levels, waveforms, load and step times, folded in block by block without
allocating in steady state; what they hold goes out in the engine's
:class:`~engine.live.snapshot.Snapshot`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from engine.dsp.mix import gain_to_db
from engine.live.snapshot import Timing


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class StepTimer:
    """Last ``window`` step durations of one stage."""

    def __init__(self, window: int = 512) -> None:
        self._buf = np.zeros(window, np.float64)
        self._n = 0
        self._max = 0.0
        self._last = 0.0

    def add(self, seconds: float) -> None:
        """Record one step."""
        self._buf[self._n % self._buf.shape[0]] = seconds
        self._n += 1
        self._last = seconds
        self._max = max(self._max, seconds)

    def summary(self) -> Timing:
        """Last / median / p99 / max in ms."""
        recent = self._buf[: min(self._n, self._buf.shape[0])]
        if recent.shape[0] == 0:
            return Timing(0.0, 0.0, 0.0, 0.0, 0)
        med, p99 = np.percentile(recent, [50, 99])
        return Timing(1e3 * self._last, 1e3 * med, 1e3 * p99, 1e3 * self._max, self._n)


class LevelMeter:
    """Peak and RMS since the last :meth:`take` (one display frame)."""

    def __init__(self) -> None:
        self._peak = 0.0
        self._sq = 0.0
        self._n = 0

    def add(self, x: np.ndarray) -> None:
        """Fold in one block."""
        if x.shape[0]:
            self._peak = max(self._peak, float(np.max(np.abs(x))))
            self._sq += float(np.dot(x, x))
            self._n += x.shape[0]

    def take(self) -> tuple[float, float]:
        """``(peak_db, rms_db)`` then reset."""
        rms = math.sqrt(self._sq / self._n) if self._n else 0.0
        out = (gain_to_db(self._peak), gain_to_db(rms))
        self._peak, self._sq, self._n = 0.0, 0.0, 0
        return out


class WaveBuffer:
    """Recent waveform, one signed peak (largest magnitude) per ``decim`` samples."""

    def __init__(self, points: int, decim: int) -> None:
        self.decim = max(1, int(decim))
        self._ring = np.zeros(points, np.float32)
        self._pos = 0
        self._partial = np.zeros(0, np.float32)

    def add(self, x: np.ndarray) -> None:
        """Fold in one block."""
        x = np.concatenate([self._partial, x]) if self._partial.shape[0] else x
        whole = x.shape[0] // self.decim * self.decim
        if whole:
            frames = x[:whole].reshape(-1, self.decim)
            idx = np.argmax(np.abs(frames), axis=1)
            peaks = frames[np.arange(frames.shape[0]), idx][-self._ring.shape[0] :]
            size = self._ring.shape[0]
            self._ring[(self._pos + np.arange(peaks.shape[0])) % size] = peaks
            self._pos = (self._pos + peaks.shape[0]) % size
        self._partial = x[whole:].copy()

    def snapshot(self) -> np.ndarray:
        """Oldest to newest, read-only copy."""
        return _frozen(np.roll(self._ring, -self._pos).copy())


class LoadMeter:
    """Processing time over audio time, smoothed over about a second."""

    def __init__(self, rate: int, tau: float = 1.0) -> None:
        self.rate = rate
        self.tau = tau
        self.value = 0.0

    def add(self, busy_seconds: float, frames: int) -> None:
        """One block took ``busy_seconds`` for ``frames`` of audio."""
        if frames <= 0:
            return
        audio = frames / self.rate
        a = math.exp(-audio / self.tau)
        self.value = a * self.value + (1 - a) * busy_seconds / audio


class StreamMeters:
    """The engine's meters of one stream: levels, waveforms, load, step times, frames."""

    def __init__(self, rate: int, wave_seconds: float, wave_points: int) -> None:
        self.level_in, self.level_out = LevelMeter(), LevelMeter()
        decim = int(wave_seconds * rate / wave_points)
        self.wave_in = WaveBuffer(wave_points, decim)
        self.wave_out = WaveBuffer(wave_points, decim)
        self.load = LoadMeter(rate)
        self.timers: dict[str, StepTimer] = {"engine block": StepTimer()}
        self.frames = 0

    def add_block(
        self, x: np.ndarray, y: np.ndarray, busy: float, steps: Iterable[tuple[str, float]]
    ) -> None:
        """One block in (``x``) and out (``y``), the ``busy`` seconds it took, its stage steps."""
        self.level_in.add(x)
        self.level_out.add(y)
        self.wave_in.add(x)
        self.wave_out.add(y)
        self.load.add(busy, x.shape[0])
        self.timers["engine block"].add(busy)
        self.frames += x.shape[0]
        for label, seconds in steps:
            self.timers.setdefault(label, StepTimer()).add(seconds)

    def timings(self) -> dict[str, Timing]:
        """Step time summary of the whole block and of each stage."""
        return {k: t.summary() for k, t in self.timers.items()}
