"""Peak/RMS level meters in dBFS with latching clip indicators."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QWidget

from app import theme
from app.views.plot_base import Plot

FLOOR_DB = -60.0
ROWS = ("in", "out")


class LevelView(QWidget):
    """Horizontal RMS bars with a peak tick per signal; clip lights latch until clicked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = Plot()
        item = self.plot.getPlotItem()
        item.setXRange(FLOOR_DB, 0.0, padding=0.0)
        item.setYRange(-0.5, 1.5, padding=0.0)
        item.getAxis("left").setTicks([[(1.0, "in"), (0.0, "out")]])
        item.getAxis("left").setWidth(52)
        item.setLabel("bottom", "dBFS")
        item.showGrid(x=True, y=False, alpha=0.25)
        self.plot.setFixedHeight(96)
        brushes = [pg.mkBrush(theme.INPUT_COLOUR), pg.mkBrush(theme.OUTPUT_COLOUR)]
        self._y = np.array([1.0, 0.0])
        self._rms_width = np.zeros(2)
        self._peak_x = np.full(2, FLOOR_DB)
        self.bars = pg.BarGraphItem(
            x0=np.full(2, FLOOR_DB), y=self._y, width=self._rms_width, height=0.6, brushes=brushes
        )
        item.addItem(self.bars)
        self.peaks = pg.ScatterPlotItem(
            x=self._peak_x, y=self._y, symbol="|", size=26, pen=pg.mkPen(theme.CLIP_COLOUR, width=3)
        )
        item.addItem(self.peaks)
        self.values = {k: QLabel("– dBFS") for k in ROWS}
        self.clip = {k: QPushButton("CLIP") for k in ROWS}
        self.clipped = dict.fromkeys(ROWS, False)
        self.shown = {k: (FLOOR_DB, FLOOR_DB) for k in ROWS}  # (peak, rms) drawn, dBFS
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.plot, 0, 0, 2, 1)
        for row, key in enumerate(ROWS):
            self.values[key].setMinimumWidth(150)
            button = self.clip[key]
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            button.setToolTip(f"Lights when the {key}put reaches 0 dBFS; click to reset")
            button.setAccessibleName(f"{key}put clip indicator")
            button.clicked.connect(lambda _c=False, k=key: self.reset_clip(k))
            grid.addWidget(self.values[key], row, 1)
            grid.addWidget(button, row, 2)
        self._style_clips()

    def set_levels(self, peak_db: tuple[float, float], rms_db: tuple[float, float]) -> None:
        """Draw ``(in, out)`` peak and RMS levels in dBFS."""
        for i, key in enumerate(ROWS):
            rms = max(FLOOR_DB, min(0.0, rms_db[i]))
            peak = max(FLOOR_DB, min(0.0, peak_db[i]))
            self._rms_width[i] = rms - FLOOR_DB
            self._peak_x[i] = peak
            self.shown[key] = (peak, rms)
            self.values[key].setText(f"peak {_db_text(peak_db[i])}  rms {_db_text(rms_db[i])} dBFS")
        self.bars.setOpts(width=self._rms_width)
        self.peaks.setData(x=self._peak_x, y=self._y)

    def note_clip(self, key: str) -> None:
        """Light the clip indicator of ``key`` ("in"/"out"); it stays lit until reset."""
        if not self.clipped[key]:
            self.clipped[key] = True
            self._style_clips()

    def reset_clip(self, key: str) -> None:
        """Put out the clip indicator of ``key``."""
        self.clipped[key] = False
        self._style_clips()

    def _style_clips(self) -> None:
        for key, button in self.clip.items():
            lit = f"background: {theme.CLIP_COLOUR}; color: white; font-weight: bold;"
            button.setStyleSheet(lit if self.clipped[key] else "")


def _db_text(db: float) -> str:
    return "-inf" if db <= -120.0 else f"{db:5.1f}"
