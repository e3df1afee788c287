"""The live settings of a running app: one current value, saved shortly after changes.

Slider drags change a setting many times a second; writing the file each
time is pointless, so saves are coalesced (``delay_ms``) and flushed on exit.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app import settings as st

log = logging.getLogger(__name__)


class SettingsStore(QObject):
    """The current :class:`~app.settings.Settings`; ``update`` replaces it and schedules a save."""

    changed = Signal(object)  # the new Settings

    def __init__(
        self, path: Path | None = None, delay_ms: int = 400, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.path = st.settings_path() if path is None else path
        loaded = st.load_checked(self.path)
        self.value = loaded.settings
        #: What to tell the user about the settings file (None: nothing).
        self.notice = loaded.notice
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)

    def update(self, **changes: Any) -> st.Settings:
        """Apply ``changes`` (field=value; invalid values raise ValueError) and schedule a save."""
        new = replace(self.value, **changes)
        if new != self.value:
            self.value = new
            self._timer.start()
            self.changed.emit(new)
        return new

    def flush(self) -> None:
        """Write now if a save is pending (a failed write is logged, not fatal)."""
        self._timer.stop()
        try:
            st.save(self.value, self.path)
        except OSError as exc:
            log.warning("could not save settings to %s: %s", self.path, exc)
