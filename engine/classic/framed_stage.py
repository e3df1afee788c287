"""A frame codec (AMR-WB, Speex, Codec 2 ...) as a streaming stage: one frame per hop.

The Opus stage's construction, for any codec object that codes a frame at a
time (:class:`FrameCodec`). With ``r`` the causal codec output (each frame
encoded and decoded as it arrives; ``r[n] ~ x[n - delay]``), step ``k``
returns ``r`` for samples ``k*F .. k*F + F - 1`` (F = frame size). The
offline form runs a fresh codec over the whole signal followed by ``delay``
zeros and drops the first ``delay`` samples, so that ``offline(x)[n] ~ x[n]``.
The native codecs are deterministic for the same frames from the same state,
so the stream equals the offline form delayed by ``F + delay`` (the start-up
output before any input, ``r[:delay]``, is muted by a :class:`StartGate`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from engine.dsp.start_gate import StartGate
from engine.stage import HopStage


class FrameCodec(Protocol):
    """``frame_size`` samples in, as many out, lagging by ``delay``; ``bitrate_bps`` sent."""

    frame_size: int
    delay: int

    @property
    def bitrate_bps(self) -> float: ...

    def roundtrip(self, frame: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


class FramedCodecStage(HopStage):
    """A frame codec's round trip (encode -> bits -> decode) behind the hop FIFO."""

    def __init__(self, make_codec: Callable[[], FrameCodec], name: str) -> None:
        self._make_codec = make_codec
        self.codec = make_codec()
        super().__init__(self.codec.frame_size)
        self.model_delay = self.codec.delay
        self._gate = StartGate(self.model_delay)
        self.name = name

    @property
    def bitrate_bps(self) -> float:
        """The codec's true rate: the bits its decoder reads per second."""
        return self.codec.bitrate_bps

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """Encode and decode one frame."""
        return self._gate(self.codec.roundtrip(hop_in))

    def reset_state(self) -> None:
        """Fresh codec state; mute the start-up again."""
        self.codec.reset()
        self._gate.reset()

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole-signal round trip with a fresh codec, aligned with ``x``."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        n = x.shape[0]
        frame, delay = self.hop, self.model_delay
        frames = -(-(n + delay) // frame)
        xp = np.zeros(frames * frame, dtype=np.float32)
        xp[:n] = x
        codec = self._make_codec()
        r = np.concatenate([codec.roundtrip(f) for f in xp.reshape(frames, frame)])
        return r[delay : delay + n]
