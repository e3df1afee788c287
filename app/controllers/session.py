"""Start/Stop, the device panel, and what the person is told about the stream.

Device lists come from a child process (see ``engine.audio.devices``) in a
background worker, so a hanging audio server never freezes the window. A
remembered device that is gone is replaced by the default for this run, and
the panel says so; the remembered choice is only overwritten when the
person picks something else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from app.controllers.device_choice import catalogue_from, remember, restore
from app.dialogs.error_dialog import ErrorDialogs
from app.engine_client import EngineClient
from app.settings import Settings
from app.settings_store import SettingsStore
from app.views.main_view import MainView
from app.worker import Worker
from engine.audio.devices import DeviceInfo
from engine.live.snapshot import Snapshot


class SessionController(QObject):
    """Devices, transport, status line and error dialogs."""

    status = Signal(str)  # a line for the status bar
    devices_ready = Signal()

    def __init__(
        self,
        view: MainView,
        client: EngineClient,
        settings: SettingsStore,
        open_models: Callable[[], None],
        use_bundled: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view, self.client, self.settings = view, client, settings
        self.devices: list[DeviceInfo] = []
        self.worker: Worker | None = None
        self.state = "stopped"
        self.errors = ErrorDialogs(
            view.window(),
            {
                "Refresh devices": self.refresh_devices,
                "Stop": self.stop,
                "Start": self.start,
                "Open models…": open_models,
                "Use bundled weights": use_bundled,
            },
        )
        view.transport.start_requested.connect(self.start)
        view.transport.stop_requested.connect(self.stop)
        view.devices.refresh_requested.connect(self.refresh_devices)
        view.devices.changed.connect(self._devices_changed)

    # -- devices ---------------------------------------------------------------------------

    def refresh_devices(self) -> Worker:
        """List devices in the background; the panel fills when they arrive."""
        self.view.devices.refresh.setEnabled(False)
        self.status.emit("Looking for audio devices…")
        self.worker = Worker(lambda _w: self.client.devices(), self)
        self.worker.done.connect(self._devices_listed)
        self.worker.failed.connect(self._devices_failed)
        self.worker.finished.connect(lambda: self.view.devices.refresh.setEnabled(True))
        return self.worker.start()

    def _devices_listed(self, result) -> None:
        apis, devices = result
        self.devices = list(devices)
        catalogue = catalogue_from(apis, devices)
        panel = self.view.devices
        panel.set_catalogue(catalogue)
        selection, notice = restore(self.settings.value, catalogue, devices)
        panel.select(selection)
        if not catalogue.host_apis:
            notice = "No audio devices found. Connect one and press Refresh devices."
        panel.show_notice(notice)
        n_in = sum(1 for d in devices if d.max_input_channels > 0)
        n_out = sum(1 for d in devices if d.max_output_channels > 0)
        self.status.emit(f"{n_in} input and {n_out} output devices found")
        self.devices_ready.emit()

    def _devices_failed(self, exc: BaseException) -> None:
        self.view.devices.show_notice(f"Could not list audio devices: {exc}")
        self.status.emit("Could not list audio devices")
        self.devices_ready.emit()

    def _devices_changed(self) -> None:
        self.settings.update(**remember(self.view.devices.selection()))
        self.view.devices.show_notice("")
        if self.state in ("running", "starting", "error"):
            self.start()

    def effective_settings(self) -> Settings:
        """The settings with the devices the panel shows (defaults for missing ones)."""
        return replace(self.settings.value, **remember(self.view.devices.selection()))

    # -- transport ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the chosen devices and run the chain."""
        self.errors.resolved()
        s = self.effective_settings()
        self.client.start(s)
        self.state = "starting"
        self.view.transport.set_state("starting", "opening the devices and loading the models…")
        self.status.emit("Starting…")

    def stop(self) -> None:
        """Close the devices."""
        self.client.stop()
        self.state = "stopped"
        self.view.transport.set_state("stopped")
        self.status.emit("Stopped")

    # -- engine state --------------------------------------------------------------------------

    def on_snapshot(self, snap: Snapshot) -> None:
        """Follow the engine's state: transport, status line, error dialogs."""
        if self.state == "stopped" and snap.state != "stopped":
            if snap.error and not self.client.engine_alive():
                self.status.emit(f"Error: {snap.error}")
                self.errors.report(snap.error)
            return  # otherwise a late snapshot from before Stop
        if snap.state == "running":
            if self.state != "running":
                self.errors.resolved()
                self.status.emit("Running")
            self.state = "running"
            self.view.transport.set_state("running", stream_detail(snap))
        elif snap.state == "error" and snap.error:
            self.state = "error"
            self.view.transport.set_state("error", snap.error[:90])
            self.status.emit(f"Error: {snap.error}")
            self.errors.report(snap.error)
        elif snap.state == "starting" and self.state == "starting":
            # (while the engine retries after an error, the error stays on show)
            self.view.transport.set_state("starting", "opening the devices and loading the models…")


def stream_detail(snap: Snapshot) -> str:
    """``48 kHz · block 256 · mic → phones`` from the snapshot's status."""
    s = snap.status
    parts = []
    if s.rate:
        parts.append(f"{s.rate / 1000:g} kHz")
    asked, used = s.block, s.device_block
    if used and asked and used != asked:
        parts.append(f"block {used} (server period; {asked} asked)")
    elif used or asked:
        parts.append(f"block {used or asked}")
    if s.input_device:
        parts.append(f"{s.input_device} → {s.output_device or ''}")
    return " · ".join(parts)
