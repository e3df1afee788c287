"""What the Lab player (GUI side) and its audio child share: a few counters and a command line.

Commands and replies travel as JSON lines over the child's stdin/stdout
(see :mod:`engine.lab.player_child`). What must be instant travels
through a small shared file instead, one writer per slot:

* ``WANT`` (GUI side): the source to hear, 0 original / 1 processed; the
  callback crossfades to it, so a flip never waits on the child;
* ``POS``, ``CALLBACKS`` (child's callback): the read position in device
  frames and a callback count, so the GUI shows progress and a stalled
  device is seen without asking the child anything.

The file is unlinked as soon as both sides have it mapped, so a killed
child leaves nothing behind.
"""

from __future__ import annotations

import mmap
import os
import sys
import uuid

import numpy as np

from engine.audio.shm import default_dir

SLOTS = 8
WANT, POS, CALLBACKS = range(3)
CHILD_MODULE = "engine.lab.player_child"


class ControlBlock:
    """``int64[SLOTS]`` in a file mapped by both processes."""

    def __init__(self, path: str, create: bool) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, SLOTS * 8)
            self._map = mmap.mmap(fd, SLOTS * 8)
        finally:
            os.close(fd)
        self.slots = np.ndarray((SLOTS,), dtype=np.int64, buffer=self._map)

    @classmethod
    def create(cls) -> ControlBlock:
        """A new zeroed block with a unique name."""
        name = f"streamvox-lab-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        return cls(os.path.join(default_dir(), name), create=True)

    def unlink(self) -> None:
        """Remove the file (the mappings stay valid; unmapped with the last reference)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def child_command() -> list[str]:
    """Command line of the player's child; a frozen app routes ``-m`` itself (frozen_entry)."""
    return [sys.executable, "-m", CHILD_MODULE]
