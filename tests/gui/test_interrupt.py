"""Ctrl+C in the terminal closes the app; it never kills the engine under the window.

Issue 15, item 8: the terminal sends SIGINT to the whole process group, so
the engine child died while the window stayed up saying nothing.
"""

from __future__ import annotations

import os
import signal
import time

from PySide6.QtWidgets import QMainWindow

from app.engine_process import EngineProcess
from app.main import close_on_interrupt


def test_engine_child_ignores_the_terminals_ctrl_c():
    proc = EngineProcess()
    try:
        time.sleep(0.5)  # still starting up: the signal must not kill it either
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(2.0)
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(1.0)
        assert proc.alive()
    finally:
        proc.close()


def test_ctrl_c_closes_the_window(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    previous = signal.getsignal(signal.SIGINT)
    try:
        timer = close_on_interrupt(window)
        assert timer.isActive()
        signal.raise_signal(signal.SIGINT)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    finally:
        signal.signal(signal.SIGINT, previous)
