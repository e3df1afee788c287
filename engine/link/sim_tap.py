"""A/B taps over a simulated link: the live input through a chain, the impairment and a playout.

``simlink@codec`` and ``simlink@opus`` (at the codec's own bitrate) send
each frame of the tap's input through what ``streamvox link send`` and
``receive`` run (encoder, datagram, the seeded impairment simulator, a
:class:`Playout` with its jitter buffer and concealment), on a clock of
their own: frame ``k`` is sent at ``k`` frames and the playout ticks half a
frame later, so no socket and no wall clock is involved and the result
repeats.

The jitter buffer's delay is fixed (``FIXED_DELAY_S`` rounded up to whole
frames, no adaptation), so each tap's latency is constant and the engine
keeps the two taps time-aligned: a packet later than that is concealed and
counted late. The stream's first packet is delivered unimpaired: it starts
the playout, and with it the fixed delay. The impairment comes from a
callable, read every frame: moving a slider retunes both taps at once.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable

import numpy as np

from engine.link.endpoints import CodecDecoder, CodecEncoder, OpusDecoder, OpusEncoder
from engine.link.impairment import Impairment, ImpairmentConfig
from engine.link.playout import Playout
from engine.stage import SAMPLE_RATE, HopStage

SIM_CHAINS = ("codec", "opus")
#: the taps' jitter buffer delay: jitter and reordering beyond it is heard as loss
FIXED_DELAY_S = 0.1
#: never "ended": a long loss burst must not restart the playout (and move the tap)
NEVER_IDLE_S = 1e9


def codec_bitrate_bps(codec_weights=None) -> int:
    """What the codec's decoder receives per second, in its own stream mode (9333 bundled)."""
    from engine.chain import load_codec_model
    from engine.models.codec.stage import CodecStage

    return round(CodecStage(load_codec_model(codec_weights), precision="reference").bitrate_bps)


def sim_ends(chain: str, codec_weights=None, opus_bps: int | None = None):
    """``(encoder, decoder)`` of ``chain`` (the codec's two halves share one model).

    Opus runs at ``opus_bps``, by default the codec's own rate: a fair comparison.
    """
    if chain == "opus":
        bps = codec_bitrate_bps(codec_weights) if opus_bps is None else opus_bps
        return OpusEncoder(bps), OpusDecoder(bps)
    if chain != "codec":
        raise ValueError(f"a simulated link carries one of {', '.join(SIM_CHAINS)}, not '{chain}'")
    from engine.chain import load_codec_model
    from engine.models.codec.stage import CodecStage

    model = load_codec_model(codec_weights)
    encoder = CodecEncoder(CodecStage(model, precision="fp32"))
    return encoder, CodecDecoder(CodecStage(model, precision="fp32"))


class SimLinkStage(HopStage):
    """The tap ``simlink@CHAIN`` (see the module docstring)."""

    def __init__(
        self,
        chain: str,
        impairment: Callable[[], ImpairmentConfig],
        codec_weights=None,
        delay_s: float = FIXED_DELAY_S,
        opus_bps: int | None = None,
    ) -> None:
        self.encoder, self.decoder = sim_ends(chain, codec_weights, opus_bps)
        super().__init__(self.encoder.frame_samples)
        self.name = f"simlink@{chain}"
        self.frame_s = self.hop / SAMPLE_RATE
        self.delay_frames = max(1, math.ceil(delay_s / self.frame_s - 1e-9))
        self.model_delay = self.delay_frames * self.hop + self.decoder.delay
        self._impairment = impairment
        self.last_step = -math.inf  # monotonic time of the last step (is the tap running?)
        self.reset_state()

    def reset_state(self) -> None:
        """A new stream: fresh coders, playout and impairment (the same seed, the same losses)."""
        codec = getattr(self.encoder, "stage", None) or self.encoder.codec
        codec.reset()
        self.decoder.reset()
        delay = self.delay_frames * self.frame_s
        self.playout = Playout(self.decoder, delay, max(delay, 0.5), False, NEVER_IDLE_S)
        self._k = 0
        self._events: list[tuple[float, int, bytes]] = []
        self._config: ImpairmentConfig | None = None
        self._sim: Impairment | None = None
        self.simulated_lost = 0

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """Send this frame, deliver what has arrived by now, play one frame."""
        k, self._k = self._k, self._k + 1
        self.last_step = time.monotonic()
        sent = k * self.frame_s
        fields = self.encoder.encode(hop_in)
        data = self.encoder.format.pack(1, k, k * self.hop, 0, **fields)
        times = [sent] if k == 0 else self._impaired().schedule(sent)
        for t in times:
            heapq.heappush(self._events, (t, k, data))
        now = (k + 0.5) * self.frame_s
        while self._events and self._events[0][0] <= now:
            t, _, packet = heapq.heappop(self._events)
            self.playout.handle(packet, t, wall=0.0)
        return self.playout.tick(now)

    def _impaired(self) -> Impairment:
        config = self._impairment()
        if config != self._config:  # retuned: the counts go on
            if self._sim is not None:
                self.simulated_lost += self._sim.stats.lost
            self._config, self._sim = config, Impairment(config, self.frame_s)
        stats = self._sim.stats
        if len(stats.lost_indices) > 256:  # a live tap runs for hours
            del stats.lost_indices[:]
        return self._sim

    @property
    def frames(self) -> int:
        """Frames sent since the reset."""
        return self._k

    @property
    def lost_so_far(self) -> int:
        """Packets the simulator has lost since the reset."""
        return self.simulated_lost + (self._sim.stats.lost if self._sim is not None else 0)

    def offline(self, x: np.ndarray) -> np.ndarray:
        """No offline form: it plays the live input (``streamvox link measure`` scores this)."""
        raise ValueError("the simulated link taps play only live")
