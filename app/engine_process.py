"""The engine in a child process, so that a busy GUI can never starve the audio.

The engine thread is Python: in the GUI's process it would share one GIL
with painting, resizing and plotting, and a long redraw would make it late
(measured: hundreds of output underruns in 3 s of resizing). In a process
of its own it only competes for CPU time. Both ends keep the engine's two
channels:

    GUI  --commands (pipe)-------------------------> engine process: Engine.send
    GUI  <--latest snapshot (pipe, reader thread)--- engine process: publisher thread

Blocking calls (the loopback measurement) run on a thread of the child and
answer through the same event pipe. If the child dies, the last snapshot
turns into an error the GUI shows; :meth:`EngineProcess.alive` says so.
Nothing here imports Qt: the child only imports ``engine``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import multiprocessing.process
import queue
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from engine.live.snapshot import Snapshot

PUBLISH_HZ = 60.0
log = logging.getLogger(__name__)


def _restored(snap: Snapshot) -> Snapshot:
    """Read-only again after the trip: arrays frozen (the rest is frozen dataclasses and tuples)."""
    books = snap.tokens.codebooks if snap.tokens is not None else ()
    for a in (snap.wave_in, snap.wave_out, *(b.counts for b in books)):
        a.setflags(write=False)
    return snap


# -- child side ------------------------------------------------------------------


def serve(commands: Connection, events: Connection, engine_kwargs: dict[str, Any]) -> None:
    """Child process main: run an Engine, obey ``commands``, publish on ``events``.

    Ctrl+C in the terminal reaches the whole process group; the GUI decides
    what it means (it closes the window), so the child ignores it rather
    than die under a window that stays up.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from engine.live.engine import Engine

    engine = Engine(**engine_kwargs)
    lock = threading.Lock()  # one writer at a time on the event pipe
    done = threading.Event()

    def emit(message: tuple) -> None:
        with lock:
            events.send(message)

    def publish() -> None:
        last = None
        while not done.is_set():
            snap = engine.snapshot()
            if snap is not last:
                last = snap
                emit(("snapshot", snap))
            time.sleep(1.0 / PUBLISH_HZ)

    def call(call_id: int, method: str, args: tuple) -> None:
        try:
            value: Any = getattr(engine, method)(*args)
        except Exception as exc:  # noqa: BLE001 - handed back to the caller
            value = exc
        emit(("result", call_id, value))

    threading.Thread(target=publish, name="streamvox-publish", daemon=True).start()
    try:
        while True:
            message = commands.recv()
            if message[0] == "send":
                engine.send(message[1])
            elif message[0] == "call":
                args = (message[1], message[2], message[3])
                threading.Thread(target=call, args=args, daemon=True).start()
            else:  # "close"
                break
    except (EOFError, OSError):
        pass  # the GUI went away: shut down
    finally:
        done.set()
        engine.close()


# -- parent side -----------------------------------------------------------------


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT meanwhile (main thread only; elsewhere it cannot be changed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class EngineProcess:
    """Engine-like handle (``send``, ``snapshot``, ``measure``, ``close``) on a child process.

    ``engine_kwargs`` go to :class:`engine.live.engine.Engine` in the child
    (``options``, ``codec_weights``, ``vocoder_weights``).
    """

    def __init__(self, **engine_kwargs: Any) -> None:
        self.engine_kwargs = engine_kwargs
        self._results: dict[int, queue.Queue] = {}
        self._ids = itertools.count()
        self._send_lock = threading.Lock()
        self._spawn()

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs Qt
        self._commands, child_commands = ctx.Pipe()
        self._events, child_events = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=serve,
            args=(child_commands, child_events, self.engine_kwargs),
            name="streamvox-engine",
            daemon=True,
        )
        with _sigint_ignored():  # inherited through exec: covers the child's start-up
            self._proc.start()
        child_commands.close()
        child_events.close()
        self._latest = Snapshot()
        self._reader = threading.Thread(
            target=self._read, args=(self._proc, self._events), name="streamvox-events", daemon=True
        )
        self._reader.start()

    def ensure_running(self) -> bool:
        """Start a fresh child if the last one died; True if one was started."""
        if self._proc.is_alive():
            return False
        self._commands.close()
        self._spawn()
        return True

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self._proc.pid

    def alive(self) -> bool:
        """True while the child runs."""
        return self._proc.is_alive()

    def send(self, command: Any) -> None:
        """Queue one engine command (returns at once)."""
        self._post(("send", command))

    def snapshot(self) -> Snapshot:
        """The latest snapshot the child published (never blocks)."""
        return self._latest

    def measure(self, probe: np.ndarray, seconds: float = 1.0, timeout: float = 30.0):
        """:meth:`Engine.measure` in the child; blocks the caller only."""
        return self.call("measure", (probe, seconds, timeout), timeout + 5.0)

    def call(self, method: str, args: tuple, timeout: float) -> Any:
        """Run ``engine.method(*args)`` in the child; return its value or raise its error."""
        call_id = next(self._ids)
        box: queue.Queue = queue.Queue(maxsize=1)
        self._results[call_id] = box
        try:
            self._post(("call", call_id, method, args))
            try:
                value = box.get(timeout=timeout)
            except queue.Empty as exc:
                raise TimeoutError(f"the engine did not answer {method} in {timeout:g} s") from exc
        finally:
            self._results.pop(call_id, None)
        if isinstance(value, BaseException):
            raise value
        return value

    def close(self, timeout: float = 10.0) -> None:
        """Stop the engine and wait for the child to end (killed after ``timeout``)."""
        try:
            self._post(("close",))
        except (OSError, ValueError):
            pass
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2.0)
        self._commands.close()

    def _post(self, message: tuple) -> None:
        """Send to the child; a dead child's commands are dropped (its snapshot says why)."""
        with self._send_lock:
            try:
                self._commands.send(message)
            except (BrokenPipeError, ConnectionResetError, OSError) as exc:
                log.warning("engine process gone; %s not delivered (%s)", message[0], exc)

    def _read(self, proc: multiprocessing.process.BaseProcess, events: Connection) -> None:
        while True:
            try:
                message = events.recv()
            except (EOFError, OSError):
                break
            if message[0] == "snapshot":
                self._latest = _restored(message[1])
            else:
                box = self._results.get(message[1])
                if box is not None:
                    box.put(message[2])
        proc.join(1.0)
        code = proc.exitcode
        if code not in (0, None) and proc is self._proc:
            self._latest = dataclasses.replace(
                self._latest,
                state="error",
                error=f"the audio engine process ended unexpectedly (exit code {code}); "
                "press Start to start it again",
            )
