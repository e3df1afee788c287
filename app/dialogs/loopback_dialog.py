"""Loopback latency measurement: instructions, a Measure button, the result."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.worker import Worker

INSTRUCTIONS = """<p>This measures the real glass-to-glass delay: streamvox plays a short
probe on the output and finds it again in the input.</p>
<ol>
<li>Connect the output to the input: a cable from the headphone jack to the
line/mic input, or a virtual loopback (PipeWire/PulseAudio "Monitor of …",
JACK: connect <i>streamvox:out</i> to <i>streamvox:in</i>, macOS: BlackHole,
Windows: VB-Cable).</li>
<li><b>Take your headphones off</b>: the probe is loud.</li>
<li>Choose the loopback devices in the device panel, press Start, then Measure.</li>
</ol>
<p>The probe replaces the input for a moment and runs through what you are
listening to (A/B choice), so the result includes the chain's latency. Dry
gives the sharpest match.</p>"""


class LoopbackDialog(QDialog):
    """Runs ``measure()`` (blocking, returns ms) in the background and shows the result."""

    measured = Signal(float)

    def __init__(self, measure: Callable[[], float], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Measure latency")
        self._measure = measure
        self.worker: Worker | None = None
        self.result_ms: float | None = None
        text = QLabel(INSTRUCTIONS)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.button = QPushButton("&Measure")
        self.button.setDefault(True)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addWidget(text)
        box.addWidget(self.button)
        box.addWidget(self.result)
        box.addWidget(buttons)
        self.button.clicked.connect(self.start)
        self.resize(520, 360)

    def start(self) -> Worker:
        """Start one measurement."""
        self.button.setEnabled(False)
        self.result.setText("Measuring… (a few seconds)")
        self.worker = Worker(lambda _w: self._measure(), self)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.worker.finished.connect(lambda: self.button.setEnabled(True))
        return self.worker.start()

    def _done(self, ms: float) -> None:
        self.result_ms = float(ms)
        self.result.setText(f"<b>Measured glass-to-glass latency: {ms:.1f} ms</b>")
        self.measured.emit(float(ms))

    def _failed(self, exc: BaseException) -> None:
        self.result.setText(
            f"<b>No measurement:</b> {exc}<br/>Check that the output really reaches the "
            "input (cable or virtual loopback) and that the level is not muted."
        )
