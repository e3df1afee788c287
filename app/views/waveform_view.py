"""Scrolling input and output waveforms."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app import theme
from app.views.plot_base import Plot


class WaveformView(QWidget):
    """Two stacked plots (input above output) of the engine's recent waveforms.

    The engine sends a decimated window of the last seconds; each curve is
    created once and redrawn with ``setData`` on arrays owned here, resized
    only when the engine's window length changes.
    """

    def __init__(self, seconds: float = 2.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seconds = seconds
        self.plots = {"in": Plot(), "out": Plot()}
        colours = {"in": theme.INPUT_COLOUR, "out": theme.OUTPUT_COLOUR}
        titles = {"in": "Input", "out": "Output"}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._x = np.zeros(0, dtype=np.float32)
        self._y = {"in": np.zeros(0, np.float32), "out": np.zeros(0, np.float32)}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        for key, plot in self.plots.items():
            item = plot.getPlotItem()
            item.setYRange(-1.0, 1.0, padding=0.02)
            item.setXRange(-seconds, 0.0, padding=0.0)
            item.setLabel("left", titles[key])
            item.getAxis("left").setWidth(52)
            item.showGrid(x=True, y=True, alpha=0.12)
            plot.setMinimumHeight(70)
            curve = item.plot(pen=pg.mkPen(colours[key], width=1))
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            self.curves[key] = curve
            layout.addWidget(plot)
        self.plots["out"].setXLink(self.plots["in"])
        self.plots["in"].getPlotItem().getAxis("bottom").setStyle(showValues=False)
        self.plots["out"].getPlotItem().setLabel("bottom", "seconds")

    def set_seconds(self, seconds: float) -> None:
        """Span of the x axis (the engine's waveform window)."""
        self.seconds = seconds
        self._x = np.zeros(0, dtype=np.float32)
        self.plots["in"].getPlotItem().setXRange(-seconds, 0.0, padding=0.0)

    def set_waveforms(self, inp: np.ndarray, out: np.ndarray) -> None:
        """Draw ``(N,)`` input and output samples spread over the last ``seconds``."""
        n = min(len(inp), len(out))
        if n == 0:
            return
        if self._x.shape[0] != n:
            self._x = np.linspace(-self.seconds, 0.0, n, dtype=np.float32)
            self._y = {"in": np.zeros(n, np.float32), "out": np.zeros(n, np.float32)}
        for key, data in (("in", inp), ("out", out)):
            np.copyto(self._y[key], data[-n:], casting="unsafe")
            self.curves[key].setData(self._x, self._y[key], skipFiniteCheck=True)

    def drawn(self, key: str) -> np.ndarray:
        """The y values the ``key`` ("in"/"out") curve shows now."""
        y = self.curves[key].yData
        return np.zeros(0, np.float32) if y is None else np.asarray(y)
