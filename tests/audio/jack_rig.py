"""The JACK test rig: a private server and a probe client, both the measurement room's own.

The server (:class:`engine.measure.jack_server.JackServer`) runs the dummy
driver (no sound card needed), here in synchronous mode (``-S``): each cycle
waits for every client, so a test client slowed down by Python never
corrupts the data, only stretches time. Its name comes from the tests' own
pool (``svtest0``..); ``JACK_DEFAULT_SERVER`` points PortAudio (in the
engine's audio host process) at it. The client
(:class:`engine.measure.probe_process.ProbeProcess`) plays and records in a
process of its own.
"""

from __future__ import annotations

import shutil

from engine.measure.jack_server import JackServer as _Server
from engine.measure.probe_process import ProbeProcess

RATE = 48000
PERIOD = 256


def jack_available() -> bool:
    """True when jackd and the JACK-Client package are installed."""
    try:
        import jack  # noqa: F401
    except (ImportError, OSError):
        return False
    return shutil.which("jackd") is not None


class JackServer(_Server):
    """``jackd --no-realtime -S -n svtestN -d dummy -r RATE -p PERIOD`` (synchronous by default)."""

    def __init__(self, rate: int = RATE, period: int = PERIOD, sync: bool = True) -> None:
        super().__init__(rate, period, sync, pool="svtest")


class JackRig(ProbeProcess):
    """Test client ``svplay`` -> engine input, engine output -> ``svrec``, in a process of its own.

    A Python JACK callback in the test process would wait for the GIL
    whenever the engine thread works, miss JACK cycles and glitch the very
    signals the tests compare. No xrun-watching client: on the synchronous
    server it would be one more client every cycle waits for.
    """

    def __init__(self, server: str, target: str = "streamvox") -> None:
        super().__init__(server, target, watch_xruns=False)
