"""Common set-up of the pyqtgraph plots: palette colours, no mouse interaction."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QWidget

from app import theme


class Plot(pg.PlotWidget):
    """A PlotWidget that follows the palette and does not pan or zoom.

    Meters are read, not explored: a stray wheel or drag must not move the
    axes away from the live data.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        theme.style_plot(self, self.palette())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        """Recolour when the light/dark palette changes."""
        ready = getattr(self, "plotItem", None) is not None
        if ready and event.type() == QEvent.Type.PaletteChange:
            theme.style_plot(self, self.palette())
        super().changeEvent(event)
