"""``streamvox`` with no subcommand: the desktop app.

Creates the QApplication, follows the system colour scheme, installs the
exception hook (rotating log file under the user log dir, one dialog),
loads the settings, starts the engine and shows the main window.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QWidget

from app import theme
from app.crash import ExceptionHook, add_file_logging
from app.engine_client import EngineClient
from app.main_window import MainWindow
from app.priority import yield_to_audio
from app.settings_store import SettingsStore

log = logging.getLogger("streamvox")


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists, as under pytest-qt)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv if argv is None else argv)
    app.setApplicationName("streamvox")
    app.setOrganizationName("streamvox")
    app.setDesktopFileName("streamvox")
    theme.follow_system_scheme(app)
    return app  # type: ignore[return-value]


def show_notice(window: QMainWindow, notice: str | None) -> QMessageBox | None:
    """Show a start-up notice (e.g. settings set aside) in a box that does not block.

    A status-bar message would be replaced by the engine's first status.
    """
    if not notice:
        return None
    box = QMessageBox(QMessageBox.Icon.Warning, "streamvox", notice, parent=window)
    box.setModal(False)
    box.show()
    return box


def close_on_interrupt(window: QWidget) -> QTimer:
    """Ctrl+C in the terminal closes the window (and so the app and its engine).

    Python runs signal handlers only between bytecodes, never while Qt's
    event loop waits in C++, so a timer wakes the interpreter a few times a
    second. The returned timer must stay referenced.
    """
    signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)
    return timer


def main(argv: list[str] | None = None) -> int:
    """Run the app until its window closes; return the exit code."""
    multiprocessing.freeze_support()  # the engine runs in a child process (frozen builds)
    app = make_app(argv)
    log_file = add_file_logging()
    hook = ExceptionHook(log_file).install()
    settings = SettingsStore()
    log.info("settings from %s", settings.path)
    client = EngineClient()  # the engine's process keeps the normal priority...
    yield_to_audio()  # ...and the GUI steps back (see app/priority.py)
    window = MainWindow(client, settings)
    hook.parent_widget = window
    window.show()
    show_notice(window, settings.notice)
    close_on_interrupt(window)
    window.begin()
    try:
        return int(app.exec())
    finally:
        settings.flush()
        client.close()
        hook.uninstall()


if __name__ == "__main__":
    sys.exit(main())
