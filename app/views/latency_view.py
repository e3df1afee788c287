"""Latency breakdown: what each part of the path costs, and the measured total."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton, QWidget

#: Rows shown, in path order: (key in the breakdown, label).
ROWS = (
    ("device_in", "Device input"),
    ("device_out", "Device output"),
    ("buffers", "Buffers"),
    ("resampling", "Resampling"),
    ("codec", "Codec"),
    ("vocoder", "Vocoder"),
    ("total", "Total"),
)


class LatencyView(QGroupBox):
    """A table of milliseconds, and the loopback measurement next to the total."""

    measure_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Latency", parent)
        grid = QGridLayout(self)
        grid.setVerticalSpacing(2)
        self.values: dict[str, QLabel] = {}
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, (key, text) in enumerate(ROWS):
            label = QLabel(f"<b>{text}</b>" if key == "total" else text)
            value = QLabel("–")
            value.setAlignment(right)
            value.setMinimumWidth(70)
            grid.addWidget(label, row, 0)
            grid.addWidget(value, row, 1)
            self.values[key] = value
        self.measured = QLabel("not measured")
        self.measured.setAlignment(right)
        grid.addWidget(QLabel("Measured (loopback)"), len(ROWS), 0)
        grid.addWidget(self.measured, len(ROWS), 1)
        self.measure = QPushButton("Measure &latency…")
        self.measure.setToolTip("Play a probe through a loopback and time its return")
        self.measure.clicked.connect(self.measure_requested)
        grid.addWidget(self.measure, len(ROWS) + 1, 0, 1, 2)

    def set_breakdown(self, ms: Mapping[str, float | None]) -> None:
        """Show each part in ms; a missing or None part shows "–"."""
        for key, _text in ROWS:
            value = ms.get(key)
            self.values[key].setText("–" if value is None else f"{value:.1f} ms")

    def set_measured(self, ms: float | None, note: str = "") -> None:
        """Show the loopback result (None: not measured yet)."""
        text = "not measured" if ms is None else f"{ms:.1f} ms"
        self.measured.setText(f"{text} {note}".strip())
