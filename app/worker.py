"""Run slow, blocking calls (device scans, model loads, downloads) off the GUI thread.

The result comes back through queued Qt signals, so slots run in the GUI
thread. A plain Python thread is enough: the call holds no Qt objects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal


class Worker(QObject):
    """One background call: ``done(result)`` or ``failed(exception)``, then ``finished``."""

    done = Signal(object)
    failed = Signal(object)
    progress = Signal(int, int)
    finished = Signal()

    def __init__(self, fn: Callable[[Worker], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.cancelled = threading.Event()
        self.thread: threading.Thread | None = None
        self.running = False
        self.finished.connect(self._mark_done, Qt.ConnectionType.QueuedConnection)

    def start(self) -> Worker:
        """Start the call in a daemon thread (returns at once)."""
        self.running = True
        self.thread = threading.Thread(target=self._run, name="streamvox-worker", daemon=True)
        self.thread.start()
        return self

    def cancel(self) -> None:
        """Ask the call to stop (it polls :attr:`cancelled`)."""
        self.cancelled.set()

    def _run(self) -> None:
        try:
            result = self._fn(self)
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the GUI
            self.failed.emit(exc)
        else:
            self.done.emit(result)
        finally:
            self.finished.emit()

    def _mark_done(self) -> None:
        self.running = False
