"""The GUI side's handle on one Lab player child (:mod:`engine.lab.player_child`).

Every wait on the child is bounded: a child that does not answer in time is
killed (with PortAudio 19.6 and a dead JACK server it would hang for
minutes) and the caller gets a :class:`StreamError`. Events the child sends
on its own (``ended``, ``failed``) and its death are handed to ``on_event``
from a reader thread. While :meth:`PlayerProcess.watch` is on, a watchdog
thread also kills a child whose callbacks stop counting (a child frozen as
a whole cannot report that itself) and reports it as ``failed``.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable

import numpy as np

from engine.audio.child import ChildProcess, pipe_lines
from engine.audio.errors import AudioError, DeviceError, StreamError
from engine.lab.player_protocol import CALLBACKS, ControlBlock, child_command

STALL_S = 3.0  # playing, yet no callback for this long: the child is frozen (it says so at 2 s)

ERRORS: dict[str, type[Exception]] = {
    "DeviceError": DeviceError,
    "StreamError": StreamError,
    "AudioError": AudioError,
    "ValueError": ValueError,
}


class PlayerProcess:
    """Start a child, send it commands with deadlines, kill it when it hangs."""

    def __init__(
        self,
        block: int,
        fade_ms: float,
        jack_client_name: str | None,
        on_event: Callable[[dict], None],
    ) -> None:
        self.control = ControlBlock.create()
        self.slots: np.ndarray = self.control.slots
        self._on_event = on_event
        self._replies: queue.Queue[dict] = queue.Queue()
        self._ready = threading.Event()
        self._exited = threading.Event()
        self._closing = False
        self._next_id = 0
        self._watching = False
        self._seen, self._seen_at = 0, 0.0
        cmd = child_command() + ["--control", self.control.path, "--block", str(block)]
        cmd += ["--fade-ms", str(fade_ms)]
        if jack_client_name:
            cmd += ["--jack-name", jack_client_name]
        try:
            self._child = ChildProcess("the audio player process", cmd)
        except OSError as exc:
            self.control.unlink()
            raise StreamError(f"cannot start the audio player process: {exc}") from exc
        self.proc = self._child.proc
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._watchdog, daemon=True).start()

    @property
    def alive(self) -> bool:
        """True while the child runs and has not been told to go."""
        return not self._closing and not self._exited.is_set() and self.proc.poll() is None

    def wait_ready(self, timeout: float) -> None:
        """Wait until the child has PortAudio up; kill it and raise after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._exited.is_set() or self.proc.poll() is not None:
                self.kill()
                raise StreamError(self.exit_message())
            if time.monotonic() > deadline:
                self.kill()
                raise StreamError(f"the audio player process did not start in {timeout:g} s")
        self.control.unlink()  # both sides have it mapped: nothing left behind if we die

    def request(self, cmd: str, timeout: float, **fields) -> dict:
        """Send ``cmd`` and return the child's reply; raise the error it reports.

        A child that does not answer in ``timeout`` s is killed (StreamError).
        """
        self._next_id += 1
        rid = self._next_id
        try:
            self._child.send_line(json.dumps({"id": rid, "cmd": cmd, **fields}))
        except (OSError, ValueError) as exc:
            self.kill()
            raise StreamError(self.exit_message()) from exc
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self._replies.get(timeout=0.02)
            except queue.Empty:
                if self._exited.is_set():
                    raise StreamError(self.exit_message()) from None
                if time.monotonic() > deadline:
                    self.kill()
                    raise StreamError(
                        f"the audio player did not answer '{cmd}' within {timeout:g} s "
                        "(output device or audio server not responding); it was stopped"
                    ) from None
                continue
            if reply.get("id") != rid:
                continue  # the answer to a request that timed out earlier
            if "error" in reply:
                raise ERRORS.get(reply.get("kind"), StreamError)(reply["error"])
            return reply

    def watch(self, on: bool) -> None:
        """Expect callbacks (a take plays) or not."""
        self._seen, self._seen_at = int(self.slots[CALLBACKS]), time.monotonic()
        self._watching = on

    def quit(self, timeout: float) -> None:
        """Ask the child to leave (closing PortAudio politely); kill it after ``timeout`` s."""
        if self.alive:
            try:
                self.request("quit", timeout)
            except (AudioError, ValueError):
                pass
        self.kill(grace=timeout)

    def kill(self, grace: float = 0.0) -> None:
        """End the child now (after ``grace`` s for one already leaving); never blocks longer."""
        self._closing = True
        self._child.kill(grace)
        self.control.unlink()

    def exit_message(self) -> str:
        """Why the child is gone, with the last lines it wrote to stderr."""
        return self._child.exit_message()

    # -- reader threads ----------------------------------------------------------------------
    def _read_stdout(self) -> None:
        for line in pipe_lines(self.proc.stdout):
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "id" in msg:
                self._replies.put(msg)
            elif msg.get("event") == "ready":
                self._ready.set()
            else:
                self._on_event(msg)
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        self._exited.set()
        if not self._closing:
            self._on_event({"event": "exit", "message": self.exit_message()})

    def _watchdog(self) -> None:
        while not self._closing and not self._exited.wait(0.1):
            if not self._watching:
                continue
            count, now = int(self.slots[CALLBACKS]), time.monotonic()
            if count != self._seen:
                self._seen, self._seen_at = count, now
            elif now - self._seen_at > STALL_S:
                self.kill()
                message = (
                    f"the audio player stopped responding for {STALL_S:g} s "
                    "(output device or audio server hung); it was stopped"
                )
                self._on_event({"event": "failed", "message": message})
                return
