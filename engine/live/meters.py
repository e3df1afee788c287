"""Engine metrics: accumulators on the engine thread, an immutable snapshot out.

The engine thread updates the accumulators after every block and publishes
a new :class:`Snapshot` a few dozen times a second by swapping one
reference; a front end reads the latest one whenever it likes (a size-1
"latest value" channel: nobody waits on anybody).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from engine.dsp.mix import gain_to_db
from engine.token_stats import TokenStats

SILENCE_DB = -120.0


@dataclass(frozen=True)
class Timing:
    """Processing time of one stage per step, in milliseconds."""

    last_ms: float
    median_ms: float
    p99_ms: float
    max_ms: float
    steps: int


@dataclass(frozen=True)
class Xruns:
    """Dropouts by cause (events, except ``*_frames``)."""

    input_overflow: int = 0  # PortAudio: input data lost before our callback
    output_underflow: int = 0  # PortAudio: output buffer not filled in time
    ring_overrun: int = 0  # input ring full: the engine fell seconds behind
    ring_underrun: int = 0  # output ring empty: the engine was late, silence played
    ring_underrun_frames: int = 0

    @property
    def total(self) -> int:
        """All dropout events."""
        return self.input_overflow + self.output_underflow + self.ring_overrun + self.ring_underrun

    def __add__(self, other: Xruns) -> Xruns:
        """Counts of two streams (or of a stream and those before it) together."""
        return Xruns(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Xruns)))


@dataclass(frozen=True)
class Latency:
    """Latency breakdown in milliseconds (algorithmic parts exact, device parts as reported)."""

    device_in_ms: float = 0.0
    device_out_ms: float = 0.0
    ring_ms: float = 0.0  # output prefill (one block + the safety margin), less stream skew
    resampler_ms: float = 0.0  # down + up resampling (and alignment padding)
    codec_ms: float = 0.0
    vocoder_ms: float = 0.0
    chain_ms: float = 0.0  # the aligned latency every tap is delayed to
    total_ms: float = 0.0  # device in + device out + ring + chain
    measured_ms: float | None = None  # last loopback measurement


@dataclass(frozen=True)
class Snapshot:
    """Everything a front end shows, at one instant. Arrays are read-only."""

    time: float = 0.0
    state: str = "stopped"  # stopped | starting | running | error
    error: str | None = None
    input_peak_db: float = SILENCE_DB
    input_rms_db: float = SILENCE_DB
    output_peak_db: float = SILENCE_DB
    output_rms_db: float = SILENCE_DB
    wave_in: np.ndarray = field(default_factory=lambda: _frozen(np.zeros(0, np.float32)))
    wave_out: np.ndarray = field(default_factory=lambda: _frozen(np.zeros(0, np.float32)))
    wave_seconds: float = 0.0
    timings: dict[str, Timing] = field(default_factory=dict)
    load: float = 0.0  # engine processing time / audio time
    xruns: Xruns = field(default_factory=Xruns)
    latency: Latency = field(default_factory=Latency)
    codec_bitrate_bps: float | None = None
    codec_tokens_per_s: float | None = None
    tokens: TokenStats | None = None  # what the running codec sends (usage, entropy)
    limiter_reduction_db: float | None = None  # safety limiter's gain reduction now
    heard_tap: str = "dry"
    settings: dict[str, Any] = field(default_factory=dict)
    frames: int = 0  # device frames processed since the stream started
    restarts: int = 0


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
