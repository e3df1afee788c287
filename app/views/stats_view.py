"""Engine load, xrun counters by cause, codec bitrate."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QProgressBar, QWidget

from app import theme

#: xrun causes, in the order shown: (key, label).
XRUN_CAUSES = (
    ("input_overflow", "input overflow"),
    ("output_underflow", "output underflow"),
    ("ring_overrun", "ring overrun"),
    ("ring_underrun", "ring underrun"),
)


class StatsView(QGroupBox):
    """Load bar, xrun counts (red when any), bitrate."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Engine", parent)
        self.load = QProgressBar()
        self.load.setRange(0, 100)
        self.load.setFormat("%v %")
        self.load.setAccessibleName("Engine load")
        self.xruns = QLabel("0")
        self.xrun_detail = QLabel()
        self.xrun_detail.setEnabled(False)
        self.bitrate = QLabel("–")
        form = QFormLayout(self)
        form.addRow("Load", self.load)
        form.addRow("Xruns", self.xruns)
        form.addRow(self.xrun_detail)
        form.addRow("Codec", self.bitrate)

    def set_load(self, fraction: float) -> None:
        """Processing time over real time (1.0 = all of it)."""
        pct = max(0, min(100, round(100 * fraction)))
        self.load.setValue(pct)
        colour = theme.OK_COLOUR if pct < 60 else theme.WARN_COLOUR
        colour = theme.CLIP_COLOUR if pct >= 90 else colour
        self.load.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; }}")

    def set_xruns(self, counts: Mapping[str, int]) -> None:
        """Counts per cause (see :data:`XRUN_CAUSES`)."""
        total = sum(counts.values())
        parts = [f"{label}: {counts.get(key, 0)}" for key, label in XRUN_CAUSES]
        self.xruns.setText(f"<b>{total}</b>")
        self.xruns.setToolTip("\n".join(parts))
        self.xrun_detail.setText("<br/>".join(parts))
        self.xruns.setStyleSheet(f"color: {theme.CLIP_COLOUR};" if total else "")

    def set_bitrate(self, bps: float | None, tokens_per_s: float | None) -> None:
        """Codec bitrate and token rate (None: codec not running)."""
        if bps is None:
            self.bitrate.setText("–")
            return
        tokens = "" if tokens_per_s is None else f", {tokens_per_s:.0f} tokens/s"
        self.bitrate.setText(f"{bps / 1000:.2f} kbit/s{tokens}")
