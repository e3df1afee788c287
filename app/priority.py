"""Let the audio win the CPU: the GUI process lowers its own scheduling priority.

The engine and the audio host run in child processes with the normal
priority; the GUI, started before them, then asks the OS to prefer them
(``nice``). On a loaded machine a long redraw then delays the window, not
the audio. Raising the audio's priority instead would need privileges most
users lack; lowering our own never does.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

GUI_NICE = 10


def yield_to_audio(increment: int = GUI_NICE) -> int | None:
    """Lower this process's priority by ``increment`` (after the engine started); new niceness.

    Returns None where the platform has no ``nice`` (Windows), the current
    niceness if it is already at least ``increment``.
    """
    if not hasattr(os, "nice"):
        return None
    current = os.nice(0)
    if current >= increment:
        return current
    try:
        return os.nice(increment - current)
    except OSError as exc:
        log.warning("could not lower the GUI's priority: %s", exc)
        return current
