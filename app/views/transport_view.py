"""Start/Stop of the live stream, with its state visible at a glance."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app import theme

#: state -> (button text, dot colour, state word)
_STATES = {
    "stopped": ("▶  Start", "#888888", "Stopped"),
    "starting": ("■  Stop", theme.WARN_COLOUR, "Starting…"),
    "running": ("■  Stop", theme.OK_COLOUR, "Running"),
    "error": ("■  Stop", theme.CLIP_COLOUR, "Error, retrying"),
}


class TransportView(QWidget):
    """A big Start/Stop button and a coloured state line."""

    start_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = "stopped"
        self.button = QPushButton()
        self.button.setObjectName("startStop")
        self.button.setMinimumSize(150, 48)
        font = QFont(self.button.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.button.setFont(font)
        self.button.setToolTip("Start or stop the live stream (Ctrl+Return)")
        self.button.clicked.connect(self._clicked)
        self.dot = QLabel("●")
        self.dot.setFont(font)
        self.label = QLabel()
        self.label.setFont(font)
        self.detail = QLabel()
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setWordWrap(True)
        self.detail.setMaximumWidth(340)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addSpacing(8)
        row.addWidget(self.dot)
        row.addWidget(self.label)
        row.addStretch(1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(row)
        box.addWidget(self.detail)
        self.set_state("stopped")

    def set_state(self, state: str, detail: str = "") -> None:
        """Show ``state`` (stopped, starting, running, error) and a detail line."""
        if state not in _STATES:
            raise ValueError(f"unknown transport state {state!r}")
        self.state = state
        text, colour, word = _STATES[state]
        self.button.setText(text)
        self.dot.setStyleSheet(f"color: {colour};")
        self.label.setText(word)
        self.detail.setText(detail)

    def _clicked(self) -> None:
        if self.state in ("running", "starting", "error"):
            self.stop_requested.emit()
        else:
            self.start_requested.emit()
