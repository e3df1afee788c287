"""A real JACK server for tests, and a JACK client that plays into and records from the engine.

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
import threading
import time
import uuid

import numpy as np

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


class RigClient:
    """Two JACK clients (run in the rig process, see :class:`JackRig`).

    ``rigplay…:out`` feeds the engine's inputs and ``rigrec…:in`` records its
    first output. Two clients rather than one keep the graph free of a
    cycle (a cycle would add one period of feedback delay that is not the
    engine's). Both index the signal by JACK's frame clock from one common
    start frame, so recording and playback share one time axis.
    """

    def __init__(self, server: str, target: str = "streamvox") -> None:
        import jack

        self.jack = jack
        self.target = target
        tag = uuid.uuid4().hex[:4]
        opts = dict(servername=server, no_start_server=True)
        self.player = jack.Client(f"rigplay{tag}", **opts)
        self.recorder = jack.Client(f"rigrec{tag}", **opts)
        self.play_port = self.player.outports.register("out")
        self.rec_port = self.recorder.inports.register("in")
        self._signal = np.zeros(0, np.float32)
        self._rec = np.zeros(0, np.float32)
        self._start: int | None = None  # frame time of sample 0
        self._arm = False
        self._done = threading.Event()
        self.xrun_frames: list[int] = []  # signal positions of server xruns
        self.player.set_process_callback(self._play)
        self.recorder.set_process_callback(self._record)
        self.player.set_xrun_callback(self._xrun)
        self.player.activate()
        self.recorder.activate()

    def _xrun(self, _delay: float) -> None:
        start = self._start
        if start is not None:
            self.xrun_frames.append(self.player.frame_time - start)

    @staticmethod
    def _span(pos: int, frames: int, length: int) -> tuple[int, int]:
        """Part ``[a, b)`` of the cycle that maps into ``[0, length)`` of the signal."""
        return max(0, -pos), max(0, min(frames, length - pos))

    def _play(self, frames: int) -> None:
        out = self.play_port.get_array()
        out.fill(0.0)
        if self._arm:  # the time axis starts at the next cycle, on JACK's own clock
            self._arm = False
            self._start = self.player.last_frame_time + frames
        start = self._start
        if start is None:
            return
        pos = self.player.last_frame_time - start
        a, b = self._span(pos, frames, self._signal.shape[0])
        if b > a:
            out[a:b] = self._signal[pos + a : pos + b]

    def _record(self, frames: int) -> None:
        start = self._start
        if start is None:
            return
        pos = self.recorder.last_frame_time - start
        a, b = self._span(pos, frames, self._rec.shape[0])
        if b > a:
            self._rec[pos + a : pos + b] = self.rec_port.get_array()[a:b]
        if pos + frames >= self._rec.shape[0]:
            self._start = None
            self._done.set()

    def wire(self, timeout: float = 5.0) -> None:
        """Connect to the engine's ports once they exist; cut them off the dummy card."""
        deadline = time.monotonic() + timeout
        while True:
            ins = self.player.get_ports(f"{self.target}:in_", is_input=True)
            outs = self.player.get_ports(f"{self.target}:out_", is_output=True)
            if ins and outs:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no JACK ports of '{self.target}' appeared")
            time.sleep(0.02)
        for port in ins:
            for other in self.player.get_all_connections(port):
                self.player.disconnect(other, port)
            self.player.connect(self.play_port, port)
        self.player.connect(outs[0], self.rec_port)

    def play_record(self, signal: np.ndarray, extra: float = 0.5, timeout: float = 60.0):
        """Play ``signal`` and record ``len(signal) + extra`` s on the same time axis."""
        n = signal.shape[0] + int(extra * self.player.samplerate)
        self._signal = np.asarray(signal, np.float32)
        self._rec = np.zeros(n, np.float32)
        self.xrun_frames = []
        self._done.clear()
        self._arm = True
        if not self._done.wait(timeout):
            raise TimeoutError("playback/recording did not finish")
        return self._rec

    def close(self) -> None:
        """Leave the server."""
        for client in (self.player, self.recorder):
            try:
                client.deactivate()
                client.close()
            except self.jack.JackError:
                pass

    def loopback(self) -> None:
        """A virtual loopback cable: the target's first output into its inputs."""
        self.wire()
        c = self.player
        out = c.get_ports(f"{self.target}:out_", is_output=True)[0]
        for port in c.get_ports(f"{self.target}:in_", is_input=True):
            for other in c.get_all_connections(port):
                c.disconnect(other, port)
            c.connect(out, port)


class JackRig:
    """Test client ``rig:play`` -> engine input, engine output -> ``rig:rec``.

    It runs in a process of its own: a Python JACK callback in the test
    process would wait for the GIL whenever the engine thread works, miss
    JACK cycles and glitch the very signals the tests compare.
    """

    def __init__(self, server: str, target: str = "streamvox") -> None:
        from engine.audio.host import child_env

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
    rig = RigClient(server, target)
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
