"""Models dialog: what each stage uses, the model store's list, import, download, use.

It talks to :class:`engine.store.store.ModelStore` (list, import, download,
remove) and reports a choice through :attr:`ModelsDialog.use_requested`;
the controller swaps the weights in the engine. Slow calls (loading a file
to validate it, downloading) run in a :class:`~app.worker.Worker`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.worker import Worker
from engine.store.errors import StoreError
from engine.store.store import ModelInfo, ModelStore

COLUMNS = ("Name", "Kind", "Status", "Description")


class ModelsDialog(QDialog):
    """Lists models; imports a file; downloads; says which weights each stage uses."""

    use_requested = Signal(str, str)  # (kind, model name)

    def __init__(
        self, store: ModelStore, current: dict[str, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(760, 420)
        self.store = store
        self.current = dict(current)
        self.worker: Worker | None = None
        self.models: list[ModelInfo] = []
        self.in_use = QLabel()
        self.in_use.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.import_button = QPushButton("&Import file…")
        self.use_button = QPushButton("&Use for its stage")
        self.download_button = QPushButton("&Download")
        self.remove_button = QPushButton("&Remove")
        self.progress = QProgressBar()
        self.progress.hide()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout()
        self.import_button.clicked.connect(self.choose_file)
        self.use_button.clicked.connect(self.use_selected)
        self.download_button.clicked.connect(self.download_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()

    def _layout(self) -> None:
        box = QVBoxLayout(self)
        box.addWidget(self.in_use)
        box.addWidget(QLabel(f"Model store: {self.store.root}"))
        box.addWidget(self.table, 1)
        row = QHBoxLayout()
        for b in (self.import_button, self.use_button, self.download_button, self.remove_button):
            row.addWidget(b)
        row.addStretch(1)
        box.addLayout(row)
        box.addWidget(self.progress)
        box.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        box.addWidget(buttons)

    # -- state ---------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the store's list and the "in use" line."""
        self.models = self.store.list()
        self.table.setRowCount(len(self.models))
        for r, m in enumerate(self.models):
            used = " (in use)" if self.current.get(m.kind) == m.name else ""
            for c, text in enumerate((m.name + used, m.kind, m.status, m.description)):
                item = QTableWidgetItem(text)
                item.setToolTip(str(m.path or m.url or ""))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.in_use.setText(
            "<b>In use</b> — codec: "
            + describe(self.current.get("codec", ""), self.store)
            + " · vocoder: "
            + describe(self.current.get("vocoder", ""), self.store)
        )
        self._update_buttons()

    def set_current(self, kind: str, name: str) -> None:
        """Record that ``kind`` now uses model ``name`` and redraw."""
        self.current[kind] = name
        self.refresh()

    def selected(self) -> ModelInfo | None:
        """The model of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        return self.models[rows[0].row()] if rows else None

    def select_name(self, name: str) -> None:
        """Select the row of model ``name``."""
        for r, m in enumerate(self.models):
            if m.name == name:
                self.table.selectRow(r)
                return
        raise KeyError(name)

    def _update_buttons(self) -> None:
        m = self.selected()
        busy = self.worker is not None and self.worker.running
        self.import_button.setEnabled(not busy)
        self.use_button.setEnabled(bool(m and m.available) and not busy)
        self.use_button.setText(f"&Use for the {m.kind}" if m else "&Use for its stage")
        can_fetch = bool(m and m.downloadable and not m.available)
        can_remove = bool(m and m.status != "bundled" and (m.available or m.status == "broken"))
        self.download_button.setEnabled(can_fetch and not busy)
        self.remove_button.setEnabled(can_remove and not busy)

    # -- actions ---------------------------------------------------------------------

    def choose_file(self) -> None:
        """Ask for a weights file and import it."""
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import model weights",
            str(Path.home()),
            "Model weights (*.safetensors *.pt *.pth *.ckpt);;All files (*)",
        )
        if path:
            self.import_path(Path(path))

    def import_path(self, path: Path) -> Worker:
        """Validate and copy ``path`` into the store in the background."""
        self.message.setText(f"Checking {path.name}…")
        return self._run(lambda _w: self.store.import_file(path), self._imported)

    def _imported(self, info: ModelInfo) -> None:
        self.message.setText(
            f"Imported {info.name} ({info.kind}). Select it and press "
            f"“Use for the {info.kind}” to hear it."
        )
        self.refresh()
        self.select_name(info.name)

    def use_selected(self) -> None:
        """Ask the controller to load the selected model into its stage."""
        m = self.selected()
        if m is not None and m.available:
            self.use_requested.emit(m.kind, m.name)

    def download_selected(self) -> Worker | None:
        """Download the selected model with progress (cancellable by closing)."""
        m = self.selected()
        if m is None or not m.downloadable:
            return None
        self.message.setText(f"Downloading {m.name}…")
        self.progress.setRange(0, 0)
        self.progress.show()

        def fetch(w: Worker) -> ModelInfo:
            return self.store.download(
                m.name,
                progress=lambda done, total: w.progress.emit(done, total or 0),
                cancel=w.cancelled.is_set,
            )

        worker = self._run(fetch, self._downloaded)
        worker.progress.connect(self._show_progress)
        return worker

    def _show_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))

    def _downloaded(self, info: ModelInfo) -> None:
        self.message.setText(f"Downloaded {info.name}.")
        self.refresh()

    def remove_selected(self) -> None:
        """Delete the selected cached model after confirmation."""
        m = self.selected()
        if m is None:
            return
        if self.current.get(m.kind) == m.name:
            self.message.setText(f"{m.name} is in use by the {m.kind}; choose other weights first.")
            return
        answer = QMessageBox.question(self, "Remove model", f"Delete {m.name} from the store?")
        if answer == QMessageBox.StandardButton.Yes:
            self.store.remove(m.name)
            self.refresh()

    def _run(self, fn, on_done) -> Worker:
        self.worker = Worker(fn, self)
        self.worker.done.connect(on_done)
        self.worker.failed.connect(self._failed)
        self.worker.finished.connect(self._finished)
        self.worker.start()
        self._update_buttons()
        return self.worker

    def _failed(self, exc: BaseException) -> None:
        self.message.setText(f"<b>Failed:</b> {exc}")

    def _finished(self) -> None:
        self.progress.hide()
        self._update_buttons()

    def reject(self) -> None:
        """Closing cancels a running download (its partial file is kept to resume)."""
        if self.worker is not None and self.worker.running:
            self.worker.cancel()
        super().reject()


def describe(name: str, store: ModelStore) -> str:
    """Readable description of the weights a stage uses ("" = bundled default)."""
    if not name:
        return "bundled default"
    try:
        info = store.info(name)
    except (StoreError, ValueError, OSError) as exc:
        return f"{name} (unavailable: {exc})"
    origin = {"bundled": "bundled", "cached": "imported/downloaded"}.get(info.status, info.status)
    return f"{name} ({origin})"
