"""Write a PNG of the main window; also a no-display smoke test of the whole app.

    QT_QPA_PLATFORM=offscreen python -m app.screenshot OUT.png [--start] [--seconds S]

It builds the real window over the real engine (default weights) exactly as
``streamvox`` does, with default settings in a temporary folder (the
person's own settings are not read or changed), optionally starts the
stream on the default devices, lets the meters run, grabs the window and
exits: 0 on success, non-zero when the window could not be drawn. The README's
screenshot is made with a signal playing, by
``tests/gui/test_screenshot.py`` (see its docstring).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

SIZE = (1280, 720)


def grab(window: QWidget, path: str | os.PathLike[str]) -> Path:
    """Render ``window`` (works offscreen) into a PNG at ``path``; return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out), "PNG"):
        raise OSError(f"could not write {out}")
    return out


def run_for(seconds: float) -> None:
    """Let Qt process events for ``seconds`` (meters keep drawing)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m app.screenshot", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("out", type=Path, help="PNG file to write")
    p.add_argument("--start", action="store_true", help="start the stream on the default devices")
    p.add_argument("--seconds", type=float, default=3.0, help="time to run before the grab")
    return p


def main(argv: list[str] | None = None) -> int:
    """Open the window, optionally start, wait, grab, close."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seconds < 0:
        parser.error(f"--seconds must be >= 0, got {args.seconds}")
    with tempfile.TemporaryDirectory(prefix="streamvox-shot-") as tmp:
        os.environ.setdefault("STREAMVOX_CONFIG_DIR", tmp)
        from app.engine_client import EngineClient
        from app.main import make_app
        from app.main_window import MainWindow
        from app.settings_store import SettingsStore

        make_app([sys.argv[0]])
        client = EngineClient()
        try:
            window = MainWindow(client, SettingsStore())
            window.resize(*SIZE)
            window.show()
            window.begin()
            run_for(2.0)  # devices listed
            if args.start:
                window.session.start()
            run_for(args.seconds)
            path = grab(window, args.out)
            window.close()
        finally:
            client.close()
    print(f"wrote {path} ({SIZE[0]}x{SIZE[1]}); state: {client.snapshot().state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
