"""The Lab tab: files and chains in, an objective comparison out (layout only).

    +-- Speech files --------+  [Per utterance] [Quality: PESQ-WB v]  [Export…]
    | list                   |  results table (mean ± 95% CI per chain,
    | Add files… Add folder… |                 utterance rows on demand)
    +-- Chains --------------+  [▶ Processed] [▶ Original] [⇄ Flip (F)] [■ Stop]
    | [x] Dry  [x] Codec ... |  quality vs bitrate plot | per-utterance spread
    | more: opus@32, ...     |
    [Run] [Cancel] progress  |

The controller (``app.controllers.lab``) fills it; this module only lays
out, opens the file dialogs and emits what the person asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.views.plot_base import Plot
from engine.classic.reference_stages import OPUS_LADDER, unavailable_reason

#: Chains offered as check boxes: (chain name for ``evaluate``, label).
CHAIN_CHOICES = (
    ("dry", "Dry (reference)"),
    ("codec", "Codec"),
    ("vocoder", "Vocoder"),
    ("codec+vocoder", "Codec + vocoder"),
    *((name, f"Opus {name[5:]} kbps") for name in OPUS_LADDER),
    ("opus@24", "Opus 24 kbps"),
    ("mulaw", "G.711 μ-law"),
    ("alaw", "G.711 A-law"),
    ("amrwb@6.6", "AMR-WB 6.6 kbps"),
    ("amrwb@8.85", "AMR-WB 8.85 kbps"),
    ("amrwb@12.65", "AMR-WB 12.65 kbps"),
    ("speex@9.8", "Speex-WB 9.8 kbps"),
    ("codec2@3.2", "Codec 2 3.2 kbps"),
    ("codec2@1.2", "Codec 2 1.2 kbps"),
    ("pghi", "Classical vocoder (PGHI)"),
    ("codec+pghi", "Codec + classical vocoder"),
)
DEFAULT_CHAINS = ("dry", "codec", "codec+vocoder", *OPUS_LADDER)
COLUMNS = (
    "chain", "utterance", "n", "PESQ-WB", "STOI", "SI-SDR (dB)", "log-mel L1",
    "bitrate (kbps)", "latency (ms)", "RTF", "aligned",
)  # fmt: skip
#: Metrics the plots can show: (field name, label).
PLOT_METRICS = (
    ("pesq_wb", "PESQ-WB"),
    ("stoi", "STOI"),
    ("si_sdr", "SI-SDR (dB)"),
    ("mel_l1", "log-mel L1"),
)
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
KEY_ROLE = Qt.ItemDataRole.UserRole  # (chain, file) of a row, on its first cell
VALUE_ROLE = Qt.ItemDataRole.UserRole + 1  # the unrounded number of a cell


class LabView(QWidget):
    """Inputs on the left; table, playback and plots on the right."""

    files_added = Signal(list)  # paths (files or folders)
    remove_requested = Signal()
    clear_requested = Signal()
    chains_changed = Signal()
    run_requested = Signal()
    cancel_requested = Signal()
    per_utterance_toggled = Signal(bool)
    metric_changed = Signal(str)
    selection_changed = Signal()
    play_requested = Signal(str)  # "processed" or "original"
    flip_requested = Signal()
    stop_requested = Signal()
    export_requested = Signal(str)  # a folder

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._inputs())
        splitter.addWidget(self._results())
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 950])
        splitter.setCollapsible(0, False)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 4)
        outer.addWidget(splitter)
        flip = QShortcut(QKeySequence("F"), self)
        flip.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        flip.activated.connect(self.flip_requested)
        self.shortcuts = [flip]

    # -- layout ----------------------------------------------------------------------
    def _inputs(self) -> QWidget:
        panel = QWidget()
        col = QVBoxLayout(panel)
        col.setContentsMargins(0, 0, 4, 0)
        col.addWidget(self._files_box(), 1)
        col.addWidget(self._chains_box())
        run_row = QHBoxLayout()
        self.run = QPushButton("&Run evaluation")
        self.cancel = QPushButton("Cance&l")
        self.cancel.setEnabled(False)
        run_row.addWidget(self.run)
        run_row.addWidget(self.cancel)
        col.addLayout(run_row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setAccessibleName("Evaluation progress")
        col.addWidget(self.progress)
        self.status = QLabel("Add speech files, pick chains, then Run.")
        self.status.setWordWrap(True)
        col.addWidget(self.status)
        self.run.clicked.connect(self.run_requested)
        self.cancel.clicked.connect(self.cancel_requested)
        return panel

    def _files_box(self) -> QGroupBox:
        box = QGroupBox("Speech files")
        grid = QGridLayout(box)
        self.files = QListWidget()
        self.files.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.files.setAccessibleName("Chosen speech files")
        self.add_files = QPushButton("Add &files…")
        self.add_folder = QPushButton("Add f&older…")
        self.remove = QPushButton("Remove")
        self.clear = QPushButton("Clear")
        grid.addWidget(self.files, 0, 0, 1, 4)
        for i, b in enumerate((self.add_files, self.add_folder, self.remove, self.clear)):
            grid.addWidget(b, 1, i)
        self.add_files.clicked.connect(self._pick_files)
        self.add_folder.clicked.connect(self._pick_folder)
        self.remove.clicked.connect(self.remove_requested)
        self.clear.clicked.connect(self.clear_requested)
        return box

    def _chains_box(self) -> QGroupBox:
        box = QGroupBox("Chains")
        grid = QGridLayout(box)
        self.chain_boxes: dict[str, QCheckBox] = {}
        #: Chains whose codec library is missing here: name -> why (their boxes stay greyed out).
        self.unavailable: dict[str, str] = {}
        for i, (name, label) in enumerate(CHAIN_CHOICES):
            cb = QCheckBox(label)
            cb.setChecked(name in DEFAULT_CHAINS)
            cb.setToolTip(f"evaluate chain “{name}”")
            if reason := unavailable_reason(name):
                self.unavailable[name] = reason
                cb.setChecked(False)
                cb.setEnabled(False)
                cb.setToolTip(f"unavailable: {reason}")
            cb.toggled.connect(self.chains_changed)
            self.chain_boxes[name] = cb
            grid.addWidget(cb, i // 2, i % 2)
        row = len(CHAIN_CHOICES) // 2 + 1
        self.more_chains = QLineEdit()
        self.more_chains.setPlaceholderText("more, comma-separated: opus@32, pghi@1024/320 …")
        self.more_chains.setAccessibleName("More chains")
        self.more_chains.textChanged.connect(self.chains_changed)
        more = QLabel("&More:")
        more.setBuddy(self.more_chains)
        grid.addWidget(more, row, 0)
        grid.addWidget(self.more_chains, row + 1, 0, 1, 2)
        self.chain_error = QLabel()
        self.chain_error.setWordWrap(True)
        self.chain_error.setStyleSheet("color: #d04040;")
        grid.addWidget(self.chain_error, row + 2, 0, 1, 2)
        self.chunk_note = QLabel()
        self.chunk_note.setEnabled(False)
        grid.addWidget(self.chunk_note, row + 3, 0, 1, 2)
        return box

    def _results(self) -> QWidget:
        panel = QWidget()
        col = QVBoxLayout(panel)
        col.setContentsMargins(4, 0, 0, 0)
        top = QHBoxLayout()
        self.per_utterance = QCheckBox("Per &utterance")
        self.metric_choice = QComboBox()
        for name, label in PLOT_METRICS:
            self.metric_choice.addItem(label, name)
        self.export = QPushButton("&Export…")
        self.export.setEnabled(False)
        self.export.setToolTip("Write utterances.csv, summary.md and summary.png into a folder")
        plot_label = QLabel("Plots &show:")
        plot_label.setBuddy(self.metric_choice)
        top.addWidget(self.per_utterance)
        top.addStretch(1)
        top.addWidget(plot_label)
        top.addWidget(self.metric_choice)
        top.addWidget(self.export)
        col.addLayout(top)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        col.addWidget(self.table, 3)
        col.addLayout(self._player_row())
        plots = QHBoxLayout()
        self.quality_plot = Plot()
        self.spread_plot = Plot()
        for p in (self.quality_plot, self.spread_plot):
            p.setMinimumHeight(180)
            p.showGrid(x=True, y=True, alpha=0.3)
            plots.addWidget(p)
        self.quality_plot.setLabel("bottom", "bitrate (kbps, log scale)")
        col.addLayout(plots, 2)
        self.per_utterance.toggled.connect(self.per_utterance_toggled)
        self.metric_choice.currentIndexChanged.connect(
            lambda _i: self.metric_changed.emit(self.metric_name())
        )
        self.table.itemSelectionChanged.connect(self.selection_changed)
        self.export.clicked.connect(self._pick_export_folder)
        return panel

    def _player_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.play_processed = QPushButton("▶ &Processed")
        self.play_original = QPushButton("▶ Ori&ginal")
        self.flip = QPushButton("⇄ Flip (F)")
        self.stop = QPushButton("■ Stop")
        self.flip.setToolTip("Switch between processed and original at the same moment (key F)")
        self.player_label = QLabel("Select a result row to listen to it.")
        for b in (self.play_processed, self.play_original, self.flip, self.stop):
            b.setEnabled(False)
            row.addWidget(b)
        row.addWidget(self.player_label, 1)
        self.play_processed.clicked.connect(lambda: self.play_requested.emit("processed"))
        self.play_original.clicked.connect(lambda: self.play_requested.emit("original"))
        self.flip.clicked.connect(self.flip_requested)
        self.stop.clicked.connect(self.stop_requested)
        return row

    def _metric_picked(self, _index: int) -> None:
        self.metric_changed.emit(self.metric_name())

    # -- dialogs ---------------------------------------------------------------------
    def _pick_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add speech files", "", "Audio (*.wav *.flac *.ogg *.aiff *.aif);;All files (*)"
        )
        if paths:
            self.files_added.emit(paths)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of speech files")
        if folder:
            self.files_added.emit([folder])

    def _pick_export_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the report into")
        if folder:
            self.export_requested.emit(folder)

    # -- what the controller reads ------------------------------------------------------
    def checked_chains(self) -> list[str]:
        """Chain names of the ticked boxes, in display order."""
        return [name for name, cb in self.chain_boxes.items() if cb.isChecked()]

    def metric_name(self) -> str:
        """Field name of the metric the plots show."""
        return self.metric_choice.currentData()

    def selected_key(self) -> tuple[str, str] | None:
        """(chain, file) of the selected row, if any."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(KEY_ROLE)

    # -- what the controller sets ---------------------------------------------------------
    def set_files(self, paths: Sequence[str]) -> None:
        """Show the chosen files."""
        self.files.clear()
        self.files.addItems(list(paths))

    def selected_files(self) -> list[int]:
        """Rows selected in the file list."""
        return sorted(i.row() for i in self.files.selectedIndexes())

    def set_chain_error(self, text: str) -> None:
        """Say what is wrong with the typed chains ("" hides it)."""
        self.chain_error.setText(text)
        self.chain_error.setVisible(bool(text))

    def set_running(self, running: bool) -> None:
        """Run/Cancel and the inputs follow whether an evaluation runs."""
        self.run.setEnabled(not running)
        self.cancel.setEnabled(running)
        for w in (self.add_files, self.add_folder, self.remove, self.clear, self.more_chains):
            w.setEnabled(not running)
        for name, cb in self.chain_boxes.items():
            cb.setEnabled(not running and name not in self.unavailable)

    def set_progress(self, done: int, total: int) -> None:
        """Progress in utterances scored."""
        self.progress.setValue(round(100 * done / total) if total else 0)
        self.progress.setFormat(f"%p%  ({done}/{total})")

    def set_status(self, text: str) -> None:
        """One line under the progress bar."""
        self.status.setText(text)

    def set_rows(self, rows: Sequence[tuple[list[str], list[float | None], tuple | None]]) -> None:
        """Fill the table: each row is (texts, raw values or None, (chain, file) key)."""
        t = self.table
        t.setRowCount(0)
        t.setRowCount(len(rows))
        for r, (texts, values, key) in enumerate(rows):
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if values[c] is not None:
                    item.setData(VALUE_ROLE, values[c])
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if c == 0:
                    item.setData(KEY_ROLE, key)
                    if texts[1]:  # utterance rows are indented under their chain
                        item.setText("   " + text)
                t.setItem(r, c, item)

    def cell_text(self, row: int, column: str) -> str:
        """The text shown in ``row`` under the header ``column``."""
        return self.table.item(row, COLUMNS.index(column)).text()

    def cell_value(self, row: int, column: str) -> float | None:
        """The unrounded number behind a cell."""
        return self.table.item(row, COLUMNS.index(column)).data(VALUE_ROLE)

    def set_player_enabled(self, loaded: bool, playing: bool) -> None:
        """Play buttons need a selected cell; Flip and Stop need playback."""
        self.play_processed.setEnabled(loaded)
        self.play_original.setEnabled(loaded)
        self.flip.setEnabled(playing)
        self.stop.setEnabled(playing)

    def set_player_text(self, text: str, error: bool = False) -> None:
        """What the player does, in words (``error``: in red, e.g. the device was lost)."""
        self.player_label.setText(text)
        self.player_label.setStyleSheet("color: #d04040;" if error else "")

    def set_chunk_note(self, chunk: int) -> None:
        """Which vocoder chunk the Lab uses (the live panel's)."""
        self.chunk_note.setText(f"Vocoder chunk: {chunk} frames (the live panel's setting)")

    def plot_quality(self, points: Sequence[tuple[str, float, float, float]], label: str) -> None:
        """Mean ± 95% CI per chain against bitrate: (chain, kbps, mean, half-width)."""
        p = self.quality_plot
        p.clear()
        p.setLabel("left", f"{label} (mean ± 95% CI)")
        pts = [(n, np.log10(k), m, h) for n, k, m, h in points if k > 0 and np.isfinite(m)]
        if not pts:
            return
        x = np.array([q[1] for q in pts])
        y = np.array([q[2] for q in pts])
        h = np.array([q[3] if np.isfinite(q[3]) else 0.0 for q in pts])
        p.addItem(pg.ErrorBarItem(x=x, y=y, height=2 * h, beam=0.03))
        p.addItem(pg.ScatterPlotItem(x=x, y=y, size=9, brush=pg.mkBrush(70, 140, 230)))
        for name, xi, yi, _ in pts:
            text = pg.TextItem(name, anchor=(0, 1))
            text.setPos(xi, yi)
            p.addItem(text)
        ticks: list[tuple[float, str]] = []
        for v in sorted(q[1] for q in pts):
            if not ticks or v - ticks[-1][0] > 0.05:  # 18.67 and 18.7 kbps share one tick
                ticks.append((v, f"{10**v:.3g}"))
        p.getAxis("bottom").setTicks([ticks])
        self.quality_points = [(q[0], 10 ** q[1], q[2]) for q in pts]

    def plot_spread(self, groups: Sequence[tuple[str, Sequence[float]]], label: str) -> None:
        """Every utterance's value, one column of dots per chain."""
        p = self.spread_plot
        p.clear()
        p.setLabel("left", f"{label} per utterance")
        rng = np.random.default_rng(0)  # fixed jitter: the plot does not jump between redraws
        xs, ys = [], []
        for i, (_name, values) in enumerate(groups):
            v = np.array([x for x in values if np.isfinite(x)], float)
            xs.append(i + rng.uniform(-0.15, 0.15, v.size))
            ys.append(v)
        if xs:
            p.addItem(
                pg.ScatterPlotItem(
                    x=np.concatenate(xs),
                    y=np.concatenate(ys),
                    size=6,
                    brush=pg.mkBrush(230, 140, 60),
                )
            )
        p.getAxis("bottom").setTicks([[(i, g[0]) for i, g in enumerate(groups)]])
        self.spread_values = {g[0]: list(v) for g, v in zip(groups, ys, strict=True)}
