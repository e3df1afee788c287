"""Global exception hook: log every uncaught error to a rotating file, show one dialog.

An error that repeats on every display tick must not open thirty dialogs a
second, so only the first error of a session opens a dialog; later ones are
logged and counted in that dialog while it is open (and in the log after).
Errors raised in other threads are logged there and shown from the GUI
thread through a queued signal.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

import platformdirs
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

LOG_DIR_ENV = "STREAMVOX_LOG_DIR"
LOG_NAME = "streamvox.log"
log = logging.getLogger("streamvox.crash")


def log_dir() -> Path:
    """``$STREAMVOX_LOG_DIR`` or the platform's user log dir."""
    override = os.environ.get(LOG_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_log_dir("streamvox"))


def add_file_logging(directory: Path | None = None) -> Path:
    """Attach a rotating file handler (1 MB x 3) to the root logger; return the file."""
    directory = log_dir() if directory is None else directory
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOG_NAME
    root = logging.getLogger()
    for h in root.handlers:
        if isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path:
            return path
    handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return path


class ExceptionHook(QObject):
    """Replaces ``sys.excepthook`` and ``threading.excepthook`` while installed."""

    _report = Signal(str, str)  # (one-line summary, full traceback)

    def __init__(self, log_file: Path, parent_widget: QWidget | None = None) -> None:
        super().__init__()
        self.log_file = log_file
        self.parent_widget = parent_widget
        self.dialog: QMessageBox | None = None
        self.count = 0
        self._saved: tuple[object, object] | None = None
        self._report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> ExceptionHook:
        """Take over the interpreter's hooks (undone by :meth:`uninstall`)."""
        self._saved = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread
        return self

    def uninstall(self) -> None:
        """Give the interpreter its previous hooks back."""
        if self._saved is not None:
            sys.excepthook, threading.excepthook = self._saved  # type: ignore[assignment]
            self._saved = None

    def handle(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        """Log the error and report it to the person (once per session as a dialog)."""
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("uncaught exception:\n%s", text)
        self._report.emit(f"{exc_type.__name__}: {exc}", text)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(str, str)
    def _show(self, summary: str, details: str) -> None:
        self.count += 1
        if self.dialog is None:
            self.dialog = self._make_dialog(summary, details)
            self.dialog.show()
        elif self.dialog.isVisible():
            self.dialog.setInformativeText(self._informative())

    def _informative(self) -> str:
        more = self.count - 1
        extra = f"\n\n{more} more error(s) since then." if more else ""
        return (
            f"The details were written to {self.log_file}. Please attach that file "
            f"to a bug report. You can keep working; restart the stream if audio "
            f"stopped.{extra}"
        )

    def _make_dialog(self, summary: str, details: str) -> QMessageBox:
        box = QMessageBox(self.parent_widget)
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("streamvox: unexpected error")
        box.setText(f"Something went wrong: {summary}")
        box.setInformativeText(self._informative())
        box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.setWindowModality(Qt.WindowModality.NonModal)
        return box
