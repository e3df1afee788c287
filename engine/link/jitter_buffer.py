"""An adaptive jitter buffer: packets in as they arrive, one frame out per playout tick.

Time is passed in (seconds of one monotonic clock), so the buffer is plain
logic that tests drive with made-up arrivals.

Playout. The receiver's clock ticks once per frame (``frame_s``) and calls
:meth:`JitterBuffer.pop`, which plays the next sequence number: its packet,
or ``None`` (the caller conceals). Frame ``s`` (extended sequence number)
plays at ``offset + s * frame_s``; a packet's transit is ``arrival - s *
frame_s`` (its network delay plus a constant), so it is on time when its
transit is at most ``offset``. The first packet starts the stream: playout
begins ``min_delay`` after its arrival.

Adaptation. The buffer keeps the transits of the last ``window`` packets.
The target offset is the ``quantile`` of those transits plus ``margin``
(at least the fastest transit plus ``min_delay``, at most plus
``max_delay``): the target delay follows the measured jitter. When the
offset is half a frame or more below the target the buffer plays one
concealed frame without consuming a packet (delay grows by a frame); when it
is ``1.5`` frames or more above and ``settle_s`` has passed since the last
change, it skips one frame (delay shrinks by one frame). ``adaptive=False``
keeps the starting delay for the whole stream (late packets are concealed);
``shrink=False`` only grows it (a source that is read only when the buffer
has room, such as TCP, makes early packets look late-but-fast).

Counting. A packet for a frame already played or concealed is ``late`` (or
a ``duplicate`` when that frame was played from an earlier copy); one
already buffered is a duplicate; one more than ``capacity`` frames ahead is
``overflow`` (memory stays bounded). A frame concealed because its packet
was missing counts as lost until its packet arrives late. When nothing has
arrived for ``idle_s`` the stream has ended: the frames concealed since its
last packet are not counted as lost, and the next packet starts a new
playout.

Interarrival jitter is also estimated as RFC 3550 does (``J += (|D| - J) /
16``), for the stats.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

ACCEPTED = "accepted"
#: what :meth:`JitterBuffer.pop` plays: nothing yet, a packet, a concealed gap, an inserted frame
IDLE = "idle"
PACKET = "packet"
MISSING = "missing"
INSERTED = "inserted"
DUPLICATE = "duplicate"
LATE = "late"
OVERFLOW = "overflow"


class Playout(NamedTuple):
    """One tick's frame: its kind, its sequence number, its packet (``PACKET`` only)."""

    kind: str
    seq: int | None = None
    item: Any = None


@dataclass
class BufferStats:
    """Counts and measurements of one receiver's buffer (times in seconds)."""

    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    overflow: int = 0
    played: int = 0
    concealed: int = 0
    lost: int = 0
    inserted: int = 0
    skipped: int = 0
    reordered: int = 0
    streams: int = 0
    jitter_s: float = 0.0
    delay_s: float = 0.0
    target_s: float = 0.0
    max_delay_seen_s: float = 0.0


