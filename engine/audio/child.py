"""What the helper processes the engine starts share: their environment, and a leash.

The audio host, the device listing, the Lab's player and the JACK probe
each run ``sys.executable -m MODULE`` (a frozen app re-enters its own
binary); each needs this checkout importable, whatever the caller's
working folder. A process that must not outlive its parent (a private JACK
server, the probe client) starts with :func:`die_with_parent`.
"""

from __future__ import annotations

import os
from pathlib import Path


def child_env() -> dict[str, str]:
    """Environment for helper processes: this checkout importable."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when its parent dies (Linux; elsewhere nothing)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
