"""Measure the engine through JACK from the outside, without a feedback cycle.

A loop from a client's output back to its own input is a cycle that JACK
breaks with one period of delay, a "cable" of a length no device reports.
Two separate clients, one playing into the engine and one recording it,
keep the graph acyclic: what they measure is exactly the engine's
glass-to-glass latency as JACK sees it. Used by the live latency bench and
by the tests. Needs the JACK-Client package.
"""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np


class JackProbe:
    """Two JACK clients that play into the engine and record what it plays.

    ``svplay…:out`` feeds the engine's inputs and ``svrec…:in`` records its
    first output. Two clients rather than one keep the graph free of a
    cycle (a cycle would add one period of feedback delay that is not the
    engine's). Both index the signal by JACK's frame clock from one common
    start frame, so recording and playback share one time axis.
    """

    def __init__(self, server: str | None = None, target: str = "streamvox") -> None:
        import jack

        self.jack = jack
        self.target = target
        tag = uuid.uuid4().hex[:4]
        opts = dict(servername=server, no_start_server=True)
        self.player = jack.Client(f"svplay{tag}", **opts)
        self.recorder = jack.Client(f"svrec{tag}", **opts)
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
        """Connect to the engine's ports (again: idempotent); cut its inputs off anything else."""
        deadline = time.monotonic() + timeout
        while True:
            ins = self.player.get_ports(f"{self.target}:in_", is_input=True)
            outs = self.player.get_ports(f"{self.target}:out_", is_output=True)
            if ins and outs:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no JACK ports of '{self.target}' appeared")
            time.sleep(0.02)
        c = self.player
        for port in ins:
            for other in c.get_all_connections(port):
                if other.name != self.play_port.name:
                    self._try(c.disconnect, other, port)
            if not self._linked(self.play_port, port):
                c.connect(self.play_port, port)
        if not self._linked(outs[0], self.rec_port):
            c.connect(outs[0], self.rec_port)

    def _linked(self, a, b) -> bool:
        return b.name in [p.name for p in self.player.get_all_connections(a)]

    def _try(self, fn, *args) -> None:
        try:
            fn(*args)
        except self.jack.JackError:
            pass  # a port of a client that is just leaving

    def play_record(self, signal: np.ndarray, extra: float = 0.5, timeout: float | None = None):
        """Play ``signal`` and record ``len(signal) + extra`` s on the same time axis.

        ``timeout`` defaults to three times the take plus 30 s (a synchronous
        server on a busy machine runs slower than real time).
        """
        n = signal.shape[0] + int(extra * self.player.samplerate)
        if timeout is None:
            timeout = 3.0 * n / self.player.samplerate + 30.0
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
