"""A real JACK server for tests, and the probe clients (``JackProbe``) in a process of their own.

The server runs the dummy driver (no sound card needed) in synchronous
mode (``-S``): each cycle waits for every client, so a test client slowed
down by Python never corrupts the data, only stretches time. Each server
gets a name no other test run uses (see :func:`_claim_name`);
``JACK_DEFAULT_SERVER`` points PortAudio (in the engine's
audio host process) at it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from engine.measure.jack_probe import JackProbe

RATE = 48000
PERIOD = 256


def jack_available() -> bool:
    """True when jackd and the JACK-Client package are installed."""
    try:
        import jack  # noqa: F401
    except (ImportError, OSError):
        return False
    return shutil.which("jackd") is not None


class JackServer:
    """``jackd --no-realtime -S -n NAME -d dummy -r RATE -p PERIOD``.

    Synchronous mode (``-S``, default here) makes every cycle wait for every
    client: without real-time scheduling on a busy machine clients are often
    late, and in asynchronous mode a late client's cycle is lost (a glitch),
    while in synchronous mode the cycle is only late. The dummy driver then
    reports no output latency beyond PortAudio's own buffering, and what the
    rig measures is exactly what PortAudio reports.
    """

    def __init__(self, rate: int = RATE, period: int = PERIOD, sync: bool = True) -> None:
        self.name, self._lock = _claim_name()
        self.rate, self.period, self.sync = rate, period, sync
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until a client can connect."""
        import jack

        cmd = ["jackd", "--no-realtime", *(["-S"] if self.sync else []), "-n", self.name,
               "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]  # fmt: skip
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                probe = jack.Client("svprobe", servername=self.name, no_start_server=True)
            except jack.JackError:
                if self.proc.poll() is not None:
                    self._log.seek(0)
                    tail = self._log.read().decode(errors="replace").strip().splitlines()[-3:]
                    raise RuntimeError(
                        f"jackd exited with {self.proc.returncode}: {' | '.join(tail)}"
                    ) from None
                time.sleep(0.05)
                continue
            probe.close()
            return
        raise RuntimeError("jackd did not come up")

    def log_lines(self) -> list[str]:
        """What jackd has printed so far (it names the client that made an xrun)."""
        self._log.seek(0, 2)
        end = self._log.tell()
        self._log.seek(0)
        text = self._log.read(end).decode(errors="replace")
        return text.splitlines()

    def kill(self) -> None:
        """Kill the server abruptly, as a crash would.

        A killed server leaves its slot in JACK's registry (8 slots, shared
        by all servers of the machine); :meth:`start` with the same name
        reclaims it, so a killed server must be restarted and then
        :meth:`stop`-ped.
        """
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        """Shut the server down cleanly (it frees its registry slot) and free the name."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None


NAME_POOL = 4


def _claim_name():
    """A server name from a small pool, held by a file lock.

    JACK keeps servers in a machine-wide registry of 8 slots and only
    reclaims a dead server's slot when a server of the *same name* starts;
    unique names per run would leak slots whenever a run is interrupted.
    The lock keeps parallel test runs on different names.
    """
    import fcntl

    for i in range(NAME_POOL):
        path = os.path.join(tempfile.gettempdir(), f"streamvox-jack-{os.getuid()}-{i}.lock")
        f = open(path, "w")  # noqa: SIM115 - held open as the lock
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        return f"svtest{i}", f
    raise RuntimeError(f"all {NAME_POOL} test JACK server names are in use")


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the test process dies (no orphaned servers)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class JackRig:
    """Test client ``rig:play`` -> engine input, engine output -> ``rig:rec``.

    It runs in a process of its own: a Python JACK callback in the test
    process would wait for the GIL whenever the engine thread works, miss
    JACK cycles and glitch the very signals the tests compare.
    """

    def __init__(self, server: str, target: str = "streamvox") -> None:
        from engine.audio.child import child_env

        self._dir = tempfile.mkdtemp(prefix="svrig-")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.audio.jack_rig", server, target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(),
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        self.xrun_frames: list[int] = []
        self._call("ping")

    def _call(self, *words: str, timeout: float = 60.0) -> dict:
        self.proc.stdin.write(" ".join(words) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the JACK rig process died")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"rig: {reply['error']}")
        return reply

    def wire(self) -> None:
        """Connect the rig to the engine's ports (cut off the dummy card)."""
        self._call("wire")

    def loopback(self) -> None:
        """Connect the engine's output straight back to its input."""
        self._call("loopback")

    def graph(self) -> dict[str, list[str]]:
        """Every port of the server and what it is connected to (for diagnostics)."""
        return self._call("graph")["graph"]

    def play_record(self, signal: np.ndarray, extra: float = 0.5) -> np.ndarray:
        """Play ``signal``; record ``len(signal) + extra`` s from the same first frame."""
        src = os.path.join(self._dir, "play.npy")
        dst = os.path.join(self._dir, "rec.npy")
        np.save(src, np.asarray(signal, np.float32))
        reply = self._call("play", src, str(extra), dst)
        self.xrun_frames = reply["xruns"]
        return np.load(dst)

    def close(self) -> None:
        """Stop the rig process."""
        try:
            self._call("quit")
        except (RuntimeError, OSError, ValueError):
            pass
        self.proc.wait(5)
        shutil.rmtree(self._dir, ignore_errors=True)


def _serve(server: str, target: str) -> None:
    rig = JackProbe(server, target)
    for line in sys.stdin:
        words = line.split()
        try:
            if words[0] == "ping":
                reply = {}
            elif words[0] == "wire":
                rig.wire()
                reply = {}
            elif words[0] == "graph":
                c = rig.player
                reply = {
                    "graph": {
                        p.name: [q.name for q in c.get_all_connections(p)] for p in c.get_ports()
                    }
                }
            elif words[0] == "loopback":
                rig.loopback()
                reply = {}
            elif words[0] == "play":
                rec = rig.play_record(np.load(words[1]), extra=float(words[2]))
                np.save(words[3], rec)
                reply = {"xruns": list(rig.xrun_frames)}
            else:  # quit
                print(json.dumps({}), flush=True)
                break
        except Exception as exc:  # noqa: BLE001 - reported to the test
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)
    rig.close()


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
