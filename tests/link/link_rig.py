"""Two real processes on 127.0.0.1: a ``streamvox link receive`` and a ``streamvox link send``."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: generous: a 2-core CI machine, two training runs beside us, twice as slow as here
START_TIMEOUT_S = 40.0


def streamvox(*args: str, stdout=subprocess.PIPE, netns: str | None = None) -> subprocess.Popen:
    """``streamvox ARGS`` in a child process (text stdout, stderr kept), maybe in a netns."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(proc: subprocess.Popen, prefix: str, timeout: float = START_TIMEOUT_S) -> str:
    """The first stdout line of ``proc`` starting with ``prefix`` (AssertionError on timeout)."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return line
    proc.kill()
    raise AssertionError(f"no '{prefix}' line; stdout {seen}; stderr {proc.stderr.read()}")


class Receiver:
    """``streamvox link receive`` on a free port of 127.0.0.1, until its stream ends."""

    def __init__(self, out: Path, *args: str, netns: str | None = None) -> None:
        self.out = out
        self.stats_path = out.with_suffix(".json")
        self.proc = streamvox(
            "link", "receive", "--port", "0", "--out", str(out),
            "--stats-json", str(self.stats_path), *args, netns=netns,
        )  # fmt: skip
        line = wait_for_line(self.proc, "listening on:")
        self.port = int(line.rsplit(":", 1)[1])

    def finish(self, timeout: float = 60.0) -> dict:
        """Wait for it to exit 0; its stats."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        assert self.proc.returncode == 0, err
        return json.loads(self.stats_path.read_text())


def send(
    port: int,
    wav: Path,
    *args: str,
    timeout: float = 60.0,
    host: str = "127.0.0.1",
    netns: str | None = None,
) -> str:
    """``streamvox link send`` to the receiver; its stdout (exit 0 checked)."""
    proc = streamvox("link", "send", "--to", f"{host}:{port}", str(wav), *args, netns=netns)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out
