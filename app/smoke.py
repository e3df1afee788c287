"""No-display smoke test of the GUI, run by ``streamvox self-test`` in a child process.

    python -m app.smoke [--timeout S]        (frozen: streamvox -m app.smoke)

Builds the real main window over the real engine process exactly as
``streamvox`` does, but never starts audio: default settings in a temporary
folder (the person's own settings are neither read nor changed), the
offscreen Qt platform when there is no display. It waits for the engine
process's first snapshot (proof that the engine child starts, which is what
breaks first in a frozen build), draws the window once, closes everything
and prints one line. Exit code 0 on success, 1 with the reason otherwise.
It runs in a child process so that a Qt abort cannot take the caller down:
:func:`check_gui` is the caller's side, the GUI check that the ``streamvox``
command line adds to ``self-test`` (the engine's checks know no front end).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

from engine.audio.child import child_env

if TYPE_CHECKING:
    from engine.selftest import CheckResult

GUI_TIMEOUT_S = 120.0


def use_offscreen_without_display(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Select Qt's offscreen platform when no display is reachable; True if it did."""
    if env.get("QT_QPA_PLATFORM") or env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return False
    if sys.platform in ("win32", "darwin"):
        return False  # those always have a window server
    env["QT_QPA_PLATFORM"] = "offscreen"
    return True


def check_window(timeout: float) -> str:
    """Create, draw and close the main window; return a summary or raise RuntimeError."""
    from PySide6.QtWidgets import QApplication

    from app.engine_client import EngineClient
    from app.main import make_app
    from app.main_window import MainWindow
    from app.settings_store import SettingsStore

    qt_app = make_app([sys.argv[0]])
    client = EngineClient()
    try:
        window = MainWindow(client, SettingsStore())
        window.show()
        window.begin()
        deadline = time.monotonic() + timeout
        while client.snapshot().time == 0.0 and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.02)
        snap = client.snapshot()
        if snap.time == 0.0:
            raise RuntimeError(f"the engine process sent no snapshot within {timeout:g} s")
        if snap.state != "stopped":
            raise RuntimeError(f"engine state is {snap.state!r} before any start: {snap.error}")
        image = window.grab()
        if image.isNull() or image.width() == 0:
            raise RuntimeError("the main window could not be drawn")
        size = f"{image.width()}x{image.height()}"
        window.close()
        QApplication.processEvents()
    finally:
        client.close()
    return f"main window {size} drawn on '{qt_app.platformName()}', engine process answered"


def main(argv: list[str] | None = None) -> int:
    """Run :func:`check_window` with throw-away settings; print one line."""
    parser = argparse.ArgumentParser(prog="app.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="wait for the engine (s)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    use_offscreen_without_display()
    with tempfile.TemporaryDirectory(prefix="streamvox-smoke-") as tmp:
        os.environ["STREAMVOX_CONFIG_DIR"] = tmp
        try:
            summary = check_window(args.timeout)
        except Exception as exc:  # noqa: BLE001 - reported as one line to the parent
            print(f"FAIL {type(exc).__name__}: {exc}")
            return 1
    print(f"OK {summary}")
    return 0


# -- the caller's side ---------------------------------------------------------------------


def gui_command(timeout: float) -> list[str]:
    """How to start this module; a frozen ``streamvox`` emulates ``-m`` for it."""
    return [sys.executable, "-m", "app.smoke", "--timeout", f"{timeout:g}"]


def check_gui(timeout: float = GUI_TIMEOUT_S) -> CheckResult:
    """Create the main window offscreen in a child process (no audio is started)."""
    from engine.selftest import CheckResult

    env = child_env()
    use_offscreen_without_display(env)
    try:
        done = subprocess.run(
            gui_command(timeout),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout + 30.0,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CheckResult("GUI", False, f"the GUI process could not run: {exc}")
    lines = done.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    if done.returncode == 0 and last.startswith("OK "):
        return CheckResult("GUI", True, last[3:])
    return CheckResult("GUI", False, _gui_failure(done.returncode, last, done.stderr))


def _gui_failure(code: int, last: str, stderr: str) -> str:
    """The child's own FAIL line, or how it died and the end of its stderr."""
    if last.startswith("FAIL "):
        return last[5:]
    if code < 0:
        why = f"the GUI process was killed by {signal.Signals(-code).name}"
    else:
        why = f"the GUI process exited with code {code}"
    tail = " | ".join(stderr.strip().splitlines()[-3:])
    return why + (f" (stderr: {tail})" if tail else "")


if __name__ == "__main__":
    sys.exit(main())
