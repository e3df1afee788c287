"""The engine's handle on the audio host process (see ``host_main``).

Why a process: the PortAudio callback then never competes with the engine
thread or the GUI for Python's GIL, and a device or audio server that dies
can take PortAudio down with it (with JACK, PortAudio 19.6 hangs in
``Pa_CloseStream`` and aborts in ``Pa_Terminate``) without taking the
engine along: the host is killed and a fresh one started.
"""

from __future__ import annotations

import json
import os
import queue
import select
import sys
import threading
import time

from engine.audio import shm
from engine.audio.child import ChildProcess, pipe_lines
from engine.audio.errors import StreamError
from engine.audio.stream import StreamInfo, StreamSpec

RING_FRAMES = 1 << 19  # ~11 s at 48 kHz: only overruns when the engine stalls for seconds


def host_command() -> list[str]:
    """Command line that starts a host process (frozen apps re-enter their own binary)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--audio-host"]
    return [sys.executable, "-m", "engine.audio.host_main"]


class AudioHost:
    """Start, watch and stop one audio host process.

    :meth:`open` opens the stream and reports what it got; :meth:`go`
    prefills the output ring and starts the callbacks. From then on the
    engine thread reads ``shared.in_ring``, writes ``shared.out_ring``, and
    may block in :meth:`wait` until the callback signals.
    """

    def __init__(self, spec: StreamSpec, jack_client_name: str | None = "streamvox") -> None:
        self.spec = spec
        self.jack_client_name = jack_client_name
        self.info: StreamInfo | None = None
        self.shared: shm.SharedBlock | None = None
        self._child: ChildProcess | None = None
        self._events: queue.Queue[dict] = queue.Queue()
        self._wake_r: int | None = None
        self.prefill = 0
        self.skew_fill = 0  # silence added to make up for the start skew of two streams

    # -- life cycle ---------------------------------------------------------------
    def open(self, timeout: float = 15.0) -> StreamInfo:
        """Start the host process and open the stream (not started yet)."""
        self.shared = shm.SharedBlock.create(RING_FRAMES, RING_FRAMES)
        wake_w = None
        if os.name == "posix":
            self._wake_r, wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
        cmd = host_command() + [
            "--shm", self.shared.path,
            "--in-capacity", str(RING_FRAMES),
            "--out-capacity", str(RING_FRAMES),
            "--spec", self.spec.to_json(),
        ]  # fmt: skip
        if wake_w is not None:
            cmd += ["--wake-fd", str(wake_w)]
        if self.jack_client_name:
            cmd += ["--jack-name", self.jack_client_name]
        try:
            self._child = ChildProcess(
                "the audio host process",
                cmd,
                pass_fds=(wake_w,) if wake_w is not None else (),
            )
        finally:
            if wake_w is not None:
                os.close(wake_w)
        threading.Thread(target=self._read_events, daemon=True).start()
        event = self._expect({"opened", "error"}, timeout)
        if event["event"] == "error":
            self.stop()
            raise StreamError(event["message"])
        self.info = StreamInfo(**{k: v for k, v in event.items() if k != "event"})
        self.shared.unlink()  # both sides have it mapped: no file left behind if we die
        return self.info

    def go(self, prefill_ms: float) -> None:
        """Prefill ``block + prefill_ms`` of silence and let the callbacks start.

        Returns at once so the engine can start pumping before the prefill
        runs out; a failure to start arrives later through :meth:`failure`.
        """
        info = self.info
        self.prefill = info.block + int(round(prefill_ms * 1e-3 * info.rate))
        self.shared.out_ring.write_silence(self.prefill)
        self.shared.control[shm.GO] = 1

    def grow(self, frames: int) -> None:
        """Add ``frames`` to the output margin (inserts that much silence)."""
        self.shared.out_ring.write_silence(frames)
        self.prefill += frames

    def settle_skew(self) -> bool:
        """Two streams: give the ring back what the output played before the input began.

        The output stream starts first and plays part of the prefill before
        the first input frame arrives (on JACK exactly one period); left
        alone, that skew comes off the engine's time budget and the latency
        depends on the start order. Once the output callback has measured
        the skew, as much silence is added, so the ring latency is
        ``prefill`` in both stream modes. True once done (at once in duplex).
        """
        if self.info.duplex:
            return True
        if self.counter(shm.SKEWS) == 0:
            return False
        self.skew_fill = max(0, self.counter(shm.SKEW))
        self.shared.out_ring.write_silence(self.skew_fill)
        return True

    def _expect(self, kinds: set[str], timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                event = self._events.get(timeout=max(0.0, min(left, 0.1)))
            except queue.Empty:
                if self._child is not None and self._child.proc.poll() is not None:
                    return {"event": "error", "message": self._child.exit_message()}
                if left <= 0:
                    return {"event": "error", "message": f"audio host silent for {timeout:g} s"}
                continue
            if event.get("event") in kinds:
                return event

    def _read_events(self) -> None:
        for line in pipe_lines(self._child.proc.stdout):
            try:
                self._events.put(json.loads(line))
            except ValueError:
                continue

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the host to close; kill it if it does not leave in ``timeout`` s."""
        child = self._child
        if child is not None:
            if self.shared is not None:
                self.shared.control[shm.STOP] = 1
            child.kill(grace=timeout)
            for stream in (child.proc.stdout, child.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
        self._child = None
        if self._wake_r is not None:
            os.close(self._wake_r)
            self._wake_r = None
        if self.shared is not None:
            self.shared.unlink()
            self.shared.close()
            self.shared = None

    # -- running ------------------------------------------------------------------
    def wait(self, timeout: float) -> None:
        """Block until the callback signals new input (or ``timeout`` s pass)."""
        if self._wake_r is None:
            time.sleep(min(timeout, 0.001))
            return
        ready, _, _ = select.select([self._wake_r], [], [], timeout)
        if ready:
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass

    def failure(self) -> str | None:
        """Why the host is no longer running, or None while it is fine."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if event.get("event") in ("stopped", "error"):
                return event.get("message", "the audio stream stopped")
        if self._child is None:
            return "the audio host is not running"
        if self._child.proc.poll() is not None:
            return self._child.exit_message()
        return None

    def ring_latency(self) -> int:
        """Frames from an input frame's arrival to the same frame's turn at the output.

        The prefill, less the skew between two separate streams (the output
        stream may have played some of the prefill before input began), plus
        the silence :meth:`settle_skew` added for it.
        """
        return self.prefill + self.skew_fill - self.counter(shm.SKEW)

    def counter(self, slot: int) -> int:
        """One of the host's shared counters (see :mod:`engine.audio.shm`)."""
        return int(self.shared.control[slot]) if self.shared is not None else 0
