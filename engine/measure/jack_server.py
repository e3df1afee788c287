"""A private JACK server for measurements: ``jackd --no-realtime -d dummy``.

The dummy driver needs no sound card and no real-time privileges, so the
live bench can measure the engine through a real audio server anywhere
``jackd`` is installed. Each server gets its own name (``-n``); clients find
it through ``JACK_DEFAULT_SERVER`` (set by :func:`use_server`), which the
engine's audio host process inherits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

from engine.audio.child import die_with_parent
from engine.audio.errors import AudioError


class JackUnavailableError(AudioError):
    """jackd or the JACK-Client package is missing, or the server would not start."""


def require_jack() -> str:
    """Path of ``jackd``; a clear error when it or the JACK-Client package is missing."""
    path = shutil.which("jackd")
    if path is None:
        raise JackUnavailableError(
            "jackd not found: the live bench needs the JACK audio server "
            "(Debian/Ubuntu: apt install jackd2)"
        )
    try:
        import jack  # noqa: F401
    except (ImportError, OSError) as exc:
        raise JackUnavailableError(
            f"the JACK-Client Python package is not usable ({exc}): pip install JACK-Client"
        ) from exc
    return path


class JackServer:
    """``jackd --no-realtime [-S] -n NAME -d dummy -r RATE -p PERIOD`` as a child process.

    ``sync`` (``-S``) makes each cycle wait for every client: a late client
    then stretches time instead of causing an xrun. Without it (the default)
    the server runs as it would for a real device, and late clients show up
    as xruns.
    """

    def __init__(
        self, rate: int = 48000, period: int = 256, sync: bool = False, pool: str = "svbench"
    ) -> None:
        if not 8000 <= rate <= 384000:
            raise ValueError(f"rate must be 8000..384000 Hz, got {rate}")
        if not 16 <= period <= 8192:
            raise ValueError(f"period must be 16..8192 frames, got {period}")
        self.rate, self.period, self.sync = rate, period, sync
        self.name, self._lock = _claim_name(pool)
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 10.0) -> None:
        """Start jackd and wait until a client can connect (JackUnavailableError if not)."""
        import jack

        cmd = [require_jack(), "--no-realtime", *(["-S"] if self.sync else []), "-n", self.name,
               "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]  # fmt: skip
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
        deadline = time.monotonic() + timeout
        jack.set_error_function(lambda _msg: None)  # "cannot connect" until it is up
        time.sleep(0.2)
        while time.monotonic() < deadline:
            try:
                client = jack.Client("svcheck", servername=self.name, no_start_server=True)
            except jack.JackError:
                if self.proc.poll() is not None:
                    raise JackUnavailableError(f"jackd exited: {self._tail()}") from None
                time.sleep(0.05)
                continue
            client.close()
            jack.set_error_function(None)
            return
        jack.set_error_function(None)
        self.stop()
        raise JackUnavailableError(f"jackd did not come up within {timeout:g} s")

    def _tail(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-3:])

    def log_lines(self) -> list[str]:
        """What jackd has printed so far (it names the client that made an xrun)."""
        self._log.seek(0, 2)
        end = self._log.tell()
        self._log.seek(0)
        return self._log.read(end).decode(errors="replace").splitlines()

    def kill(self) -> None:
        """Kill the server abruptly, as a crash would.

        A killed server leaves its slot in JACK's registry; :meth:`start`
        with the same name reclaims it, so a killed server must be started
        again and then :meth:`stop`-ped.
        """
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def stop(self) -> None:
        """Shut the server down cleanly (it frees its slot in JACK's registry)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None


NAME_POOL = 4


def _claim_name(pool: str):
    """A server name from a small pool, held by a file lock: ``(name, lock file)``.

    JACK keeps servers in a machine-wide registry of a few slots and frees
    a killed server's slot only when a server of the same name starts
    again; a fresh name per run would leak a slot on every interrupted run.
    The lock keeps parallel runs on different names; the bench (``svbench``)
    and the tests (``svtest``) draw from pools of their own.
    """
    import fcntl

    for i in range(NAME_POOL):
        path = os.path.join(tempfile.gettempdir(), f"streamvox-{pool}-jack-{os.getuid()}-{i}.lock")
        f = open(path, "w")  # noqa: SIM115 - held open as the lock
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        return f"{pool}{i}", f
    raise JackUnavailableError(f"all {NAME_POOL} {pool} JACK server names are in use")


def server_period(name: str | None) -> tuple[int, int]:
    """``(rate, period)`` of a running server (``None``: the default one)."""
    import jack

    try:
        client = jack.Client("svquery", servername=name, no_start_server=True)
    except jack.JackError as exc:
        raise JackUnavailableError(f"no JACK server '{name or 'default'}' is running") from exc
    try:
        return int(client.samplerate), int(client.blocksize)
    finally:
        client.close()


@contextlib.contextmanager
def use_server(name: str | None) -> Iterator[None]:
    """Point JACK clients of this process and its children at server ``name``."""
    old = os.environ.get("JACK_DEFAULT_SERVER")
    if name is not None:
        os.environ["JACK_DEFAULT_SERVER"] = name
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old
