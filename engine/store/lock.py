"""A cross-process lock per model, so that two processes never write the same files.

The lock is an OS advisory lock on a small file (``fcntl.flock`` on POSIX,
``msvcrt.locking`` on Windows). The operating system releases it when the
holder exits or crashes, so a lock can never go stale: the file left behind
by a killed process is simply locked again by the next one. The file is
never deleted (deleting a lock file while another process waits on the old
inode would let two processes "hold" it), and it holds the owner's pid for
messages only.

One exception keeps names that were only tried from leaving lock files
behind: a holder may delete the file while it still holds the lock
(``discard_if``), and every acquirer checks, once locked, that the path
still names the file it locked; if not, it opens the path again.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from engine.store.errors import Cancelled, LockTimeoutError

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class ModelLock:
    """Exclusive lock on ``path``; a context manager.

    ``timeout`` bounds the wait (LockTimeoutError), ``cancel`` is polled
    while waiting (Cancelled), ``on_wait(owner)`` is called once when the
    lock is busy, with the owner's description, so that a front end can say
    "waiting for another download".

    Works between threads of one process too: each acquisition opens its
    own file description, and flock conflicts between descriptions.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 3600.0,
        poll: float = 0.05,
        cancel: Callable[[], bool] | None = None,
        on_wait: Callable[[str], None] | None = None,
        discard_if: Callable[[], bool] | None = None,
    ) -> None:
        if timeout < 0 or poll <= 0:
            raise ValueError("timeout must be >= 0 and poll > 0")
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll
        self.cancel = cancel
        self.on_wait = on_wait
        self.discard_if = discard_if
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True between acquire() and release()."""
        return self._fd is not None

    def acquire(self) -> None:
        """Block until the lock is ours (or raise LockTimeoutError / Cancelled)."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this ModelLock")
        deadline = time.monotonic() + self.timeout
        waited = False
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            waited = self._wait_for(fd, deadline, waited)
            if self._still_named(fd):
                break
            _unlock(fd)  # its holder discarded that file: lock the one there now
            os.close(fd)
        self._fd = fd
        self._write_owner()

    def _still_named(self, fd: int) -> bool:
        """True when ``self.path`` is still the file open as ``fd``."""
        try:
            here, ours = os.stat(self.path), os.fstat(fd)
        except FileNotFoundError:
            return False
        return (here.st_dev, here.st_ino) == (ours.st_dev, ours.st_ino)

    def _wait_for(self, fd: int, deadline: float, waited: bool) -> bool:
        """Lock ``fd``, waiting as configured; returns whether it waited (closes on failure)."""
        try:
            while not _try_lock(fd):
                if not waited and self.on_wait is not None:
                    self.on_wait(self.owner() or "another process")
                waited = True
                if self.cancel is not None and self.cancel():
                    raise Cancelled(f"stopped waiting for the lock {self.path}")
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"{self.path} is held by {self.owner() or 'another process'} "
                        f"for more than {self.timeout:g} s; try again later"
                    )
                time.sleep(self.poll)
        except BaseException:
            os.close(fd)
            raise
        return waited

    def release(self) -> None:
        """Give the lock back; the file stays unless ``discard_if()`` (module docstring)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self.discard_if is not None and self.discard_if():
            try:
                self.path.unlink()  # while still held: see the module docstring
            except OSError:
                pass  # e.g. Windows keeps open files; the file simply stays
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def owner(self) -> str:
        """Who holds (or last held) the lock, as written in the file."""
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""

    def _write_owner(self) -> None:
        """Record the holder for messages; failing to write it is harmless."""
        assert self._fd is not None
        text = f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode()
        try:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, text)
        except OSError:
            pass

    def __enter__(self) -> ModelLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
