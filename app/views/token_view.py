"""The codec's token stream: what is sent, how much of each codebook it uses, what it could cost.

Every figure comes from the engine's :class:`~engine.token_stats.TokenStats`;
this view only formats and draws them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from app import theme
from app.views.plot_base import Plot
from engine.token_stats import CodebookUsage, TokenStats

EMPTY = "Start the stream with the codec on to see the tokens it sends."
ENTROPY_TIP = (
    "Order-0 entropy of the tokens sent over the window: the bitrate an entropy "
    "coder using these token frequencies would need, against the fixed bits per "
    "token sent now."
)


class _Codebook:
    """Usage line and histogram (one bar per entry) of one codebook, created once."""

    def __init__(self, layout: QVBoxLayout, index: int) -> None:
        self.index = index
        self.label = QLabel()
        self.plot = Plot()
        self.plot.setMinimumHeight(110)
        item = self.plot.getPlotItem()
        item.setLabel("bottom", f"codebook {index + 1} entry")
        item.getAxis("left").setWidth(40)
        self.curve = item.plot(
            np.zeros(2),
            np.zeros(1),
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(theme.OUTPUT_COLOUR, width=1),
            brush=pg.mkBrush(theme.OUTPUT_COLOUR),
        )
        self.counts = np.zeros(0, np.int64)
        layout.addWidget(self.label)
        layout.addWidget(self.plot, 1)

    def show(self, book: CodebookUsage, bits_per_token: int) -> None:
        self.label.setText(
            f"<b>Codebook {self.index + 1}</b>: {book.used} of {book.size} entries used · "
            f"entropy {book.entropy_bits:.2f} bits/token (sent as {bits_per_token})"
        )
        self.counts = book.counts
        edges = np.arange(book.size + 1, dtype=np.float64) - 0.5
        self.curve.setData(edges, book.counts.astype(np.float64))
        self.plot.getPlotItem().setXRange(-0.5, book.size - 0.5, padding=0.0)

    def set_visible(self, on: bool) -> None:
        self.label.setVisible(on)
        self.plot.setVisible(on)


class TokenView(QWidget):
    """Live bitrate, token rate, codebook usage and entropy of the running codec."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stats: TokenStats | None = None
        self.bitrate, self.tokens = QLabel("–"), QLabel("–")
        self.entropy, self.window = QLabel("–"), QLabel("–")
        self.entropy.setToolTip(ENTROPY_TIP)
        box = QGroupBox("Token stream")
        form = QFormLayout(box)
        form.addRow("Bitrate", self.bitrate)
        form.addRow("Tokens", self.tokens)
        form.addRow("Entropy-coded", self.entropy)
        form.addRow("Window", self.window)
        self.empty = QLabel(EMPTY)
        self.usage = QGroupBox("Codebook usage over the window")
        self._usage_layout = QVBoxLayout(self.usage)
        self.books: list[_Codebook] = []
        col = QVBoxLayout(self)
        col.addWidget(box)
        col.addWidget(self.empty, 1, Qt.AlignmentFlag.AlignTop)  # shown instead of the usage
        col.addWidget(self.usage, 1)
        self.set_stats(None)

    def set_stats(self, t: TokenStats | None) -> None:
        """Show ``t``; None: no codec runs (figures blank, histograms hidden)."""
        self.stats = t
        self.empty.setVisible(t is None)
        self.usage.setVisible(t is not None)
        if t is None:
            for label in (self.bitrate, self.tokens, self.entropy, self.window):
                label.setText("–")
            return
        self.bitrate.setText(
            f"<b>{t.bitrate_bps / 1000:.2f} kbit/s</b> — what the decoder receives "
            f"({t.tokens_per_hop} tokens × {t.bits_per_token} bits per hop)"
        )
        self.tokens.setText(f"{t.tokens_per_s:.0f} tokens/s · {t.tokens_total:,} sent")
        self.entropy.setText(
            f"{t.entropy_bitrate_bps / 1000:.2f} kbit/s at the measured entropy: "
            f"an entropy coder could save {100 * t.saving:.0f} %"
        )
        self.window.setText(f"last {t.window_s:.1f} s ({t.window_hops} hops)")
        while len(self.books) < len(t.codebooks):
            self.books.append(_Codebook(self._usage_layout, len(self.books)))
        for i, book in enumerate(self.books):
            book.set_visible(i < len(t.codebooks))
            if i < len(t.codebooks):
                book.show(t.codebooks[i], t.bits_per_token)
