"""Waiting on the real engine from GUI tests."""

import time

from PySide6.QtWidgets import QApplication


def wait_engine(client, predicate, timeout=30.0):
    """Process Qt events until ``predicate(snapshot)`` holds; return that snapshot."""
    deadline = time.monotonic() + timeout
    snap = client.snapshot()
    while time.monotonic() < deadline:
        QApplication.processEvents()
        snap = client.snapshot()
        try:
            if predicate(snap):
                return snap
        except (KeyError, AttributeError):  # the engine has not published all of it yet
            pass
        time.sleep(0.01)
    raise AssertionError(
        f"engine never reached the expected state: state={snap.state} error={snap.error} "
        f"status={snap.status}"
    )


def engine_heard_slot(snap):
    """The tap the engine's selected slot holds."""
    s = snap.status
    return s.slot_a if s.selected == "A" else s.slot_b