class JitterBuffer:
    """Reorders, de-duplicates and delays packets by a target that follows measured jitter."""

    def __init__(
        self,
        frame_s: float,
        min_delay_s: float | None = None,
        max_delay_s: float = 0.5,
        margin_s: float | None = None,
        quantile: float = 0.97,
        window: int = 200,
        idle_s: float = 1.0,
        settle_s: float = 0.5,
        adaptive: bool = True,
        shrink: bool = True,
    ) -> None:
        if frame_s <= 0:
            raise ValueError(f"frame duration must be positive, got {frame_s}")
        self.frame_s = frame_s
        self.min_delay_s = frame_s if min_delay_s is None else min_delay_s
        if not 0 <= self.min_delay_s <= max_delay_s:
            raise ValueError(f"need 0 <= min delay {self.min_delay_s} <= max delay {max_delay_s}")
        self.max_delay_s = max_delay_s
        self.margin_s = 0.25 * frame_s if margin_s is None else margin_s
        self.quantile = quantile
        self.idle_s = idle_s
        self.settle_s = settle_s
        self.adaptive = adaptive
        self.shrink = shrink
        #: frames buffered ahead at most (beyond that a packet is overflow)
        self.capacity = int(np.ceil(max_delay_s / frame_s)) + 8
        self.stats = BufferStats()
        self._transits: deque[float] = deque(maxlen=window)
        self._history = 4 * self.capacity  # played frames remembered, to tell late from duplicate
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._packets: dict[int, Any] = {}
        self._played: deque[int] = deque(maxlen=self._history)
        self._played_set: set[int] = set()
        self.started = False
        self.next_seq = 0
        self.offset = 0.0
        self._last_arrival: float | None = None
        self._last_transit: float | None = None
        self._missing_since_last = 0
        self._missing: deque[int] = deque(maxlen=self._history)
        self._missing_set: set[int] = set()
        self._last_change = -np.inf
        self._highest: int | None = None
        self._first_arrival: float | None = None
        self._transits.clear()

    # -- arrivals -----------------------------------------------------------------------------

    def push(self, seq: int, item: Any, arrival: float) -> str:
        """Offer one packet (extended sequence number ``seq``); returns what became of it."""
        if self._last_arrival is not None and arrival - self._last_arrival > self.idle_s:
            self.end_stream()
        if not self.started and self._packets and seq < min(self._packets) - self.capacity:
            self.end_stream()  # a restart before playout began: start over from this one
        if self.started and seq < self.next_seq:
            self._note_arrival(seq, arrival)
            if seq in self._played_set:
                self.stats.duplicates += 1
                return DUPLICATE
            self.stats.late += 1
            if seq in self._missing_set:
                self._missing_set.discard(seq)
                self.stats.lost -= 1
            return LATE
        if seq in self._packets:
            self.stats.duplicates += 1
            return DUPLICATE
        lowest = self.next_seq if self.started else min(self._packets, default=seq)
        if seq >= lowest + self.capacity or len(self._packets) >= self.capacity:
            self.stats.overflow += 1
            return OVERFLOW
        if self._highest is not None and seq < self._highest:
            self.stats.reordered += 1
        self._highest = seq if self._highest is None else max(self._highest, seq)
        self._note_arrival(seq, arrival)
        self._packets[seq] = item
        self.stats.accepted += 1
        if self._first_arrival is None:
            self._first_arrival = arrival
        return ACCEPTED

    def _note_arrival(self, seq: int, arrival: float) -> None:
        transit = arrival - seq * self.frame_s
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            self.stats.jitter_s += (d - self.stats.jitter_s) / 16.0
        self._last_transit = transit
        self._last_arrival = arrival
        self._transits.append(transit)

    # -- playout ------------------------------------------------------------------------------

    def target_offset(self) -> float:
        """The offset the buffer steers to (see the module docstring)."""
        transits = np.fromiter(self._transits, dtype=np.float64)
        fastest = float(transits.min())
        wanted = float(np.quantile(transits, self.quantile)) + self.margin_s
        return min(max(wanted, fastest + self.min_delay_s), fastest + self.max_delay_s)

    def pop(self, now: float) -> Playout:
        """What plays at tick ``now`` (see :class:`Playout`).

        ``IDLE``: nothing (no stream, or not started yet): silence.
        ``MISSING``: frame ``seq``'s packet is not here (the caller conceals; it
        may still arrive, then counted late). ``INSERTED``: a frame played to
        grow the delay (the caller conceals; ``seq`` is the next frame, not
        consumed). ``PACKET``: frame ``seq`` and its packet.
        """
        if self._last_arrival is not None and now - self._last_arrival > self.idle_s:
            self.end_stream()
        if not self.started:
            if not self._packets or now < self._first_arrival + self.min_delay_s:
                return Playout(IDLE)
            self.started = True
            self.stats.streams += 1
            self.next_seq = min(self._packets)
            self.offset = now - self.next_seq * self.frame_s
            self._last_change = now
        target = self.target_offset()
        self.stats.target_s = target - min(self._transits)
        if self.adaptive and self.offset < target - 0.5 * self.frame_s:
            self.offset += self.frame_s
            self.stats.inserted += 1
            self.stats.concealed += 1
            self._last_change = now
            self._update_delay()
            return Playout(INSERTED, self.next_seq)
        if (
            self.adaptive
            and self.offset > target + 1.5 * self.frame_s
            and now - self._last_change >= self.settle_s
        ):
            self._forget(self.next_seq)
            self.next_seq += 1
            self.offset -= self.frame_s
            self.stats.skipped += 1
            self._last_change = now
        seq = self.next_seq
        self.next_seq += 1
        self._update_delay()
        item = self._packets.pop(seq, None)
        self._remember(self._played, self._played_set, seq if item is not None else None)
        if item is None:
            self.stats.concealed += 1
            self.stats.lost += 1
            self._missing_since_last += 1
            self._remember(self._missing, self._missing_set, seq)
            return Playout(MISSING, seq)
        self.stats.played += 1
        self._missing_since_last = 0
        return Playout(PACKET, seq, item)

    def _update_delay(self) -> None:
        delay = self.offset - min(self._transits)
        self.stats.delay_s = delay
        self.stats.max_delay_seen_s = max(self.stats.max_delay_seen_s, delay)

    def _forget(self, seq: int) -> None:
        """Skip frame ``seq``: its packet (if any) is dropped unplayed."""
        self._packets.pop(seq, None)

    @staticmethod
    def _remember(order: deque[int], members: set[int], seq: int | None) -> None:
        if seq is None:
            return
        if len(order) == order.maxlen:
            members.discard(order[0])
        order.append(seq)
        members.add(seq)

    def peek(self, seq: int) -> Any:
        """The buffered packet of ``seq``, or ``None`` (for concealment that looks ahead)."""
        return self._packets.get(seq)

    def end_stream(self) -> None:
        """The stream stopped: the trailing concealed frames were not lost; start over."""
        self.stats.lost -= self._missing_since_last
        self.stats.concealed -= self._missing_since_last
        self._reset_stream()

    @property
    def buffered(self) -> int:
        """Packets waiting to play."""
        return len(self._packets)
