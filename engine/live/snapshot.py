"""What the engine publishes: one immutable :class:`Snapshot`, a few dozen times a second.

The engine thread builds a new snapshot from its meters and swaps one
reference; a front end reads the latest one whenever it likes (a size-1
"latest value" channel: nobody waits on anybody). Everything in it is
read-only: frozen dataclasses, tuples, arrays with ``writeable=False``.
:class:`Status` says what the engine is set to and what it runs, typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from engine.chain import DEFAULT_CHUNK
from engine.link.live import LinkStats
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
class Status:
    """What the engine is set to and what it runs, at one instant.

    The mix and the chunk are always known; the rest is None until what it
    describes exists: the stages (built), what ``Start`` asked for, and the
    stream that opened (``device_block``: JACK runs at its own period,
    whatever block was asked).
    """

    # the mix (see engine.live.processor.MixSettings)
    slot_a: str = "dry"
    slot_b: str = "codec+vocoder"
    selected: str = "B"
    bypass: tuple[str, ...] = ()
    master_bypass: bool = False
    input_gain_db: float = 0.0
    output_gain_db: float = 0.0
    mute: bool = False
    loudness_match: bool = False
    chunk: int = DEFAULT_CHUNK
    resampler: str = "fir"
    # the stages
    generation: int | None = None
    vocoder_frame_ms: float | None = None
    taps_running: tuple[str, ...] | None = None  # the slots' taps after bypasses
    codec_weights: str | None = None  # a path, or "bundled"
    vocoder_weights: str | None = None
    # what Start asked for
    chain: str | None = None
    block: int | None = None
    adaptive: bool | None = None
    # the stream that opened
    margin_ms: float | None = None
    drift_dropped_frames: int | None = None
    rate: int | None = None
    device_block: int | None = None
    input_device: str | None = None
    output_device: str | None = None
    duplex: bool | None = None
    in_channels: int | None = None
    out_channels: int | None = None


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
    status: Status = field(default_factory=lambda: Status())
    frames: int = 0  # device frames processed since the stream started
    restarts: int = 0
    link: LinkStats | None = None  # the codec link's ends (None: off)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a
