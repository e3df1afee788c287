"""The receiver's logic without a socket: datagrams in (with their arrival time), frames out.

:class:`Playout` parses each datagram (:meth:`LinkFormat.parse`), follows
one stream id at a time, buffers packets in the :class:`JitterBuffer` and,
once per tick, decodes or conceals the frame that plays. The UDP receiver
(:mod:`engine.link.receiver`) and the in-process link simulation
(:mod:`engine.link.simulate`) both drive it.

It follows the first valid packet's stream id; packets of another stream id
are counted as ``stream`` rejects until the followed one has been silent for
``idle_s``, then the new one is followed.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from engine.link.endpoints import LinkDecoder
from engine.link.framing import LinkPacket, LinkPacketError, SeqUnwrapper
from engine.link.jitter_buffer import INSERTED, MISSING, PACKET, BufferStats, JitterBuffer
from engine.stage import SAMPLE_RATE

ONE_WAY_KEPT = 2048


@dataclass
class ReceiveStats:
    """What a receiver saw: datagrams, rejects by reason, the buffer's counts, latency."""

    datagrams: int = 0
    rejected: Counter = field(default_factory=Counter)
    buffer: BufferStats = field(default_factory=BufferStats)
    start_sample: int | None = None
    one_way_s: list[float] = field(default_factory=list)
    undecodable: int = 0
    fec_recovered: int = 0
    samples_written: int = 0

    @property
    def rejected_total(self) -> int:
        """Datagrams ignored for any reason."""
        return sum(self.rejected.values())


class Playout:
    """Datagrams in, one frame of audio per tick out (see the module docstring)."""

    def __init__(
        self,
        decoder: LinkDecoder,
        min_delay_s: float | None = None,
        max_delay_s: float = 0.5,
        adaptive: bool = True,
        idle_s: float = 1.0,
        shrink: bool = True,
    ) -> None:
        self.decoder = decoder
        self.format = decoder.format
        self.frame = decoder.frame_samples
        self.frame_s = self.frame / SAMPLE_RATE
        self.idle_s = idle_s
        self.buffer = JitterBuffer(
            self.frame_s, min_delay_s, max_delay_s, adaptive=adaptive, idle_s=idle_s, shrink=shrink
        )
        self.stats = ReceiveStats(buffer=self.buffer.stats)
        self.streams_started = 0
        self._stream_id: int | None = None
        self._last_valid = -np.inf
        self._unwrap = SeqUnwrapper()

    def handle(self, data: bytes, now: float, wall: float | None = None) -> None:
        """One datagram that arrived at ``now`` (``wall``: the wall clock, for one-way latency)."""
        self.stats.datagrams += 1
        try:
            packet = self.format.parse(data)
        except LinkPacketError as exc:
            self.stats.rejected[exc.reason] += 1
            return
        self.handle_packet(packet, now, wall)

    def handle_packet(self, packet: LinkPacket, now: float, wall: float | None = None) -> None:
        """One parsed packet (of this stream's format) that arrived at ``now``."""
        if packet.stream_id != self._stream_id:
            if self._stream_id is not None and now - self._last_valid <= self.idle_s:
                self.stats.rejected["stream"] += 1
                return
            self._stream_id = packet.stream_id
            self._unwrap.reset()
            if self.buffer.started or self.buffer.buffered:
                self.buffer.end_stream()
        self._last_valid = now
        wall = time.time() if wall is None else wall
        if packet.send_time_us:
            self.stats.one_way_s.append(wall - packet.send_time_us / 1e6)
        if len(self.stats.one_way_s) > 2 * ONE_WAY_KEPT:  # bounded: keep a recent sample
            del self.stats.one_way_s[:ONE_WAY_KEPT]
        self.buffer.push(self._unwrap(packet.seq), packet, now)

    def tick(self, now: float) -> np.ndarray:
        """The frame that plays at tick time ``now`` (silence while no stream plays)."""
        play = self.buffer.pop(now)
        self.last_kind, self.last_seq = play.kind, play.seq
        if self.buffer.stats.streams != self.streams_started:
            self.streams_started = self.buffer.stats.streams
            self.decoder.reset()
        if play.kind == PACKET:
            out = self.decoder.decode(play.item)
        elif play.kind == MISSING:
            out = self.decoder.conceal(self.buffer.peek(play.seq + 1))
        elif play.kind == INSERTED:
            out = self.decoder.conceal(None)
        else:
            return np.zeros(self.frame, np.float32)
        return np.asarray(out, np.float32)

    def finish(self, samples_written: int) -> ReceiveStats:
        """The stats, with the decoder's counts."""
        self.stats.samples_written = samples_written
        self.stats.undecodable = self.decoder.undecodable
        self.stats.fec_recovered = getattr(self.decoder, "fec_recovered", 0)
        return self.stats
