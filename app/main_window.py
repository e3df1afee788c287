"""The main window: menus, status bar, geometry; the panels and their controllers.

It owns nothing of the engine: it is handed an :class:`EngineClient` and a
:class:`SettingsStore` and wires views to controllers.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from app.controllers.lab import LabController
from app.controllers.live_controls import LiveControlsController
from app.controllers.meters import MetersController
from app.controllers.session import SessionController
from app.crash import log_dir
from app.dialogs.error_dialog import WEIGHTS
from app.dialogs.loopback_dialog import LoopbackDialog
from app.dialogs.models_dialog import ModelsDialog, describe
from app.engine_client import STAGES, EngineClient
from app.link.controller import LinkController
from app.link.panel import LinkPanel
from app.settings_store import SettingsStore
from app.views.lab_view import LabView
from app.views.main_view import MainView
from app.views.token_view import TokenView
from engine.live.snapshot import Snapshot
from engine.models.errors import CheckpointError
from engine.store.errors import StoreError

log = logging.getLogger(__name__)
MIN_SIZE = (1024, 640)


class MainWindow(QMainWindow):
    """streamvox's window."""

    def __init__(
        self, client: EngineClient, settings: SettingsStore, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("streamvox — live neural codec and vocoder monitor")
        self.setMinimumSize(*MIN_SIZE)
        self.client, self.settings = client, settings
        self.view = MainView()
        self.lab_view = LabView()
        self.token_view = TokenView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.view, "&Live")
        self.tabs.addTab(self.token_view, "&Tokens")
        self.link_panel = LinkPanel()
        self.tabs.addTab(self.link_panel, "Lin&k")
        self.tabs.addTab(self.lab_view, "La&b")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.view.ab.bind_shortcuts(self)  # on the window: they act from every live tab
        self.setCentralWidget(self.tabs)
        self.models_dialog: ModelsDialog | None = None
        self.loopback_dialog: LoopbackDialog | None = None
        self.session = SessionController(
            self.view, client, settings, self.open_models, self.use_bundled_weights, self
        )
        self.live = LiveControlsController(self.view, client, settings, self)
        self.meters = MetersController(
            self.view, client.snapshot, parent=self, tokens=self.token_view
        )
        self.lab = LabController(self.lab_view, settings, self._live_running, parent=self)
        self.link = LinkController(
            self.link_panel, client, self.live.select_tap, self.live.assign, settings, self
        )
        self.meters.snapshot_seen.connect(self._on_snapshot)
        self.view.chain.models_requested.connect(self.open_models)
        self.view.latency.measure_requested.connect(self.open_loopback)
        self.session.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.state_label = QLabel()
        self.statusBar().addPermanentWidget(self.state_label)
        self._menus()
        self._show_weights()
        self._restore_geometry()

    # -- start-up ------------------------------------------------------------

    def begin(self) -> None:
        """Send the remembered controls to the engine, list devices, start the meters."""
        self.client.apply_settings(self.settings.value)
        self._restore_weights()
        self.session.refresh_devices()
        self.meters.start()

    def _menus(self) -> None:
        bar = self.menuBar()
        audio = bar.addMenu("&Audio")
        self.start_action = self._action(audio, "&Start / Stop", "Ctrl+Return", self._toggle)
        self._action(audio, "&Refresh devices", "F5", self.session.refresh_devices)
        self._action(audio, "&Measure latency…", "Ctrl+L", self.open_loopback)
        audio.addSeparator()
        self._action(audio, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        models = bar.addMenu("&Models")
        self._action(models, "&Models…", "Ctrl+M", self.open_models)
        self._action(models, "Use &bundled weights", None, self.use_bundled_weights)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "Open &log folder", None, self._open_logs)
        self._action(help_menu, "&About streamvox", None, self._about)

    def _action(self, menu, text: str, keys, slot) -> QAction:
        action = QAction(text, self)
        if keys is not None:
            action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _live_running(self) -> bool:
        return self.session.state in ("running", "starting")

    def _tab_changed(self, index: int) -> None:
        """The live A/B keys (1-4, Space) act while the live, token or link view is shown."""
        live = self.tabs.widget(index) in (self.view, self.token_view, self.link_panel)
        for shortcut in self.view.ab.shortcuts:
            shortcut.setEnabled(live)

    def _toggle(self) -> None:
        if self.session.state in ("running", "starting"):
            self.session.stop()
        else:
            self.session.start()

    # -- geometry ------------------------------------------------------------

    def _restore_geometry(self) -> None:
        s = self.settings.value
        restored = False
        if s.window_geometry:
            restored = self.restoreGeometry(QByteArray.fromHex(s.window_geometry.encode()))
        if s.window_state:
            self.restoreState(QByteArray.fromHex(s.window_state.encode()))
        if not restored:
            self.resize(1280, 720)

    def save_geometry(self) -> None:
        """Remember size, position and the splitter (flushed at once)."""
        self.settings.update(
            window_geometry=bytes(self.saveGeometry().toHex()).decode(),
            window_state=bytes(self.saveState().toHex()).decode(),
        )
        self.settings.flush()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """Save, stop the meters and the stream, then close."""
        self.save_geometry()
        self.lab.close()
        self.meters.stop()
        self.client.stop()
        super().closeEvent(event)

    # -- snapshots ------------------------------------------------------------

    def _on_snapshot(self, snap: Snapshot) -> None:
        self.session.on_snapshot(snap)
        self.live.on_snapshot(snap)
        self.link.on_snapshot(snap)
        if self._live_running():
            self.lab.stop_for_live()
        measured = snap.latency.measured_ms
        if measured is not None:
            self.view.latency.set_measured(measured)
        x = snap.xruns.total
        self.state_label.setText(f"{snap.state} · load {100 * snap.load:.0f}% · xruns {x}")

    # -- models ------------------------------------------------------------

    def _current_weights(self) -> dict[str, str]:
        s = self.settings.value
        return {"codec": s.codec_weights, "vocoder": s.vocoder_weights}

    def _show_weights(self) -> None:
        w = self._current_weights()
        store = self.client.store
        self.view.chain.set_weights(describe(w["codec"], store), describe(w["vocoder"], store))

    def open_models(self) -> ModelsDialog:
        """Show the models dialog (one instance)."""
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self.client.store, self._current_weights(), self)
            self.models_dialog.use_requested.connect(self.use_weights)
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    def use_weights(self, kind: str, name: str) -> bool:
        """Swap ``kind``'s weights to store model ``name``; say why when it cannot."""
        if kind not in STAGES:
            raise ValueError(f"kind must be one of {STAGES}, got {kind!r}")
        try:
            self.client.use_weights(kind, name)
        except (StoreError, CheckpointError, OSError, ValueError) as exc:
            # the store's messages name the file and what to do about it
            self.session.errors.report(f"{kind} weights “{name or 'bundled'}”: {exc}", WEIGHTS)
            self.statusBar().showMessage(f"{kind} weights not changed", 8000)
            return False
        self.settings.update(**{f"{kind}_weights": name})
        self._show_weights()
        if self.models_dialog is not None:
            self.models_dialog.set_current(kind, name)
        self.statusBar().showMessage(f"{kind} now uses {name or 'the bundled weights'}", 8000)
        return True

    def _restore_weights(self) -> None:
        """Load the remembered models; one the store no longer has falls back to the bundled."""
        for kind, name in self._current_weights().items():
            if name and not self.use_weights(kind, name):
                self.settings.update(**{f"{kind}_weights": ""})
                self._show_weights()

    def use_bundled_weights(self) -> None:
        """Go back to the bundled weights for both stages."""
        for kind in STAGES:
            self.use_weights(kind, "")

    # -- latency ------------------------------------------------------------

    def open_loopback(self) -> LoopbackDialog:
        """Show the loopback measurement dialog."""
        if self.loopback_dialog is None:
            self.loopback_dialog = LoopbackDialog(self.client.measure_latency, self)
            self.loopback_dialog.measured.connect(self.view.latency.set_measured)
        self.loopback_dialog.show()
        self.loopback_dialog.raise_()
        return self.loopback_dialog

    # -- help ------------------------------------------------------------

    def _open_logs(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_dir())))

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About streamvox",
            "streamvox: hear your voice live through a streaming neural codec "
            "(TinyTransformerCodec) and a streaming vocoder (Streaming Vocos), "
            "A/B them against the dry signal, and measure latency.",
        )
