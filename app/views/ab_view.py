"""The large A/B control: what the listener hears, with keyboard shortcuts.

Slots A and B each hold a tap, chosen from a list (our models, Opus at
several bitrates, G.711, AMR-WB, Speex, Codec 2, a reference codec into the
vocoder); Space flips between them. A tap whose codec library is missing
here is listed greyed out, its reason as the tooltip.
The four big buttons (keys 1-4) are quick choices among our own taps.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from app.settings import AB_TAPS, SLOTS, TAPS
from engine.classic.reference_stages import unavailable_reason
from engine.live.taps import check_tap, tap_stages

TAP_LABELS = {
    "dry": "Dry",
    "codec": "Codec",
    "vocoder": "Vocoder",
    "codec+vocoder": "Codec + vocoder",
}
_G711 = {"mulaw": "μ-law", "alaw": "A-law"}
_CLASSIC = {"amrwb": "AMR-WB", "speex": "Speex-WB", "codec2": "Codec 2"}
#: The classical vocoder's default geometry goes unsaid in labels.
_PGHI_DEFAULT = "pghi@512/128"


def tap_label(tap: str) -> str:
    """A tap in words: ``'opus@9.3/20ms+vocoder'`` -> ``'Opus 9.3 kbit/s + vocoder'``."""
    tap = check_tap(tap)
    if tap in TAP_LABELS:
        return TAP_LABELS[tap]
    text = " + ".join(_stage_label(k) for k in tap_stages(tap))
    return text[:1].upper() + text[1:] if text[:1].isascii() else text  # not "Μ-law"


def _stage_label(kind: str) -> str:
    if kind == "vocoder@lookahead":
        return "vocoder, look-ahead (+1 frame)"
    if kind == "link":
        return "link (received)"
    if kind.startswith("simlink@"):
        return f"{kind[len('simlink@') :]} over the simulated link"
    if kind.startswith("opus@"):
        kbps, ms = kind[5:].split("/")
        return f"Opus {kbps} kbit/s" + ("" if ms == "20ms" else f" {ms}")
    if kind.split("@")[0] in _G711:
        law, kbps = kind.split("@")
        return _G711[law] + ("" if kbps == "64" else " 16 kHz")
    if kind.split("@")[0] in _CLASSIC:
        family, kbps = kind.split("@")
        return f"{_CLASSIC[family]} {kbps} kbit/s"
    if kind.startswith("pghi@"):
        return "classical vocoder" + ("" if kind == _PGHI_DEFAULT else f" {kind[5:]}")
    return kind


def mark_unavailable(combo: QComboBox, index: int, reason: str) -> None:
    """Grey out one entry of a chooser (it cannot be picked) and say why in its tooltip."""
    combo.setItemText(index, f"{combo.itemText(index)} (unavailable)")
    combo.setItemData(index, f"unavailable: {reason}", Qt.ItemDataRole.ToolTipRole)
    combo.model().item(index).setEnabled(False)


class ABView(QGroupBox):
    """A and B choosers, four big quick-choice buttons (keys 1-4), Space flips, "now playing"."""

    tap_selected = Signal(str)
    slot_assigned = Signal(str, str)  # slot, tap
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
        self.slot_combos = {slot: self._make_combo(slot) for slot in SLOTS}
        self.slot_labels: dict[str, QLabel] = {}
        for i, slot in enumerate(SLOTS):
            row = QHBoxLayout()
            label = QLabel(f"&{slot}:")
            label.setBuddy(self.slot_combos[slot])
            self.slot_labels[slot] = label
            row.addWidget(label)
            row.addWidget(self.slot_combos[slot], 1)
            grid.addLayout(row, 1, 2 * i, 1, 2)
        self.playing = QLabel()
        self.playing.setFont(big)
        self.playing.setAccessibleName("Now playing")
        self.level_match = QCheckBox("Level &match")
        self.level_match.setToolTip("Loudness-match the taps so A/B compares sound, not level")
        hint = QLabel("Space: flip A/B · keys 1–4: quick choice")
        hint.setEnabled(False)
        grid.addWidget(self.playing, 2, 0, 1, 2)
        grid.addWidget(hint, 2, 2, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.level_match, 2, 3, Qt.AlignmentFlag.AlignRight)
        self.group.idClicked.connect(lambda i: self.tap_selected.emit(TAPS[i]))
        self.level_match.toggled.connect(self.level_match_toggled)
        self.shortcuts = self._make_shortcuts(self)

    def _make_combo(self, slot: str) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(f"Slot {slot}")
        combo.setToolTip(f"What slot {slot} holds (Space flips between A and B)")
        for tap in AB_TAPS:
            combo.addItem(tap_label(tap), tap)
            if reason := unavailable_reason(tap):
                mark_unavailable(combo, combo.count() - 1, reason)
        combo.activated.connect(
            lambda i, s=slot, c=combo: self.slot_assigned.emit(s, c.itemData(i))
        )
        return combo

    def bind_shortcuts(self, host: QWidget) -> None:
        """Put the keys on ``host`` (the main window).

        A hidden widget's keys never fire, and the A/B keys must act while
        other tabs (Tokens, Link) show the live stream too.
        """
        for shortcut in self.shortcuts:
            shortcut.setEnabled(False)
            shortcut.deleteLater()
        self.shortcuts = self._make_shortcuts(host)

    def _make_shortcuts(self, host: QWidget) -> list[QShortcut]:
        """Window-wide keys; text fields keep their own digits and Space."""
        made = []
        for i, tap in enumerate(TAPS):
            sc = QShortcut(QKeySequence(str(i + 1)), host)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(lambda t=tap: self.tap_selected.emit(t))
            made.append(sc)
        space = QShortcut(QKeySequence(Qt.Key.Key_Space), host)
        space.setContext(Qt.ShortcutContext.WindowShortcut)
        space.activated.connect(self.toggle_requested)
        made.append(space)
        return made

    def set_tap(self, tap: str) -> None:
        """Check the quick-choice button of ``tap`` (none if it has none) without emitting."""
        tap = check_tap(tap)
        was = self.group.blockSignals(True)
        if tap in self.buttons:
            self.buttons[tap].setChecked(True)
        else:  # an exclusive group cannot uncheck its last button by itself
            self.group.setExclusive(False)
            for b in self.buttons.values():
                b.setChecked(False)
            self.group.setExclusive(True)
        self.group.blockSignals(was)

    def set_slots(self, slots: dict[str, str], selected: str) -> None:
        """Show what A and B hold and which is selected, without emitting."""
        for slot, tap in slots.items():
            combo = self.slot_combos[slot]
            tap = check_tap(tap)
            index = combo.findData(tap)
            if index < 0:  # a tap from elsewhere (command line, older settings)
                combo.addItem(tap_label(tap), tap)
                index = combo.count() - 1
            was = combo.blockSignals(True)
            combo.setCurrentIndex(index)
            combo.blockSignals(was)
            label = self.slot_labels[slot]
            label.setText(f"▶ &{slot}:" if slot == selected else f"&{slot}:")
        self.set_tap(slots[selected])

    def slot_tap(self, slot: str) -> str:
        """The tap the chooser of ``slot`` shows."""
        return self.slot_combos[slot].currentData()

    def set_playing(self, text: str) -> None:
        """What the listener hears right now, in words."""
        self.playing.setText(f"Now playing: {text}")

    def set_level_match(self, on: bool) -> None:
        """Show the level-match switch without emitting."""
        was = self.level_match.blockSignals(True)
        self.level_match.setChecked(on)
        self.level_match.blockSignals(was)
