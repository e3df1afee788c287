"""Let the audio win the CPU: the GUI process lowers its own scheduling priority.

The engine and the audio host run in child processes with the normal
priority; the GUI, started before them, then asks the OS to prefer them
(``nice``). On a loaded machine a long redraw then delays the window, not
the audio. Raising the audio's priority instead would need privileges most
users lack; lowering our own never does.

On Linux a niceness belongs to a thread, not to the process: ``nice()``
lowers only the thread that calls it, and threads started later inherit
from the thread that starts them. Threads already running (Qt's pooled
painting threads once a window has been shown, the reader of the engine's
snapshots) would keep competing with the audio at its own priority: while
a test window resized and redrew, two pooled Qt threads ran at ~15 % of a
core at the engine's priority. Every thread of the process is lowered.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

GUI_NICE = 10
_TASKS = "/proc/self/task"  # one entry per thread of this process (Linux)


def yield_to_audio(increment: int = GUI_NICE) -> int | None:
    """Lower every thread of this process to niceness ``increment``; return the new niceness.

    Returns None where the platform has no ``nice`` (Windows), the current
    niceness if it is already at least ``increment`` (threads left behind
    are then lowered to it).
    """
    if not hasattr(os, "nice"):
        return None
    current = os.nice(0)
    if current < increment:
        try:
            current = os.nice(increment - current)
        except OSError as exc:
            log.warning("could not lower the GUI's priority: %s", exc)
            return current
    _lower_threads(current)
    return current


def thread_niceness() -> dict[int, int]:
    """Niceness of each thread of this process by native id (empty where threads have none)."""
    out = {}
    for tid in _thread_ids():
        try:
            out[tid] = os.getpriority(os.PRIO_PROCESS, tid)
        except OSError:
            pass  # the thread ended meanwhile
    return out


def _lower_threads(niceness: int) -> None:
    """Give every thread of this process at least ``niceness`` (Linux; elsewhere nice() did)."""
    for tid, value in thread_niceness().items():
        if value < niceness:
            try:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
            except OSError as exc:  # ended meanwhile, or not ours to change
                log.debug("could not lower thread %d: %s", tid, exc)


def _thread_ids() -> list[int]:
    try:
        return [int(t) for t in os.listdir(_TASKS)]
    except OSError:
        return []  # not Linux: the niceness is the process's
