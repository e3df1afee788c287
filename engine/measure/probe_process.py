"""The JACK probe clients (:class:`~engine.measure.jack_probe.JackProbe`) in a process of their own.

A Python JACK callback in the engine's process waits for the GIL whenever
the engine thread works: it misses cycles and glitches the very probe it
plays (and, on an asynchronous server, causes the xruns it would count).
In a process of its own it only competes for a core.

Protocol: one command per line on stdin, one JSON reply per line on stdout.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from engine.audio.child import ChildProcess


class ProbeProcess:
    """Play into ``target``'s inputs and record its first output, from a child process."""

    def __init__(
        self, server: str | None = None, target: str = "streamvox", watch_xruns: bool = True
    ) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="svprobe-"))
        cmd = [sys.executable, "-m", "engine.measure.probe_process", server or "", target]
        if not watch_xruns:
            cmd.append("--no-xruns")
        self._child = ChildProcess("the JACK probe process", cmd, leash=True)
        self.proc = self._child.proc
        self.xrun_frames: list[int] = []
        self._call("ping")

    def _call(self, *words: str) -> dict:
        self._child.send_line(" ".join(words))
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(self._child.exit_message())
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"JACK probe: {reply['error']}")
        return reply

    def wire(self) -> None:
        """Connect the probe to the target's ports (idempotent)."""
        self._call("wire")

    def loopback(self) -> None:
        """Connect the target's output straight back to its input."""
        self._call("loopback")

    def graph(self) -> dict[str, list[str]]:
        """Every port of the server and what it is connected to (for diagnostics)."""
        return self._call("graph")["graph"]

    def server_xruns(self) -> int:
        """Xruns the server reported since the probe process started (0 without ``watch_xruns``)."""
        return int(self._call("xruns")["count"])

    def play_record(self, signal: np.ndarray, extra: float = 0.5) -> np.ndarray:
        """Play ``signal``; record ``len(signal) + extra`` s on the same time axis."""
        src, dst = self._dir / "play.npy", self._dir / "rec.npy"
        np.save(src, np.asarray(signal, np.float32))
        reply = self._call("play", str(src), repr(float(extra)), str(dst))
        self.xrun_frames = reply["xruns"]
        return np.load(dst)

    def close(self) -> None:
        """Stop the process."""
        try:
            self._call("quit")
        except (RuntimeError, OSError, ValueError):
            pass
        self._child.kill(grace=5.0)
        shutil.rmtree(self._dir, ignore_errors=True)


def serve(server: str | None, target: str, watch_xruns: bool = True) -> None:
    """Child side: answer commands until ``quit`` or end of input.

    ``watch_xruns`` adds a client that counts the server's xruns (in a
    synchronous server one more client the cycle waits for).
    """
    import jack

    from engine.measure.jack_probe import JackProbe

    probe = JackProbe(server, target)
    xruns = [0]
    watcher = None
    if watch_xruns:
        watcher = jack.Client("svxruns", servername=server, no_start_server=True)
        watcher.set_xrun_callback(lambda _delay: xruns.__setitem__(0, xruns[0] + 1))
        watcher.activate()
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            print(json.dumps({}), flush=True)
            break
        try:
            if words[0] == "wire":
                probe.wire()
                reply = {}
            elif words[0] == "play":
                rec = probe.play_record(np.load(words[1]), extra=float(words[2]))
                np.save(words[3], rec)
                reply = {"xruns": list(probe.xrun_frames)}
            elif words[0] == "loopback":
                probe.loopback()
                reply = {}
            elif words[0] == "graph":
                c = probe.player
                links = {p.name: [q.name for q in c.get_all_connections(p)] for p in c.get_ports()}
                reply = {"graph": links}
            elif words[0] == "xruns":
                reply = {"count": xruns[0]}
            elif words[0] == "ping":
                reply = {}
            else:
                reply = {"error": f"unknown command {words[0]!r}"}
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)
    probe.close()
    if watcher is not None:
        watcher.deactivate()
        watcher.close()


if __name__ == "__main__":
    serve(sys.argv[1] or None, sys.argv[2], watch_xruns="--no-xruns" not in sys.argv[3:])
