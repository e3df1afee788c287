"""Typed commands from a front end (GUI, CLI, tests) to the engine thread.

Each command is a small frozen dataclass, validated when it is built so a
bad value fails in the caller, not in the audio path. The engine applies
them in order at block boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.audio.stream import StreamSpec
from engine.live.processor import SLOTS
from engine.live.taps import STAGE_KINDS, check_tap
from engine.stage import DEFAULT_CHUNK, check_chunk


@dataclass(frozen=True)
class Start:
    """Open the devices and run (restarts if already running).

    ``chain`` is what slot B holds unless an ``AssignTap`` put something there.
    """

    stream: StreamSpec = field(default_factory=StreamSpec)
    chain: str = "codec,vocoder"
    chunk: int = DEFAULT_CHUNK
    # Output prefill beyond one block: the engine's time budget per block. None:
    # from the stages' measured step time (see Engine); with ``adaptive`` it
    # also grows after an output underrun (never shrinks while running).
    margin_ms: float | None = None
    adaptive: bool = True

    def __post_init__(self) -> None:
        from engine.chain import parse_chain

        parse_chain(self.chain)
        check_chunk(self.chunk)
        if self.margin_ms is not None and not 0.0 <= self.margin_ms <= 500.0:
            raise ValueError(f"margin_ms must be 0..500, got {self.margin_ms}")


@dataclass(frozen=True)
class Stop:
    """Close the devices; the engine stays ready for another Start."""


@dataclass(frozen=True)
class SelectSlot:
    """Listen to slot A or B."""

    slot: str

    def __post_init__(self) -> None:
        if self.slot not in SLOTS:
            raise ValueError(f"slot must be one of {SLOTS}, got {self.slot!r}")


@dataclass(frozen=True)
class AssignTap:
    """Put a tap on slot A or B: any chain (dry, codec, vocoder, codec+vocoder, opus@12, ...).

    The tap is kept by its canonical name (``opus@9.3`` -> ``opus@9.3/20ms``),
    the name the snapshot reports.
    """

    slot: str
    tap: str

    def __post_init__(self) -> None:
        if self.slot not in SLOTS:
            raise ValueError(f"slot must be one of {SLOTS}, got {self.slot!r}")
        object.__setattr__(self, "tap", check_tap(self.tap))


@dataclass(frozen=True)
class SetBypass:
    """Bypass (or restore) one stage kind."""

    stage: str
    on: bool

    def __post_init__(self) -> None:
        if self.stage not in STAGE_KINDS:
            raise ValueError(f"stage must be one of {STAGE_KINDS}, got {self.stage!r}")


@dataclass(frozen=True)
class SetMasterBypass:
    """Hear the (latency-aligned) dry signal whatever is selected."""

    on: bool


@dataclass(frozen=True)
class SetChunk:
    """Vocoder chunk size in mel frames (``MIN_CHUNK..MAX_CHUNK``); rebuilds and crossfades live."""

    chunk: int

    def __post_init__(self) -> None:
        check_chunk(self.chunk)


@dataclass(frozen=True)
class SetGain:
    """Input or output gain in dB."""

    which: str
    db: float

    def __post_init__(self) -> None:
        if self.which not in ("input", "output"):
            raise ValueError(f"which must be 'input' or 'output', got {self.which!r}")
        if not -60.0 <= self.db <= 24.0:
            raise ValueError(f"gain must be within -60..24 dB, got {self.db}")


@dataclass(frozen=True)
class SetMute:
    """Mute the output (ramped, no click)."""

    on: bool


@dataclass(frozen=True)
class SetLoudnessMatch:
    """Match each wet tap's loudness to the dry signal."""

    on: bool


@dataclass(frozen=True)
class SwapWeights:
    """Load other weights (None keeps the current file) and crossfade to them."""

    codec: str | None = None
    vocoder: str | None = None


@dataclass(frozen=True)
class Capture:
    """Record ``seconds`` of raw input and final output (see ``Engine.capture``)."""

    seconds: float

    def __post_init__(self) -> None:
        if not 0.0 < self.seconds <= 120.0:
            raise ValueError(f"capture length must be in (0, 120] s, got {self.seconds}")


@dataclass(frozen=True)
class Measure:
    """Loopback latency measurement (see ``engine.live.loopback``).

    ``probe`` (device rate, mono) replaces the input of the chain once while
    ``seconds`` of raw input are recorded to find it again.
    """

    probe: np.ndarray = field(compare=False, repr=False)
    seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.probe.ndim != 1 or self.probe.shape[0] == 0:
            raise ValueError("probe must be a non-empty 1-D array")
        if not 0.0 < self.seconds <= 10.0:
            raise ValueError(f"recording length must be in (0, 10] s, got {self.seconds}")


@dataclass(frozen=True)
class LinkSend:
    """Send the live 16 kHz input to ``to`` (``HOST:PORT``) over the codec link; None stops.

    The impairment (percentages, ms) applies on the way out; changing only it
    keeps the stream (same stream id, sequence numbers go on).
    """

    to: str | None = None
    chain: str = "codec"
    loss_pct: float = 0.0
    burst: float = 1.0
    jitter_ms: float = 0.0
    reorder_pct: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        from engine.link.endpoints import SEND_CHAINS
        from engine.link.sender import parse_address

        if self.to is not None:
            parse_address(self.to)
        if self.chain not in SEND_CHAINS:
            raise ValueError(f"a link sends one of {', '.join(SEND_CHAINS)}, not '{self.chain}'")
        self.impairment()  # validates

    def impairment(self):
        """The :class:`~engine.link.impairment.ImpairmentConfig` these settings make."""
        from engine.link.impairment import ImpairmentConfig

        return ImpairmentConfig(
            loss=self.loss_pct / 100.0,
            burst=self.burst,
            jitter_s=self.jitter_ms / 1000.0,
            reorder=self.reorder_pct / 100.0,
            seed=self.seed,
        )


@dataclass(frozen=True)
class LinkListen:
    """Receive the codec link on ``bind:port`` (0: any free port) for the ``link`` tap; None stops.

    ``chain`` is what the peer sends (``codec`` or ``opus``); packets of the
    other kind are rejected and counted.
    """

    port: int | None = None
    bind: str = "127.0.0.1"
    chain: str = "codec"

    def __post_init__(self) -> None:
        from engine.link.endpoints import SEND_CHAINS

        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535 (0: any free port), got {self.port}")
        if self.chain not in SEND_CHAINS:
            raise ValueError(f"a link carries one of {', '.join(SEND_CHAINS)}, not '{self.chain}'")


Command = (
    Start | Stop | SelectSlot | AssignTap | SetBypass | SetMasterBypass | SetChunk | SetGain
    | SetMute | SetLoudnessMatch | SwapWeights | Capture | Measure | LinkSend | LinkListen
)  # fmt: skip
