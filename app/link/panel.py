"""The Link panel: peer, listening port, chain, both ends on/off, impairment, stats (layout only).

Every figure it shows comes from the engine's
:class:`~engine.link.live.LinkStats`; the panel only formats them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.link.live import LinkStats

#: slider name -> (label, unit, maximum, LinkSend keyword)
IMPAIRMENTS = {
    "loss": ("Loss", "%", 50, "loss_pct"),
    "burst": ("Burst", "packets", 10, "burst"),
    "jitter": ("Jitter", "ms", 200, "jitter_ms"),
    "reorder": ("Reorder", "%", 50, "reorder_pct"),
}
#: stats row -> how a LinkStats shows in it
STATS = {
    "sent": lambda s: (
        f"{s.sent} frames ({s.payload_bps / 1000:.2f} kbit/s)" if s.sending_to else "–"
    ),
    "simulated lost": lambda s: str(s.simulated_lost) if s.sending_to else "–",
    "received": lambda s: str(s.received) if s.listening_on else "–",
    "lost": lambda s: str(s.lost) if s.listening_on else "–",
    "late": lambda s: str(s.late) if s.listening_on else "–",
    "rejected": lambda s: str(s.rejected) if s.listening_on else "–",
    "jitter": lambda s: f"{s.jitter_ms:.1f} ms" if s.listening_on else "–",
    "buffer delay": lambda s: (
        f"{s.delay_ms:.1f} ms (target {s.target_ms:.1f})" if s.listening_on else "–"
    ),
    "simulated link": lambda s: s.sim_line() or "–",
}
NO_STATS = "The link is off: listen for a peer, or send to one."
COMPARE_TIP = (
    "Slot A: your input through the codec, slot B: through Opus at the codec's rate, each "
    "over a simulated link with these impairments and a fixed 100 ms jitter buffer, "
    "time-aligned (Space switches). Nothing is sent."
)


class LinkPanel(QWidget):
    """Both ends of the codec link and what they count."""

    send_toggled = Signal(bool)
    listen_toggled = Signal(bool)
    impairment_changed = Signal()
    hear_requested = Signal()
    compare_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.peer = QLineEdit("127.0.0.1:5004")
        self.peer.setAccessibleName("Peer HOST:PORT")
        self.listen_port = QSpinBox()
        self.listen_port.setRange(0, 65535)
        self.listen_port.setValue(5004)
        self.listen_port.setSpecialValueText("any free port")
        self.bind = QLineEdit("127.0.0.1")
        self.chain = QComboBox()
        self.chain.addItems(["codec", "opus"])
        self.send = QPushButton("&Send")
        self.listen = QPushButton("L&isten")
        for button in (self.send, self.listen):
            button.setCheckable(True)
        self.vocoder = QCheckBox("through the &vocoder")
        self.hear = QPushButton("&Hear the link")
        self.compare = QPushButton("A/B: &codec vs Opus over a simulated link")
        self.compare.setToolTip(COMPARE_TIP)
        for button in (self.hear, self.compare):  # a click leaves Space to flip A/B
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.sliders: dict[str, QSlider] = {}
        self.slider_labels: dict[str, QLabel] = {}
        self.values: dict[str, QLabel] = {name: QLabel("–") for name in STATS}
        self.where = QLabel(NO_STATS)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.shown: LinkStats | None = None
        col = QVBoxLayout(self)
        col.addWidget(self._ends())
        col.addWidget(self._impairment())
        col.addWidget(self._stats(), 1)
        self.send.toggled.connect(self.send_toggled)
        self.listen.toggled.connect(self.listen_toggled)
        self.hear.clicked.connect(self.hear_requested)
        self.compare.clicked.connect(self.compare_requested)

    def _ends(self) -> QGroupBox:
        box = QGroupBox("Peers")
        form = QFormLayout(box)
        row = QHBoxLayout()
        row.addWidget(self.peer, 1)
        row.addWidget(self.send)
        form.addRow("Send to", row)
        row = QHBoxLayout()
        row.addWidget(self.listen_port)
        row.addWidget(QLabel("on"))
        row.addWidget(self.bind, 1)
        row.addWidget(self.listen)
        form.addRow("Listen on", row)
        form.addRow("Chain", self.chain)
        row = QHBoxLayout()
        row.addWidget(self.hear)
        row.addWidget(self.vocoder)
        row.addStretch(1)
        form.addRow("Link tap", row)
        return box

    def _impairment(self) -> QGroupBox:
        box = QGroupBox("Impairment: on the way out, and of the simulated link (seeded)")
        grid = QGridLayout(box)
        for i, (name, (label, unit, top, _key)) in enumerate(IMPAIRMENTS.items()):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(1 if name == "burst" else 0, top)
            slider.setAccessibleName(f"{label} ({unit})")
            value = QLabel()
            value.setMinimumWidth(90)
            self.sliders[name], self.slider_labels[name] = slider, value
            grid.addWidget(QLabel(label), i, 0)
            grid.addWidget(slider, i, 1)
            grid.addWidget(value, i, 2)
            slider.valueChanged.connect(self._slider_moved)
        grid.addWidget(self.compare, len(IMPAIRMENTS), 0, 1, 3)
        self._slider_moved()
        return box

    def _stats(self) -> QGroupBox:
        box = QGroupBox("Link statistics")
        form = QFormLayout(box)
        form.addRow(self.where)
        for name, label in self.values.items():
            form.addRow(name.capitalize(), label)
        form.addRow(self.error)
        return box

    def _slider_moved(self) -> None:
        for name, slider in self.sliders.items():
            self.slider_labels[name].setText(f"{slider.value()} {IMPAIRMENTS[name][1]}")
        self.impairment_changed.emit()

    def impairment(self) -> dict[str, float]:
        """The sliders as ``LinkSend`` keywords."""
        return {IMPAIRMENTS[n][3]: float(s.value()) for n, s in self.sliders.items()}

    def tap(self) -> str:
        """The tap "Hear the link" selects."""
        return "link+vocoder" if self.vocoder.isChecked() else "link"

    def set_stats(self, stats: LinkStats | None) -> None:
        """Show the engine's link stats (None: the link is off)."""
        self.shown = stats
        if stats is None:
            self.where.setText(NO_STATS)
            self.error.setText("")
            for label in self.values.values():
                label.setText("–")
            return
        ends = []
        if stats.sending_to:
            ends.append(f"sending {stats.send_chain} to {stats.sending_to}")
        if stats.listening_on:
            playing = "playing" if stats.playing else "waiting for a stream"
            ends.append(f"listening for {stats.receive_chain} on {stats.listening_on} ({playing})")
        self.where.setText(" · ".join(ends) or ("no peer" if stats.simulated else "starting…"))
        for name, label in self.values.items():
            label.setText(STATS[name](stats))
        self.error.setText(f"<span style='color:#c33'>{stats.error}</span>" if stats.error else "")
