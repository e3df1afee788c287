"""The receiving end: a UDP socket, the jitter buffer, the decoder, one frame per tick.

The receiver binds to one address (by default 127.0.0.1, never all
interfaces unless asked), reads at most ``MAX_DATAGRAM + 1`` bytes of each
datagram and at most ``max_reads`` datagrams between two ticks, so a flood
costs bounded time and memory (the kernel's socket buffer drops the rest).
Each datagram is parsed by :meth:`LinkFormat.parse`; anything that is not a
packet of the expected kind and weights is counted by reason and ignored.
It follows one stream id at a time: the first valid packet's; packets of
another stream id are counted as ``stream`` rejects until the followed one
has been silent for ``idle_s``, then the new one is followed.

Its clock ticks once per frame from the moment it starts: each tick writes
one frame, what would be played: silence while no stream plays, else the
jitter buffer's frame decoded or concealed. A tick that is late (the
process was descheduled) is caught up at once, so the output keeps real
time.
"""

from __future__ import annotations

import select
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.link.endpoints import LinkDecoder
from engine.link.framing import MAX_DATAGRAM, LinkPacketError, SeqUnwrapper
from engine.link.jitter_buffer import INSERTED, MISSING, PACKET, BufferStats, JitterBuffer
from engine.stage import SAMPLE_RATE

DEFAULT_BIND = "127.0.0.1"
SOCKET_BUFFER_BYTES = 1 << 20


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


class LinkReceiver:
    """UDP in, audio frames out (see the module docstring)."""

    def __init__(
        self,
        decoder: LinkDecoder,
        port: int,
        bind: str = DEFAULT_BIND,
        min_delay_s: float | None = None,
        max_delay_s: float = 0.5,
        adaptive: bool = True,
        idle_s: float = 1.0,
        max_reads: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.decoder = decoder
        self.format = decoder.format
        self.frame = decoder.frame_samples
        self.frame_s = self.frame / SAMPLE_RATE
        self.idle_s = idle_s
        self.max_reads = max_reads
        self.clock = clock
        self.buffer = JitterBuffer(
            self.frame_s, min_delay_s, max_delay_s, adaptive=adaptive, idle_s=idle_s
        )
        self.stats = ReceiveStats(buffer=self.buffer.stats)
        self._stream_id: int | None = None
        self._last_valid = -np.inf
        self._unwrap = SeqUnwrapper()
        self._streams_started = 0
        family = socket.getaddrinfo(bind, port, type=socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(family[0], socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
        except OSError:
            pass
        self.sock.bind(family[4])
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()

    def close(self) -> None:
        """Release the socket."""
        self.sock.close()

    # -- datagrams ----------------------------------------------------------------------------

    def read_pending(self) -> None:
        """Take what the socket holds (at most ``max_reads`` datagrams)."""
        for _ in range(self.max_reads):
            try:
                data = self.sock.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP errors reported on the socket: nothing to read
                return
            self.handle(data, self.clock())

    def handle(self, data: bytes, now: float) -> None:
        """One datagram: parsed, checked against the followed stream, buffered."""
        self.stats.datagrams += 1
        try:
            packet = self.format.parse(data)
        except LinkPacketError as exc:
            self.stats.rejected[exc.reason] += 1
            return
        if packet.stream_id != self._stream_id:
            if self._stream_id is not None and now - self._last_valid <= self.idle_s:
                self.stats.rejected["stream"] += 1
                return
            self._stream_id = packet.stream_id
            self._unwrap.reset()
            if self.buffer.started or self.buffer.buffered:
                self.buffer.end_stream()
        self._last_valid = now
        self.stats.one_way_s.append(time.time() - packet.send_time_us / 1e6)
        if len(self.stats.one_way_s) > 4096:  # bounded: keep a recent sample
            del self.stats.one_way_s[:2048]
        self.buffer.push(self._unwrap(packet.seq), packet, now)

    # -- playout ------------------------------------------------------------------------------

    def tick(self, now: float) -> np.ndarray:
        """The frame that plays at tick time ``now``."""
        play = self.buffer.pop(now)
        if self.buffer.stats.streams != self._streams_started:
            self._streams_started = self.buffer.stats.streams
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

    def run(
        self,
        write: Callable[[np.ndarray], None],
        seconds: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> ReceiveStats:
        """Tick in real time, writing each frame, for ``seconds`` of output.

        Without ``seconds``: until a stream has played and ended (nothing for
        ``idle_s``) or ``stop()`` says so.
        """
        total = None if seconds is None else int(round(seconds * SAMPLE_RATE))
        t0 = self.clock()
        k = 0
        written = 0
        while total is None or written < total:
            now = self.clock()
            self.read_pending()
            while t0 + k * self.frame_s <= now and (total is None or written < total):
                frame = self.tick(t0 + k * self.frame_s)
                if self.stats.start_sample is None and self.buffer.started:
                    self.stats.start_sample = written
                if total is not None:
                    frame = frame[: total - written]
                write(frame)
                written += len(frame)
                k += 1
            if total is None and self._streams_started and not self.buffer.started:
                break
            if stop is not None and stop():
                break
            wait = t0 + k * self.frame_s - self.clock()
            if wait > 0:
                select.select([self.sock], [], [], wait)
        self.stats.samples_written = written
        self.stats.undecodable = self.decoder.undecodable
        self.stats.fec_recovered = getattr(self.decoder, "fec_recovered", 0)
        return self.stats
