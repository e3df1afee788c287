"""What every helper process the engine starts shares: its environment.

The audio host, the device listing, the Lab's player and the JACK probe
each run ``sys.executable -m MODULE`` (a frozen app re-enters its own
binary); each needs this checkout importable, whatever the caller's
working folder.
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
