"""What the helper processes the engine starts share: environment, leash, and a handle.

The audio host, the device listing, the Lab's player and the JACK probe
each run ``sys.executable -m MODULE`` (a frozen app re-enters its own
binary); each needs this checkout importable, whatever the caller's
working folder (:func:`child_env`). A process that must not outlive its
parent (a private JACK server, the probe client) starts with
:func:`die_with_parent`. :class:`ChildProcess` is the handle the long-lived
ones share: pipes, the last lines of stderr, why it died, a kill that never
hangs; each keeps its own message protocol on top, in JSON lines that the
child writes with :func:`emit_line`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def pipe_lines(stream: Iterable[bytes]) -> Iterator[bytes]:
    """A child's pipe line by line, until it ends or another thread closes it.

    A handle's ``stop``/``kill`` closes the pipes while the reader thread may
    be blocked in a read; that read then raises instead of ending cleanly.
    """
    try:
        yield from stream
    except (ValueError, OSError):  # closed under the reader: the child is gone
        return


def emit_line(fields: dict[str, Any]) -> None:
    """In a child: one JSON line to the parent on stdout (only one thread writes)."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


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


class ChildProcess:
    """One helper process (``cmd``) on pipes, and what every handle on one needs.

    Its stdout is the caller's (one message per line, read by the caller's
    own thread); the last lines of its stderr are kept for
    :meth:`exit_message`, which says why it is gone; :meth:`kill` ends it
    without ever blocking for long (a child stuck in PortAudio after its
    audio server died can hang for minutes).
    """

    def __init__(
        self,
        what: str,
        cmd: list[str],
        pass_fds: tuple[int, ...] = (),
        leash: bool = False,
        tail: int = 20,
    ) -> None:
        self.what = what  # "the audio host process": the subject of exit_message
        self._tail = tail
        self.stderr_lines: list[str] = []
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
            pass_fds=pass_fds,
            preexec_fn=die_with_parent if leash else None,
        )
        threading.Thread(target=self._read_stderr, name=f"{what} stderr", daemon=True).start()

    def send_line(self, text: str) -> None:
        """Write one line to its stdin (OSError or ValueError once it is gone)."""
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def exit_message(self) -> str:
        """Why it is gone (or not answering), with the last lines it wrote to stderr."""
        code = self.proc.poll()
        if code is None:
            what = "stopped answering"
        elif code < 0:
            what = f"crashed (signal {-code})"
        else:
            what = f"exited with status {code}"
        tail = " | ".join(self.stderr_lines[-3:])
        return f"{self.what} {what}" + (f": {tail}" if tail else "")

    def kill(self, grace: float = 0.0) -> None:
        """End it now (after ``grace`` s for one already leaving); never blocks much longer."""
        if grace > 0:
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:  # unkillable (stuck in the kernel): let it be
                pass
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def _read_stderr(self) -> None:
        for raw in pipe_lines(self.proc.stderr):
            line = raw.decode(errors="replace").strip()
            if line:
                self.stderr_lines.append(line)
                del self.stderr_lines[: -self._tail]
