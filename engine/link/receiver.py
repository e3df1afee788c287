"""The receiving end: a UDP socket feeding a :class:`~engine.link.playout.Playout`, per tick.

The receiver binds to one address (by default 127.0.0.1, never all
interfaces unless asked), reads at most ``MAX_DATAGRAM + 1`` bytes of each
datagram and at most ``max_reads`` datagrams between two ticks, so a flood
costs bounded time and memory (the kernel's socket buffer drops the rest).
What is not a packet of the expected kind, weights and stream is counted by
reason and ignored (:mod:`engine.link.playout`).

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
from collections.abc import Callable

import numpy as np

from engine.link.endpoints import LinkDecoder
from engine.link.framing import MAX_DATAGRAM
from engine.link.playout import Playout, ReceiveStats
from engine.stage import SAMPLE_RATE

DEFAULT_BIND = "127.0.0.1"
SOCKET_BUFFER_BYTES = 1 << 20


class UdpSource:
    """The link's own transport: datagrams on one bound UDP socket."""

    def __init__(self, port: int, bind: str = DEFAULT_BIND, max_reads: int = 256) -> None:
        family = socket.getaddrinfo(bind, port, type=socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(family[0], socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
        except OSError:
            pass
        self.sock.bind(family[4])
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()
        self.max_reads = max_reads

    def read_pending(self, playout: Playout, clock: Callable[[], float]) -> None:
        """Hand what the socket holds (at most ``max_reads`` datagrams) to ``playout``."""
        for _ in range(self.max_reads):
            try:
                data = self.sock.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP errors reported on the socket: nothing to read
                return
            playout.handle(data, clock())

    def wait(self, seconds: float) -> None:
        """Sleep until a datagram arrives or ``seconds`` pass."""
        select.select([self.sock], [], [], seconds)

    def close(self) -> None:
        """Release the socket."""
        self.sock.close()


class LinkReceiver:
    """A source (UDP, or the seed's TCP) in, audio frames out (see the module docstring)."""

    def __init__(
        self,
        decoder: LinkDecoder,
        source,
        min_delay_s: float | None = None,
        max_delay_s: float = 0.5,
        adaptive: bool = True,
        idle_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        shrink = getattr(source, "shrink", True)
        self.playout = Playout(decoder, min_delay_s, max_delay_s, adaptive, idle_s, shrink)
        self.decoder = decoder
        self.source = source
        self.frame = decoder.frame_samples
        self.frame_s = self.frame / SAMPLE_RATE
        self.clock = clock

    @property
    def stats(self) -> ReceiveStats:
        """What the receiver has seen so far."""
        return self.playout.stats

    def close(self) -> None:
        """Release the source."""
        self.source.close()

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
        playout = self.playout
        total = None if seconds is None else int(round(seconds * SAMPLE_RATE))
        t0 = self.clock()
        k = 0
        written = 0
        while total is None or written < total:
            now = self.clock()
            self.source.read_pending(playout, self.clock)
            while t0 + k * self.frame_s <= now and (total is None or written < total):
                frame = playout.tick(t0 + k * self.frame_s)
                if playout.stats.start_sample is None and playout.buffer.started:
                    playout.stats.start_sample = written
                if total is not None:
                    frame = frame[: total - written]
                write(frame)
                written += len(frame)
                k += 1
            if total is None and playout.streams_started and not playout.buffer.started:
                break
            if stop is not None and stop():
                break
            wait = t0 + k * self.frame_s - self.clock()
            if wait > 0:
                self.source.wait(wait)
        return playout.finish(written)
