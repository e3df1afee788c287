"""Lock-free single-producer / single-consumer ring of float32 frames.

It sits between the PortAudio callback and the engine thread, possibly in
two processes (the buffer may live in shared memory). There are no locks:
the producer only writes the write index and its counters, the consumer
only the read index and its counters; data are copied before the index
that publishes them is stored.

Indices count frames since the start and never wrap (int64), so
``fill = write - read``. The consumer of the *output* ring reads with
:meth:`RingBuffer.read_timed`: it always advances by the frames it asked
for, plays zeros for what is missing and counts an underrun. The producer
then drops the frames that arrive too late (:meth:`RingBuffer.write` skips
indices below ``read``), so a late engine costs a dropout, never a
permanent increase of latency.
"""

from __future__ import annotations

import numpy as np

# Slots of the int64 header.
_W, _R, _OVR_EVENTS, _OVR_FRAMES, _UND_EVENTS, _UND_FRAMES, _STALE = range(7)
HEADER_SLOTS = 8  # one spare keeps the data 64-byte aligned


class RingBuffer:
    """SPSC ring of ``(capacity, channels)`` float32 frames.

    ``buffer`` (any writable buffer, e.g. an ``mmap``) and ``offset`` place
    the ring in shared memory; without them it allocates its own arrays.
    """

    def __init__(
        self,
        capacity: int,
        channels: int = 1,
        buffer: memoryview | bytearray | None = None,
        offset: int = 0,
    ) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        if channels <= 0:
            raise ValueError(f"channels must be positive, got {channels}")
        self.capacity = int(capacity)
        self.channels = int(channels)
        if buffer is None:
            buffer = bytearray(self.nbytes(capacity, channels))
            offset = 0
        self._hdr = np.ndarray((HEADER_SLOTS,), dtype=np.int64, buffer=buffer, offset=offset)
        self._data = np.ndarray(
            (self.capacity, self.channels),
            dtype=np.float32,
            buffer=buffer,
            offset=offset + HEADER_SLOTS * 8,
        )

    @staticmethod
    def nbytes(capacity: int, channels: int = 1) -> int:
        """Bytes needed to place a ring in an external buffer."""
        return HEADER_SLOTS * 8 + int(capacity) * int(channels) * 4

    # -- state --------------------------------------------------------------
    @property
    def write_index(self) -> int:
        """Frames ever published by the producer (including skipped ones)."""
        return int(self._hdr[_W])

    @property
    def read_index(self) -> int:
        """Frames ever consumed (or played as silence) by the consumer."""
        return int(self._hdr[_R])

    def fill(self) -> int:
        """``write - read``; negative after the consumer ran ahead on an underrun."""
        return int(self._hdr[_W]) - int(self._hdr[_R])

    def readable(self) -> int:
        """Frames the consumer can read now."""
        return max(0, self.fill())

    def writable(self) -> int:
        """Frames the producer can store now without overrunning."""
        return self.capacity - self.readable()

    @property
    def overruns(self) -> int:
        """Writes that did not fit (producer side)."""
        return int(self._hdr[_OVR_EVENTS])

    @property
    def overrun_frames(self) -> int:
        """Frames dropped because the ring was full."""
        return int(self._hdr[_OVR_FRAMES])

    @property
    def underruns(self) -> int:
        """Timed reads that found too little data (consumer side)."""
        return int(self._hdr[_UND_EVENTS])

    @property
    def underrun_frames(self) -> int:
        """Frames played as silence because data were missing."""
        return int(self._hdr[_UND_FRAMES])

    @property
    def stale_frames(self) -> int:
        """Frames the producer dropped because they arrived after their read time."""
        return int(self._hdr[_STALE])

    def reset(self) -> None:
        """Empty the ring and clear counters (only while nobody uses it)."""
        self._hdr[:] = 0

    # -- producer ------------------------------------------------------------
    def write(self, data: np.ndarray) -> int:
        """Store ``data`` (``(n, channels)`` or ``(n,)`` for one channel).

        Frames whose index the consumer already passed are skipped (late);
        frames that do not fit are dropped and counted as an overrun.
        Returns the number of frames stored.
        """
        n = data.shape[0]
        w = int(self._hdr[_W])
        r = int(self._hdr[_R])
        start = 0
        if r > w:  # consumer ran ahead: these frames are late
            start = min(n, r - w)
            self._hdr[_STALE] += start
        room = self.capacity - max(0, w + start - r)
        count = min(n - start, room)
        if count < n - start:
            self._hdr[_OVR_EVENTS] += 1
            self._hdr[_OVR_FRAMES] += n - start - count
        if count > 0:
            self._copy_in(w + start, data[start : start + count])
        self._hdr[_W] = w + start + count
        return count

    def write_silence(self, n: int) -> int:
        """Publish ``n`` zero frames (keeps the timeline when input was lost)."""
        w = int(self._hdr[_W])
        r = int(self._hdr[_R])
        start = min(n, max(0, r - w))
        count = min(n - start, self.capacity - max(0, w + start - r))
        pos = (w + start) % self.capacity
        first = min(count, self.capacity - pos)
        self._data[pos : pos + first] = 0.0
        self._data[: count - first] = 0.0
        self._hdr[_W] = w + start + count
        return count

    def _copy_in(self, index: int, data: np.ndarray) -> None:
        count = data.shape[0]
        pos = index % self.capacity
        first = min(count, self.capacity - pos)
        if data.ndim == 1:
            self._data[pos : pos + first, 0] = data[:first]
            self._data[: count - first, 0] = data[first:]
        else:
            self._data[pos : pos + first] = data[:first]
            self._data[: count - first] = data[first:]

    # -- consumer ------------------------------------------------------------
    def read(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` available frames into ``out``; return how many."""
        r = int(self._hdr[_R])
        count = min(out.shape[0], int(self._hdr[_W]) - r)
        if count <= 0:
            return 0
        self._copy_out(r, out[:count])
        self._hdr[_R] = r + count
        return count

    def read_timed(self, out: np.ndarray) -> int:
        """Fill all of ``out``: data where available, zeros for the rest.

        The read index always advances by ``len(out)`` so the stream keeps
        its timing; a shortfall is counted as one underrun. Returns the
        number of real frames copied.
        """
        n = out.shape[0]
        r = int(self._hdr[_R])
        count = max(0, min(n, int(self._hdr[_W]) - r))
        if count:
            self._copy_out(r, out[:count])
        if count < n:
            out[count:] = 0.0
            self._hdr[_UND_EVENTS] += 1
            self._hdr[_UND_FRAMES] += n - count
        self._hdr[_R] = r + n
        return count

    def _copy_out(self, index: int, out: np.ndarray) -> None:
        count = out.shape[0]
        pos = index % self.capacity
        first = min(count, self.capacity - pos)
        if out.ndim == 1:
            out[:first] = self._data[pos : pos + first, 0]
            out[first:] = self._data[: count - first, 0]
        else:
            out[:first] = self._data[pos : pos + first]
            out[first:] = self._data[: count - first]
