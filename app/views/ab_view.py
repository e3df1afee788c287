"""The large A/B control: what the listener hears, with keyboard shortcuts."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QWidget,
)

from app.settings import TAPS

TAP_LABELS = {
    "dry": "Dry",
    "codec": "Codec",
    "vocoder": "Vocoder",
    "codec+vocoder": "Codec + vocoder",
}


class ABView(QGroupBox):
    """Four big exclusive buttons (keys 1-4), Space for A/B, a "now playing" label."""

    tap_selected = Signal(str)
    toggle_requested = Signal()
    level_match_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Listen to (A/B)", parent)
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout(self)
        for i, tap in enumerate(TAPS):
            b = QPushButton(f"{i + 1}   {TAP_LABELS[tap]}")
            b.setCheckable(True)
            b.setFont(big)
            b.setMinimumHeight(52)
            b.setToolTip(f"Hear {TAP_LABELS[tap].lower()} (key {i + 1})")
            self.group.addButton(b, i)
            self.buttons[tap] = b
            grid.addWidget(b, 0, i)
        self.playing = QLabel()
        self.playing.setFont(big)
        self.playing.setAccessibleName("Now playing")
        self.level_match = QCheckBox("Level &match")
        self.level_match.setToolTip("Loudness-match the taps so A/B compares sound, not level")
        hint = QLabel("Space: back and forth · keys 1–4: choose")
        hint.setEnabled(False)
        grid.addWidget(self.playing, 1, 0, 1, 2)
        grid.addWidget(hint, 1, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.level_match, 1, 3, Qt.AlignmentFlag.AlignRight)
        self.group.idClicked.connect(lambda i: self.tap_selected.emit(TAPS[i]))
        self.level_match.toggled.connect(self.level_match_toggled)
        self.shortcuts = self._make_shortcuts()

    def _make_shortcuts(self) -> list[QShortcut]:
        """Window-wide keys; text fields keep their own digits and Space."""
        made = []
        for i, tap in enumerate(TAPS):
            sc = QShortcut(QKeySequence(str(i + 1)), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(lambda t=tap: self.tap_selected.emit(t))
            made.append(sc)
        space = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        space.setContext(Qt.ShortcutContext.WindowShortcut)
        space.activated.connect(self.toggle_requested)
        made.append(space)
        return made

    def set_tap(self, tap: str) -> None:
        """Check the button of ``tap`` without emitting."""
        if tap not in TAPS:
            raise ValueError(f"unknown tap {tap!r}; choose one of {TAPS}")
        was = self.group.blockSignals(True)
        self.buttons[tap].setChecked(True)
        self.group.blockSignals(was)

    def set_playing(self, text: str) -> None:
        """What the listener hears right now, in words."""
        self.playing.setText(f"Now playing: {text}")

    def set_level_match(self, on: bool) -> None:
        """Show the level-match switch without emitting."""
        was = self.level_match.blockSignals(True)
        self.level_match.setChecked(on)
        self.level_match.blockSignals(was)
