"""Talking to the seed's streaming example over TCP (:mod:`engine.link.seed_protocol`).

- :class:`SeedSource`: streamvox as the seed's *client*: connects to a seed
  server and plays the windows it sends through the same playout as the
  UDP link (jitter buffer, concealment, one frame per tick). Each message
  is one overlap-save hop, numbered in arrival order (TCP loses and
  reorders nothing; a stalled connection is heard as concealed hops).
- :func:`serve_seed`: streamvox as the seed's *server*: waits for one seed
  client and sends it each hop's window indices, paced in real time.

Only the overlap-save codec fits: a seed message is a whole window's tokens.
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from engine.link.framing import KIND_CODEC_OAS, LinkPacket
from engine.link.playout import Playout
from engine.link.seed_protocol import MessageReader, SeedMessageError, read_indices, write_message
from engine.stage import SAMPLE_RATE

RECV_BYTES = 65536
CONNECT_TIMEOUT_S = 10.0


def _check_oas(stage) -> None:
    if stage.stream != "oas":
        raise ValueError("the seed protocol carries overlap-save windows: use a codec in oas mode")


class SeedSource:
    """A TCP connection to a seed server, as a receiver's source.

    A seed server may send a file faster than real time: the source reads
    the socket only while the jitter buffer has room (TCP's flow control
    then holds the server back) and the buffer's delay only grows.
    """

    shrink = False

    def __init__(self, host: str, port: int, stage, max_reads: int = 16) -> None:
        _check_oas(stage)
        cfg = stage.model.config
        self.codebooks, self.frames = cfg.n_codebooks, cfg.frames_per_window
        self.codebook_size = cfg.codebook_size
        self.hop = stage.hop
        self.sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        self.sock.setblocking(False)
        self.address = self.sock.getpeername()
        self.reader = MessageReader()
        self.pending: deque[bytes] = deque()
        self.max_reads = max_reads
        self.messages = 0
        self.closed = False

    def read_pending(self, playout: Playout, clock: Callable[[], float]) -> None:
        """Hand the complete messages received so far to ``playout`` (refusals counted)."""
        room = playout.buffer.capacity - 2
        for _ in range(self.max_reads):
            while self.pending and playout.buffer.buffered < room:
                self._handle(self.pending.popleft(), playout, clock())
            if self.pending or self.closed:
                return
            try:
                data = self.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:  # the server closed the connection
                self.close()
                return
            try:
                bodies = self.reader.feed(data)
            except SeedMessageError as exc:  # framing lost: nothing after it can be trusted
                playout.stats.rejected[f"seed {exc.reason}"] += 1
                self.close()
                return
            self.pending.extend(bodies)

    def _handle(self, body: bytes, playout: Playout, now: float) -> None:
        playout.stats.datagrams += 1
        try:
            codes = read_indices(body, self.codebooks, self.frames, self.codebook_size)
        except SeedMessageError as exc:
            playout.stats.rejected[f"seed {exc.reason}"] += 1
            return
        i = self.messages
        self.messages += 1
        packet = LinkPacket(
            KIND_CODEC_OAS, 0, i * self.hop, 0, i % 65536, tokens=codes.T.reshape(-1)
        )
        playout.handle_packet(packet, now)

    def wait(self, seconds: float) -> None:
        """Sleep until bytes arrive or ``seconds`` pass."""
        if self.closed or self.pending:
            time.sleep(seconds)
        else:
            select.select([self.sock], [], [], seconds)

    def close(self) -> None:
        """Close the connection."""
        if not self.closed:
            self.closed = True
            self.sock.close()


def serve_seed(
    x: np.ndarray,
    stage,
    bind: str,
    port: int,
    on_listening: Callable[[tuple], None] | None = None,
    accept_timeout_s: float = 120.0,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Wait for one seed client on ``bind:port``; send it ``x`` hop by hop in real time.

    Returns the number of messages sent (fewer if the client went away).
    """
    _check_oas(stage)
    x = np.asarray(x, np.float32).reshape(-1)
    hop = stage.hop
    hops = -(-(len(x) + stage.model_delay) // hop)
    padded = np.zeros(hops * hop, np.float32)
    padded[: len(x)] = x
    family = socket.getaddrinfo(bind, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family[0], socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(family[4])
        server.listen(1)
        server.settimeout(accept_timeout_s)
        if on_listening is not None:
            on_listening(server.getsockname())
        conn, _ = server.accept()
    stage.reset()
    sent = 0
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = clock()
        for i in range(hops):
            delay = t0 + i * hop / SAMPLE_RATE - clock()
            if delay > 0:
                time.sleep(delay)
            codes = stage.encode_hop(padded[i * hop : (i + 1) * hop])
            try:
                conn.sendall(write_message(codes))
            except OSError:  # the client went away
                break
            sent += 1
    return sent
