"""The sending end: a signal encoded frame by frame and sent over UDP, paced in real time.

Frame ``i`` is encoded and handed to the impairment simulator at ``t0 + i *
frame``; every copy the simulator lets through is sent at the delivery time
it chose (a heap of pending datagrams). A sender that falls behind its
schedule catches up without waiting and counts how far behind it was.
"""

from __future__ import annotations

import heapq
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.link.endpoints import LinkEncoder
from engine.link.framing import HEADER_SIZE
from engine.link.impairment import Impairment, ImpairmentConfig, ImpairmentStats
from engine.stage import SAMPLE_RATE


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
