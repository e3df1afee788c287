"""The GUI check of ``streamvox self-test``: the main window can be created.

The engine's checks (:mod:`engine.selftest`) know no front end; the
``streamvox`` command line (:mod:`app.cli`) adds this one. It runs
:mod:`app.smoke` in a child process, so that a Qt abort cannot take the
caller down, and this module never imports Qt.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from engine.audio.child import child_env
from engine.selftest import CheckResult

GUI_TIMEOUT_S = 120.0


def gui_command(timeout: float) -> list[str]:
    """How to start :mod:`app.smoke`; a frozen ``streamvox`` emulates ``-m`` for it."""
    return [sys.executable, "-m", "app.smoke", "--timeout", f"{timeout:g}"]


def check_gui(timeout: float = GUI_TIMEOUT_S) -> CheckResult:
    """Create the main window offscreen in a child process (no audio is started)."""
    env = child_env()
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")) and sys.platform == "linux":
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
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
