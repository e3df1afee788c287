"""Engine errors as dialogs a person can act on: what happened, what to do, a button for it.

The engine reports errors as text in its snapshot (it stays alive and, for
device trouble, retries by itself). :func:`classify` turns the text into a
kind with advice; :class:`ErrorDialogs` shows at most one dialog at a time
and does not show the same error again until the stream has run since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

NO_DEVICE, DEVICE_LOST, SETTINGS_REFUSED, WEIGHTS, OTHER = (
    "no-device",
    "device-lost",
    "settings-refused",
    "weights",
    "other",
)


@dataclass(frozen=True)
class Advice:
    """A classified error: title, what to do, and the actions offered (button texts)."""

    kind: str
    title: str
    advice: str
    actions: tuple[str, ...]


_RULES: tuple[tuple[str, tuple[str, ...], str, str, tuple[str, ...]], ...] = (
    (
        WEIGHTS,
        ("cannot build the stages", "checkpoint", "weights", "safetensors", "sha256"),
        "Model weights cannot be used",
        "The weights file is missing, damaged or of another model. Choose other "
        "weights in the Models dialog, or go back to the bundled ones.",
        ("Open models…", "Use bundled weights"),
    ),
    (
        NO_DEVICE,
        ("no audio input device", "no audio output device", "no input device", "no output device"),
        "No audio device",
        "streamvox found no usable device. Plug in a microphone or headphones, "
        "press Refresh devices, or pick another host API.",
        ("Refresh devices",),
    ),
    (
        DEVICE_LOST,
        ("no audio callbacks", "disconnected", "server gone", "stopped unexpectedly", "aborted"),
        "Audio device lost",
        "The device stopped delivering audio (unplugged, or the audio server "
        "stopped). streamvox keeps retrying every second; reconnect it, or choose "
        "another device.",
        ("Refresh devices", "Stop"),
    ),
    (
        SETTINGS_REFUSED,
        ("refuses", "invalid sample rate", "unanticipated host error", "matches several"),
        "The device refused these settings",
        "Choose another sample rate, block size or device in the device panel, then Start.",
        (),
    ),
)


def classify(message: str, kind: str | None = None) -> Advice:
    """The kind of an engine error message (or the given ``kind``), with advice and actions."""
    low = message.lower()
    for rule_kind, needles, title, advice, actions in _RULES:
        if rule_kind == kind or (kind is None and any(n in low for n in needles)):
            return Advice(rule_kind, title, advice, actions)
    return Advice(OTHER, "Audio engine error", "Check the settings and press Start.", ("Start",))


class ErrorDialogs:
    """One non-modal error dialog at a time; the same error is not repeated while unresolved."""

    def __init__(self, parent: QWidget | None, actions: Mapping[str, Callable[[], None]]) -> None:
        self.parent = parent
        self.actions = dict(actions)
        self.dialog: QMessageBox | None = None
        self.shown: set[str] = set()
        self.count = 0

    def report(self, message: str, kind: str | None = None) -> Advice | None:
        """Show ``message`` unless it was already shown since the last :meth:`resolved`."""
        if message in self.shown:
            return None
        self.shown.add(message)
        advice = classify(message, kind)
        self.count += 1
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.close()
        self.dialog = self._make(advice, message)
        self.dialog.show()
        return advice

    def resolved(self) -> None:
        """The stream runs again: later errors are news."""
        self.shown.clear()

    def _make(self, advice: Advice, message: str) -> QMessageBox:
        box = QMessageBox(self.parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(f"streamvox: {advice.title}")
        box.setText(f"<b>{advice.title}</b>")
        box.setInformativeText(f"{message}\n\n{advice.advice}")
        box.setWindowModality(Qt.WindowModality.NonModal)
        for text in advice.actions:
            button = box.addButton(text, QMessageBox.ButtonRole.ActionRole)
            callback = self.actions.get(text)
            if callback is not None:
                button.clicked.connect(callback)
        box.addButton(QMessageBox.StandardButton.Close)
        return box
