"""Output panel: master bypass, input/output gain, mute, limiter indicator."""

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

from app import theme
from app.settings import GAIN_RANGE_DB

_STEPS_PER_DB = 2  # sliders move in 0.5 dB steps


class GainSlider(QSlider):
    """A horizontal slider in decibels (0.5 dB steps)."""

    def __init__(self, name: str) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.setRange(int(GAIN_RANGE_DB[0] * _STEPS_PER_DB), int(GAIN_RANGE_DB[1] * _STEPS_PER_DB))
        self.setSingleStep(1)
        self.setPageStep(6 * _STEPS_PER_DB)
        self.setAccessibleName(name)

    def db(self) -> float:
        """Current gain in dB."""
        return self.value() / _STEPS_PER_DB

    def set_db(self, db: float) -> None:
        """Move to ``db`` (rounded to the step)."""
        self.setValue(round(db * _STEPS_PER_DB))


class MixView(QGroupBox):
    """Gains, mute, master bypass and the limiter light."""

    master_bypass_toggled = Signal(bool)
    input_gain_changed = Signal(float)
    output_gain_changed = Signal(float)
    mute_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Levels", parent)
        self.master_bypass = QCheckBox("Master &bypass (dry only)")
        self.input_gain = GainSlider("Input gain")
        self.output_gain = GainSlider("Output gain")
        self.input_gain_label = QLabel()
        self.output_gain_label = QLabel()
        for label in (self.input_gain_label, self.output_gain_label):
            label.setMinimumWidth(70)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.mute = QPushButton("M&ute")
        self.mute.setCheckable(True)
        self.mute.setToolTip("Silence the output (the stream keeps running)")
        self.limiter = QLabel("Limiter")
        self.limiter.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.limiter.setMinimumWidth(130)
        self.limiter.setToolTip("Lights while the safety limiter is reducing the output")
        self.limiter_active = False
        grid = QGridLayout(self)
        grid.addWidget(self.master_bypass, 0, 0, 1, 3)
        in_title, out_title = QLabel("&Input gain"), QLabel("Ou&tput gain")
        in_title.setBuddy(self.input_gain)
        out_title.setBuddy(self.output_gain)
        grid.addWidget(in_title, 1, 0)
        grid.addWidget(self.input_gain, 1, 1)
        grid.addWidget(self.input_gain_label, 1, 2)
        grid.addWidget(out_title, 2, 0)
        grid.addWidget(self.output_gain, 2, 1)
        grid.addWidget(self.output_gain_label, 2, 2)
        grid.addWidget(self.mute, 3, 0)
        grid.addWidget(self.limiter, 3, 1, 1, 2)
        self.master_bypass.toggled.connect(self.master_bypass_toggled)
        self.mute.toggled.connect(self._mute_changed)
        self.input_gain.valueChanged.connect(self._in_moved)
        self.output_gain.valueChanged.connect(self._out_moved)
        self.set_limiter(None)
        self._show_gains()

    def set_master_bypass(self, on: bool) -> None:
        """Show the bypass switch without emitting."""
        _quiet(self.master_bypass, lambda: self.master_bypass.setChecked(on))

    def set_gains(self, input_db: float, output_db: float) -> None:
        """Show both gains without emitting."""
        _quiet(self.input_gain, lambda: self.input_gain.set_db(input_db))
        _quiet(self.output_gain, lambda: self.output_gain.set_db(output_db))
        self._show_gains()

    def set_muted(self, on: bool) -> None:
        """Show the mute state without emitting."""
        _quiet(self.mute, lambda: self.mute.setChecked(on))
        self._style_mute()

    def set_limiter(self, active: bool | None, reduction_db: float = 0.0) -> None:
        """Light the indicator while the limiter reduces the output (None: not reported)."""
        self.limiter_active = active
        if active is None:
            self.limiter.setText("Limiter –")
            self.limiter.setToolTip("The engine does not report the limiter's activity")
            self.limiter.setStyleSheet("")
        elif active:
            self.limiter.setText(f"Limiter  {-abs(reduction_db):.1f} dB")
            self.limiter.setStyleSheet(
                f"background: {theme.WARN_COLOUR}; color: black; border-radius: 3px;"
            )
        else:
            self.limiter.setText("Limiter idle")
            self.limiter.setStyleSheet("")

    def _in_moved(self) -> None:
        self._show_gains()
        self.input_gain_changed.emit(self.input_gain.db())

    def _out_moved(self) -> None:
        self._show_gains()
        self.output_gain_changed.emit(self.output_gain.db())

    def _mute_changed(self, on: bool) -> None:
        self._style_mute()
        self.mute_toggled.emit(on)

    def _style_mute(self) -> None:
        on = self.mute.isChecked()
        self.mute.setText("Muted" if on else "M&ute")
        self.mute.setStyleSheet(f"background: {theme.CLIP_COLOUR}; color: white;" if on else "")

    def _show_gains(self) -> None:
        self.input_gain_label.setText(f"{self.input_gain.db():+.1f} dB")
        self.output_gain_label.setText(f"{self.output_gain.db():+.1f} dB")


def _quiet(widget: QWidget, change) -> None:
    was = widget.blockSignals(True)
    change()
    widget.blockSignals(was)
