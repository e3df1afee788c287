"""The per-model lock: exclusive between threads and processes, never stale after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.store.errors import Cancelled, LockTimeoutError
from engine.store.lock import ModelLock

REPO = Path(__file__).resolve().parents[2]


def test_second_holder_waits_until_the_first_releases(tmp_path: Path) -> None:
    path = tmp_path / "m.lock"
    order: list[str] = []
    first = ModelLock(path)
    first.acquire()

    def second() -> None:
        with ModelLock(path, poll=0.01):
            order.append("second")

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.2)
    order.append("first releases")
    first.release()
    t.join(5)

    assert order == ["first releases", "second"]


def test_timeout_and_cancel_while_waiting(tmp_path: Path) -> None:
    path = tmp_path / "m.lock"
    owners: list[str] = []
    with ModelLock(path):
        with pytest.raises(LockTimeoutError, match=f"pid {os.getpid()}"):
            ModelLock(path, timeout=0.1, on_wait=owners.append).acquire()
        with pytest.raises(Cancelled):
            ModelLock(path, cancel=lambda: True).acquire()

    assert owners and f"pid {os.getpid()}" in owners[0]
    with ModelLock(path, timeout=0):  # free again: no wait at all
        pass


def test_lock_of_a_killed_process_is_not_stale(tmp_path: Path) -> None:
    path = tmp_path / "m.lock"
    code = (
        "import sys, time\n"
        "from engine.store.lock import ModelLock\n"
        "ModelLock(sys.argv[1]).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(LockTimeoutError, match=f"pid {child.pid}"):
            ModelLock(path, timeout=0.1).acquire()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)

        with ModelLock(path, timeout=2.0) as lock:  # the crashed holder's file is reusable
            assert lock.held
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_names_only_tried_leave_no_lock_file(tmp_path: Path) -> None:
    """Issue 15, item 8: a failed import of a new name used to leave .locks/NAME.lock."""
    from engine.models.errors import CheckpointError
    from engine.store import ModelStore

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"no model")
    store = ModelStore(tmp_path / "cache")
    for name in ("tried-1", "tried-2"):
        with pytest.raises(CheckpointError):
            store.import_file(garbage, name=name)
    assert not list((tmp_path / "cache").rglob("*.lock"))


def test_a_discarded_lock_file_is_never_held_twice(tmp_path: Path) -> None:
    path = tmp_path / "m.lock"
    first = ModelLock(path, discard_if=lambda: True)
    first.acquire()
    second = ModelLock(path, poll=0.01)
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (second.acquire(), got.set()))
    waiter.start()
    time.sleep(0.1)  # the waiter has the old file open and is blocked on it
    first.release()  # deletes the file while holding it, then unlocks
    assert got.wait(5)
    waiter.join()
    assert path.exists()  # the waiter locked a new file at the path, not the deleted one
    with pytest.raises(LockTimeoutError):
        ModelLock(path, timeout=0).acquire()
    second.release()
