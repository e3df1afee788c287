"""The whole link in one process on a simulated clock: for measuring, not for talking.

:func:`simulate_link` runs a signal through exactly what ``streamvox link
send`` and ``receive`` run (encoder, datagrams, the impairment simulator,
the receiver's :class:`~engine.link.playout.Playout` with its jitter buffer
and concealment), with the deliveries and ticks ordered on a made-up clock,
so it takes the codec's compute time, not the signal's duration, and the
same seed gives the same result.

Its result is the played signal twice: as played (``played``, with the
frames the jitter buffer inserted and without those it skipped) and
re-aligned with the input (``aligned``: each frame at its sequence number's
place, inserted frames dropped, skipped ones silent), which is what quality
metrics compare with the input; the buffer's delay is reported apart.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from engine.link.endpoints import LinkDecoder, LinkEncoder
from engine.link.impairment import Impairment, ImpairmentConfig, ImpairmentStats
from engine.link.jitter_buffer import INSERTED, MISSING, PACKET
from engine.link.playout import Playout, ReceiveStats
from engine.stage import SAMPLE_RATE

#: ticks fall between frame boundaries, as a receiver's clock does (its own phase)
TICK_PHASE = 0.37


@dataclass
class SimulatedLink:
    """What :func:`simulate_link` returns (see the module docstring)."""

    played: np.ndarray
    aligned: np.ndarray
    stats: ReceiveStats
    impairment: ImpairmentStats
    mean_delay_s: float


def simulate_link(
    x: np.ndarray,
    encoder: LinkEncoder,
    decoder: LinkDecoder,
    impairment: ImpairmentConfig | None = None,
    min_delay_s: float | None = None,
    adaptive: bool = True,
    network_delay_s: float = 0.001,
) -> SimulatedLink:
    """Send 16 kHz mono ``x`` through a simulated link; ``decoder`` must fit ``encoder``."""
    x = np.asarray(x, np.float32).reshape(-1)
    frame = encoder.frame_samples
    frame_s = frame / SAMPLE_RATE
    frames = encoder.frames_for(len(x))
    padded = np.zeros(frames * frame, np.float32)
    padded[: len(x)] = x
    sim = Impairment(impairment or ImpairmentConfig(), frame_s)
    events: list[tuple[float, int, bytes]] = []
    for i in range(frames):
        data = encoder.format.pack(
            1, i, i * frame, 0, **encoder.encode(padded[i * frame :][:frame])
        )
        for t in sim.schedule(i * frame_s):
            heapq.heappush(events, (t + network_delay_s, len(events), data))
    playout = Playout(decoder, min_delay_s, adaptive=adaptive)
    played: list[np.ndarray] = []
    timeline: list[np.ndarray] = []  # from the first frame on, inserted frames out, skips silent
    delays = []
    previous = None
    k = 0
    while events or playout.buffer.started or not playout.streams_started:
        now = (k + TICK_PHASE) * frame_s
        while events and events[0][0] <= now:
            t, _, data = heapq.heappop(events)
            playout.handle(data, t, wall=0.0)
        out = playout.tick(now)
        played.append(out)
        if playout.last_kind in (PACKET, MISSING):
            if previous is not None:
                timeline += [np.zeros(frame, np.float32)] * (playout.last_seq - previous - 1)
            previous = playout.last_seq
            timeline.append(out)
            delays.append(playout.buffer.stats.delay_s)
        elif playout.last_kind != INSERTED and playout.streams_started and not events:
            break
        k += 1
        if k > 10 * frames + 1000:
            raise RuntimeError("the simulated link did not finish")
    aligned = np.concatenate(timeline) if timeline else np.zeros(0, np.float32)
    d = decoder.delay
    aligned = np.concatenate([aligned, np.zeros(max(0, d + len(x) - len(aligned)), np.float32)])
    return SimulatedLink(
        played=np.concatenate(played) if played else np.zeros(0, np.float32),
        aligned=aligned[d : d + len(x)],
        stats=playout.finish(len(played) * frame),
        impairment=sim.stats,
        mean_delay_s=float(np.mean(delays)) if delays else float("nan"),
    )
