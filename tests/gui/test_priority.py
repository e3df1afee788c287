"""The GUI steps back for the audio with every thread, not only the one that asks."""

import subprocess
import sys
import textwrap

import pytest

from app.priority import GUI_NICE

CHILD = textwrap.dedent(
    """
    import os, threading
    from app.priority import thread_niceness, yield_to_audio

    done = threading.Event()
    early = threading.Thread(target=done.wait)  # like Qt's pooled threads: started first
    early.start()
    new = yield_to_audio()
    late = threading.Thread(target=done.wait)
    late.start()
    values = thread_niceness()
    print(new, values[early.native_id], values[late.native_id], min(values.values()))
    done.set()
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_threads_started_before_the_yield_step_back_too():
    # Given a process (a fresh one: niceness cannot be raised back) with a thread already running
    # When it yields to the audio
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    new, early, late, lowest = (int(v) for v in out)
    # Then every thread runs at the GUI's niceness or below, the one started before it included
    assert new >= GUI_NICE
    assert early >= GUI_NICE and late >= GUI_NICE and lowest >= GUI_NICE
