"""Layout of the main window's central area (no behaviour: controllers add that).

    [Start/Stop + state]  [ A/B: Dry | Codec | Vocoder | Codec+vocoder ]
    +-----------------+------------------------------------------------+
    | Audio devices   |  input / output waveforms                      |
    |                 |  level meters          | Levels (gains, mute)  |
    | Chain           |  Latency | Processing time | Engine            |
    +-----------------+------------------------------------------------+

The left column scrolls when the window is short (1280x720 fits).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.views.ab_view import ABView
from app.views.chain_view import ChainView
from app.views.device_view import DeviceView
from app.views.latency_view import LatencyView
from app.views.level_view import LevelView
from app.views.mix_view import MixView
from app.views.stats_view import StatsView
from app.views.timing_view import TimingView
from app.views.transport_view import TransportView
from app.views.waveform_view import WaveformView


class MainView(QWidget):
    """Every panel, placed; attributes name them for the controllers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.transport = TransportView()
        self.ab = ABView()
        self.devices = DeviceView()
        self.chain = ChainView()
        self.mix = MixView()
        self.waveforms = WaveformView()
        self.levels = LevelView()
        self.latency = LatencyView()
        self.timing = TimingView()
        self.stats = StatsView()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 4)
        top = QHBoxLayout()
        top.addWidget(self.transport, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.ab, 1)
        outer.addLayout(top)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self._left_column())
        self.splitter.addWidget(self._meters())
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([400, 880])
        self.splitter.setCollapsible(0, False)
        outer.addWidget(self.splitter, 1)
        self._tab_order()

    def _left_column(self) -> QScrollArea:
        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(0, 0, 4, 0)
        for w in (self.devices, self.chain):
            col.addWidget(w)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(inner.sizeHint().width() + 16)
        return scroll

    def _meters(self) -> QWidget:
        panel = QWidget()
        col = QVBoxLayout(panel)
        col.setContentsMargins(4, 0, 0, 0)
        col.addWidget(self.waveforms, 1)
        middle = QHBoxLayout()
        middle.addWidget(self.levels, 1)
        middle.addWidget(self.mix)
        col.addLayout(middle)
        row = QHBoxLayout()
        row.addWidget(self.latency)
        row.addWidget(self.timing, 1)
        row.addWidget(self.stats)
        col.addLayout(row)
        return panel

    def _tab_order(self) -> None:
        """Keyboard order follows the reading order: top row, left column, meters."""
        order = [self.transport.button, *self.ab.buttons.values(), self.ab.level_match]
        d, c, m = self.devices, self.chain, self.mix
        order += [d.host_api, d.input, d.output, d.rate, d.block, d.latency, d.refresh]
        order += [c.codec, c.vocoder, c.chunk, c.models]
        order += [*self.levels.clip.values()]
        order += [m.master_bypass, m.input_gain, m.output_gain, m.mute, self.latency.measure]
        for a, b in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(a, b)
