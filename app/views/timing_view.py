"""Processing time per stage as sparklines against the real-time budget."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QWidget

from app import theme
from app.views.plot_base import Plot

HISTORY = 150  # points: 5 s at 30 Hz


@dataclass(frozen=True)
class StageTiming:
    """One stage's step time in ms against its budget (one hop of real time)."""

    name: str
    last_ms: float
    p99_ms: float
    max_ms: float
    budget_ms: float


class _Row:
    """Label, sparkline and budget line of one stage (created once, reused)."""

    def __init__(self, grid: QGridLayout, row: int, name: str) -> None:
        self.label = QLabel(name)
        self.label.setMinimumWidth(150)
        self.plot = Plot()
        self.plot.setFixedHeight(48)
        item = self.plot.getPlotItem()
        item.hideAxis("bottom")
        item.getAxis("left").setWidth(40)
        item.setXRange(0, HISTORY - 1, padding=0.0)
        self.y = np.zeros(HISTORY, dtype=np.float32)
        self.x = np.arange(HISTORY, dtype=np.float32)
        self.curve = item.plot(self.x, self.y, pen=pg.mkPen(theme.OUTPUT_COLOUR, width=1.5))
        self.budget = pg.InfiniteLine(
            pos=1.0, angle=0, pen=pg.mkPen(theme.BUDGET_COLOUR, style=pg.QtCore.Qt.DashLine)
        )
        item.addItem(self.budget)
        self.budget_ms = 0.0
        grid.addWidget(self.label, row, 0)
        grid.addWidget(self.plot, row, 1)

    def push(self, t: StageTiming) -> None:
        self.y[:-1] = self.y[1:]
        self.y[-1] = t.last_ms
        self.curve.setData(self.x, self.y, skipFiniteCheck=True)
        if t.budget_ms != self.budget_ms:
            self.budget_ms = t.budget_ms
            self.budget.setValue(t.budget_ms)
            self.plot.getPlotItem().setYRange(0.0, 1.25 * t.budget_ms, padding=0.0)
        budget = f"{t.budget_ms:.1f} ms" if t.budget_ms > 0 else "–"
        late = t.budget_ms > 0 and t.p99_ms > t.budget_ms
        name = f"<b style='color:{theme.CLIP_COLOUR}'>{t.name}</b>" if late else f"<b>{t.name}</b>"
        self.label.setText(
            f"{name} {t.last_ms:.1f} ms<br/>p99 {t.p99_ms:.1f} · max {t.max_ms:.1f}<br/>"
            f"budget {budget}"
        )
        self.label.setToolTip("red: the slowest 1% of steps take longer than the budget")

    def set_visible(self, on: bool) -> None:
        self.label.setVisible(on)
        self.plot.setVisible(on)


class TimingView(QGroupBox):
    """One sparkline per running stage; the dashed line is the stage's real-time budget."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Processing time per step", parent)
        self.grid = QGridLayout(self)
        self.grid.setVerticalSpacing(2)
        self.rows: dict[str, _Row] = {}
        self.empty = QLabel("Start the stream to see processing times.")
        self.grid.addWidget(self.empty, 0, 0, 1, 2)

    def push(self, timings: list[StageTiming]) -> None:
        """Append one point per stage; rows of stages that stopped are hidden."""
        names = {t.name for t in timings}
        for t in timings:
            row = self.rows.get(t.name)
            if row is None:
                row = self.rows[t.name] = _Row(self.grid, len(self.rows) + 1, t.name)
            row.set_visible(True)
            row.push(t)
        for name, row in self.rows.items():
            if name not in names:
                row.set_visible(False)
        self.empty.setVisible(not timings)

    def history(self, name: str) -> np.ndarray:
        """The points of ``name``'s sparkline, oldest first."""
        return self.rows[name].y.copy()
