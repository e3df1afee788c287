"""Opus as a streaming stage: one frame per hop, latency = frame + lookahead.

With ``r`` the causal codec output (each frame encoded and decoded as it
arrives; ``r[n] ~ x[n - lookahead]``), step ``k`` returns ``r`` for samples
``k*F .. k*F + F - 1`` (F = frame size). The offline form runs a fresh codec
over the whole signal, followed by ``lookahead`` zeros, and drops the first
``lookahead`` samples, so that ``offline(x)[n] ~ x[n]``. libopus is
deterministic for the same frames from the same state, so the stream equals
the offline form delayed by ``F + lookahead`` (the codec's start-up
transient in ``r[:lookahead]``, before any input, is muted by a
:class:`StartGate`).

20 ms frames: 320 + 104 = 424 samples (26.5 ms); 10 ms: 264 (16.5 ms).
"""

from __future__ import annotations

import numpy as np

from engine.dsp.opus_codec import CODEC_BITRATE_BPS, OpusCodec, OpusConfig
from engine.dsp.start_gate import StartGate
from engine.stage import HopStage


class OpusStage(HopStage):
    """libopus round trip (encode -> packet -> decode) at a fixed bitrate and frame size."""

    def __init__(
        self,
        bitrate_bps: int = CODEC_BITRATE_BPS,
        frame_ms: int = 20,
        complexity: int = 10,
        application: str = "voip",
        vbr: bool = False,
    ) -> None:
        self.config = OpusConfig(bitrate_bps, frame_ms, complexity, application, vbr)
        super().__init__(self.config.frame_size)
        self.codec = OpusCodec(self.config)
        self.model_delay = self.codec.lookahead
        self._gate = StartGate(self.model_delay)
        self.name = f"opus@{bitrate_bps / 1000:g}"

    @property
    def bitrate_bps(self) -> int:
        """The configured bitrate (CBR: what is sent, up to whole bytes per frame)."""
        return self.config.bitrate_bps

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """Encode and decode one frame."""
        return self._gate(self.codec.roundtrip(hop_in))

    def reset_state(self) -> None:
        """OPUS_RESET_STATE on the encoder and decoder; mute the start-up again."""
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
        codec = OpusCodec(self.config)
        r = np.concatenate([codec.roundtrip(f) for f in xp.reshape(frames, frame)])
        return r[delay : delay + n]
