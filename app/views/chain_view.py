"""Chain panel: codec and vocoder on/bypass, the weights in use, vocoder chunk size."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSlider,
    QWidget,
)

from app.settings import CHUNK_RANGE


class ChainView(QGroupBox):
    """Switches for the two stages and the chunk slider; changes apply live."""

    codec_toggled = Signal(bool)
    vocoder_toggled = Signal(bool)
    chunk_changed = Signal(int)
    models_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Chain", parent)
        self.frame_ms = 20.0
        self.codec = QCheckBox("&Codec (TinyTransformerCodec)")
        self.codec.setToolTip("Unchecked: the codec stage is bypassed")
        self.codec_weights = _weights_label()
        self.vocoder = QCheckBox("&Vocoder (Streaming Vocos)")
        self.vocoder.setToolTip("Unchecked: the vocoder stage is bypassed")
        self.vocoder_weights = _weights_label()
        self.chunk = QSlider(Qt.Orientation.Horizontal)
        self.chunk.setRange(*CHUNK_RANGE)
        self.chunk.setPageStep(1)
        self.chunk.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.chunk.setTickInterval(1)
        self.chunk.setAccessibleName("Vocoder chunk size in frames")
        self.chunk_label = QLabel()
        self.models = QPushButton("&Models…")
        self.models.setToolTip("Import weights or choose which weights each stage uses")
        grid = QGridLayout(self)
        grid.addWidget(self.codec, 0, 0, 1, 2)
        grid.addWidget(self.codec_weights, 1, 0, 1, 2)
        grid.addWidget(self.vocoder, 2, 0, 1, 2)
        grid.addWidget(self.vocoder_weights, 3, 0, 1, 2)
        chunk_title = QLabel("C&hunk")
        chunk_title.setBuddy(self.chunk)
        grid.addWidget(chunk_title, 4, 0)
        grid.addWidget(self.chunk, 4, 1)
        grid.addWidget(self.chunk_label, 5, 0, 1, 2)
        grid.addWidget(self.models, 6, 1, Qt.AlignmentFlag.AlignRight)
        self.codec.toggled.connect(self.codec_toggled)
        self.vocoder.toggled.connect(self.vocoder_toggled)
        self.chunk.valueChanged.connect(self._chunk_moved)
        self.models.clicked.connect(self.models_requested)
        self._update_chunk_label()

    def set_codec(self, on: bool) -> None:
        """Show the codec switch without emitting."""
        _quiet(self.codec, on)

    def set_vocoder(self, on: bool) -> None:
        """Show the vocoder switch without emitting."""
        _quiet(self.vocoder, on)

    def set_chunk(self, frames: int) -> None:
        """Show the chunk size without emitting."""
        was = self.chunk.blockSignals(True)
        self.chunk.setValue(frames)
        self.chunk.blockSignals(was)
        self._update_chunk_label()

    def set_frame_ms(self, ms: float) -> None:
        """Latency of one vocoder frame, as the engine's stage reports it."""
        if ms != self.frame_ms:
            self.frame_ms = ms
            self._update_chunk_label()

    def set_weights(self, codec: str, vocoder: str) -> None:
        """Describe the weights each stage uses."""
        self.codec_weights.setText(f"weights: {codec}")
        self.vocoder_weights.setText(f"weights: {vocoder}")

    def _chunk_moved(self, frames: int) -> None:
        self._update_chunk_label()
        self.chunk_changed.emit(frames)

    def _update_chunk_label(self) -> None:
        n = self.chunk.value()
        self.chunk_label.setText(
            f"{n} frame{'s' if n > 1 else ''} = {n * self.frame_ms:g} ms vocoder latency "
            f"(each step {self.frame_ms:+g} ms)"
        )


def _weights_label() -> QLabel:
    label = QLabel()
    label.setIndent(22)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


def _quiet(box: QCheckBox, on: bool) -> None:
    was = box.blockSignals(True)
    box.setChecked(on)
    box.blockSignals(was)
