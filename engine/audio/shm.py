"""Memory shared by the engine and the audio host process: counters and two rings.

Layout of the file (mapped by both processes)::

    control  int64[CONTROL_SLOTS]    flags and counters, one writer per slot
    in_ring  RingBuffer (mono)       host callback -> engine thread
    out_ring RingBuffer (mono)       engine thread -> host callback

A plain file under ``/dev/shm`` (or the temp dir) with ``mmap`` works on every
platform and, unlike ``multiprocessing.shared_memory``, no resource tracker
removes it behind our back when a host process is killed.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import uuid

import numpy as np

from engine.audio.ring import RingBuffer

CONTROL_SLOTS = 16
# Written by the host process:
STATE, CALLBACKS, IN_OVERFLOW, OUT_UNDERFLOW, IN_UNDERFLOW, OUT_OVERFLOW, LAST_CALLBACK_NS = range(
    7
)
# Written by the host's output callback when input and output are two streams:
# output frames played minus input frames taken, at one instant (0 in full duplex).
SKEW = 7
# Written by the engine:
GO, STOP = 8, 9
# Two streams only. IN_PHASE (input callback): input frame index minus
# monotonic time x rate, in 1/256 frames; SKEWS (output callback): how many
# times SKEW was computed from it.
IN_PHASE, SKEWS = 10, 11
PHASE_UNIT = 256
# STATE values
STARTING, OPENED, RUNNING, STOPPED, FAILED = range(5)


def _layout(in_capacity: int, out_capacity: int) -> tuple[int, int, int]:
    in_off = CONTROL_SLOTS * 8
    out_off = in_off + RingBuffer.nbytes(in_capacity)
    total = out_off + RingBuffer.nbytes(out_capacity)
    return in_off, out_off, total


def default_dir() -> str:
    """Where shared files live: ``/dev/shm`` when it exists (RAM), else the temp dir."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


class SharedBlock:
    """Map (and with ``create`` make) the shared file at ``path``."""

    def __init__(self, path: str, in_capacity: int, out_capacity: int, create: bool) -> None:
        self.path = path
        self.in_capacity, self.out_capacity = int(in_capacity), int(out_capacity)
        in_off, out_off, total = _layout(self.in_capacity, self.out_capacity)
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, total)
            self._map = mmap.mmap(fd, total)
        finally:
            os.close(fd)
        self.control = np.ndarray((CONTROL_SLOTS,), dtype=np.int64, buffer=self._map, offset=0)
        self.in_ring = RingBuffer(self.in_capacity, 1, buffer=self._map, offset=in_off)
        self.out_ring = RingBuffer(self.out_capacity, 1, buffer=self._map, offset=out_off)

    @classmethod
    def create(cls, in_capacity: int, out_capacity: int) -> SharedBlock:
        """A new zeroed block under :func:`default_dir` with a unique name."""
        path = os.path.join(default_dir(), f"streamvox-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        return cls(path, in_capacity, out_capacity, create=True)

    def close(self) -> None:
        """Unmap (views into the block must not be used afterwards)."""
        self.control = None  # type: ignore[assignment]
        self.in_ring = self.out_ring = None  # type: ignore[assignment]
        try:
            self._map.close()
        except BufferError:  # a numpy view is still alive somewhere: leave it to the GC
            pass

    def unlink(self) -> None:
        """Remove the file (the mapping stays valid until closed)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
