"""The sending end: a signal encoded frame by frame and sent over UDP, paced in real time.

Frame ``i`` is encoded and handed to the impairment simulator at ``t0 + i *
frame``; every copy the simulator lets through is sent at the delivery time
it chose (a heap of pending datagrams). A sender that falls behind its
schedule catches up without waiting and counts how far behind it was.
:class:`BlockSender` is the same end fed block by block by the live engine.
"""

from __future__ import annotations

import heapq
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.link.endpoints import LinkEncoder, make_encoder
from engine.link.framing import HEADER_SIZE
from engine.link.impairment import Impairment, ImpairmentConfig, ImpairmentStats
from engine.stage import SAMPLE_RATE

#: pending datagrams held back by simulated jitter, at most (the simulator allows 10 s)
MAX_PENDING = 1024


@dataclass
class SendReport:
    """What a sender did."""

    stream_id: int
    frames: int
    datagrams: int
    payload_bytes: int
    seconds: float
    max_behind_s: float
    impairment: ImpairmentStats
    audio_s: float

    @property
    def payload_bitrate_bps(self) -> float:
        """Bits of payload (codec or Opus packets, headers excluded) per second of audio."""
        return 8 * self.payload_bytes / self.audio_s if self.audio_s > 0 else float("nan")


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` for IPv6) -> ``(host, port)``; ValueError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got '{text}'")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if not 1 <= number <= 65535:
        raise ValueError(f"port must be 1..65535, got {number}")
    return host, number


def open_socket(host: str, port: int) -> tuple[socket.socket, tuple]:
    """A UDP socket for ``host:port`` and the address to send to."""
    family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    return socket.socket(family, socket.SOCK_DGRAM), addr


def send_signal(
    x: np.ndarray,
    encoder: LinkEncoder,
    to: tuple[str, int],
    impairment: ImpairmentConfig | None = None,
    stream_id: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SendReport:
    """Send 16 kHz mono ``x`` (followed by the encoder's own delay in zeros), in real time."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    frame = encoder.frame_samples
    frame_s = frame / SAMPLE_RATE
    frames = encoder.frames_for(len(x))
    padded = np.zeros(frames * frame, np.float32)
    padded[: len(x)] = x
    sim = Impairment(impairment or ImpairmentConfig(), frame_s)
    stream_id = secrets.randbits(32) if stream_id is None else stream_id
    sock, addr = open_socket(*to)
    pending: list[tuple[float, int, bytes]] = []
    counter = datagrams = payload = 0
    behind = 0.0

    def flush(until: float) -> None:
        nonlocal datagrams
        while pending and pending[0][0] <= until:
            _, _, data = heapq.heappop(pending)
            try:
                sock.sendto(data, addr)
            except OSError:  # nobody listening (ICMP refused) or a full buffer: a lost packet
                pass
            datagrams += 1

    def wait(until: float) -> None:
        while (now := clock()) < until:
            if pending and pending[0][0] <= now:
                flush(now)
                continue
            nxt = min(until, pending[0][0]) if pending else until
            time.sleep(max(0.0, nxt - now))
        flush(clock())

    try:
        t0 = clock()
        for i in range(frames):
            due = t0 + i * frame_s
            wait(due)
            behind = max(behind, clock() - due)
            fields = encoder.encode(padded[i * frame : (i + 1) * frame])
            data = encoder.format.pack(stream_id, i, i * frame, time.time_ns() // 1000, **fields)
            payload += len(data) - HEADER_SIZE
            for t in sim.schedule(due):
                heapq.heappush(pending, (t, counter, data))
                counter += 1
            flush(clock())
        while pending:
            wait(pending[0][0])
    finally:
        sock.close()
    return SendReport(
        stream_id=stream_id,
        frames=frames,
        datagrams=datagrams,
        payload_bytes=payload,
        seconds=clock() - t0,
        max_behind_s=behind,
        impairment=sim.stats,
        audio_s=frames * frame_s,
    )


class BlockSender:
    """The live engine's sending end: blocks of 16 kHz input in, datagrams out.

    The blocks are cut into frames; each is encoded, framed, passed through
    the impairment simulator and sent on a non-blocking socket when its
    delivery time comes (checked at every block).
    """

    def __init__(self, command, encoder: LinkEncoder, sock: socket.socket, addr) -> None:
        self.command, self.encoder, self.sock, self.addr = command, encoder, sock, addr
        self.frame = np.zeros(encoder.frame_samples, np.float32)
        self.frame_s = encoder.frame_samples / SAMPLE_RATE
        self.fill = 0
        self.stream_id = secrets.randbits(32)
        self.seq = self.datagrams = self.payload = self.lost_before = 0
        self.sim = Impairment(command.impairment(), self.frame_s)
        self.pending: list[tuple[float, int, bytes]] = []
        self.counter = 0

    def retune(self, command) -> None:
        """New impairment settings; the stream goes on."""
        self.command = command
        if command.impairment() != self.sim.config:
            self.lost_before += self.sim.stats.lost
            self.sim = Impairment(command.impairment(), self.frame_s)

    def feed(self, x16: np.ndarray, now: float) -> None:
        """One block at ``now`` (monotonic): its whole frames sent, what is due put on the wire."""
        pos, n, size = 0, x16.shape[0], self.frame.shape[0]
        while pos < n:
            take = min(size - self.fill, n - pos)
            self.frame[self.fill : self.fill + take] = x16[pos : pos + take]
            self.fill += take
            pos += take
            if self.fill == size:
                self.fill = 0
                self._send_frame(now - (n - pos) / SAMPLE_RATE)
        self._flush(now)

    def _send_frame(self, due: float) -> None:
        fields = self.encoder.encode(self.frame)
        seq = self.seq
        data = self.encoder.format.pack(
            self.stream_id, seq, seq * self.frame.shape[0], time.time_ns() // 1000, **fields
        )
        self.seq += 1
        self.payload += len(data) - HEADER_SIZE
        for t in self.sim.schedule(due):
            if len(self.pending) < MAX_PENDING:
                heapq.heappush(self.pending, (t, self.counter, data))
                self.counter += 1
        lost = self.sim.stats.lost_indices
        if len(lost) > 256:  # a live stream runs for hours: keep the count, not the list
            del lost[:]

    def _flush(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            _, _, data = heapq.heappop(self.pending)
            try:
                self.sock.sendto(data, self.addr)
            except OSError:  # nobody listening (ICMP refused) or a full buffer: a lost packet
                pass
            self.datagrams += 1

    def stats(self) -> dict:
        """The sending half of :class:`~engine.link.live.LinkStats`."""
        seconds = self.seq * self.frame_s
        return {
            "sending_to": self.command.to,
            "send_chain": self.command.chain,
            "sent": self.seq,
            "datagrams_out": self.datagrams,
            "simulated_lost": self.lost_before + self.sim.stats.lost,
            "payload_bps": 8 * self.payload / seconds if seconds else 0.0,
        }

    def close(self) -> None:
        """Release the socket."""
        self.sock.close()


def build_block_sender(command, codec_weights) -> BlockSender:
    """A :class:`BlockSender` for a ``LinkSend`` (loads the codec, resolves the peer)."""
    encoder = make_encoder(command.chain, codec_weights)
    sock, addr = open_socket(*parse_address(command.to))
    sock.setblocking(False)
    return BlockSender(command, encoder, sock, addr)
