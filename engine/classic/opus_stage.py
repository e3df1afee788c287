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

from engine.classic.framed_stage import FramedCodecStage
from engine.dsp.opus_codec import CODEC_BITRATE_BPS, OpusCodec, OpusConfig


class OpusStage(FramedCodecStage):
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
        config = self.config
        super().__init__(lambda: OpusCodec(config), f"opus@{bitrate_bps / 1000:g}")

    @property
    def bitrate_bps(self) -> int:
        """The configured bitrate (CBR: what is sent, up to whole bytes per frame)."""
        return self.config.bitrate_bps
