"""Drives the Link panel: its buttons and sliders become engine client calls; snapshots its stats.

The panel's toggles say what the user wants; the engine's snapshot says
what runs. A failed end (a port taken, a peer that does not resolve)
shows its error and the toggle is released.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from app.engine_client import EngineClient
from app.link.panel import LinkPanel
from app.settings_store import SettingsStore
from engine.live.snapshot import Snapshot


class LinkController(QObject):
    """The Link panel's behaviour (see the module docstring)."""

    def __init__(
        self,
        panel: LinkPanel,
        client: EngineClient,
        select_tap: Callable[[str], None],
        assign_tap: Callable[[str, str], None],
        settings: SettingsStore,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.client, self.settings = panel, client, settings
        self._error: str | None = None
        self._restore()
        panel.send_toggled.connect(self._send)
        panel.listen_toggled.connect(self._listen)
        panel.impairment_changed.connect(self._retune)
        panel.chain.currentTextChanged.connect(self._chain_changed)
        # through the live controls: the A/B view and the remembered slots follow
        panel.hear_requested.connect(lambda: select_tap(panel.tap()))
        panel.compare_requested.connect(self._compare)
        self._assign = assign_tap

    def _restore(self) -> None:
        """The ends as last set (the toggles start off: nothing is sent unasked)."""
        s, p = self.settings.value, self.panel
        p.peer.setText(s.link_peer)
        p.listen_port.setValue(s.link_port)
        p.bind.setText(s.link_bind)
        p.chain.setCurrentText(s.link_chain)

    def _remember(self) -> None:
        p = self.panel
        self.settings.update(
            link_peer=p.peer.text().strip(),
            link_port=p.listen_port.value(),
            link_bind=p.bind.text().strip() or "127.0.0.1",
            link_chain=p.chain.currentText(),
        )

    def _send(self, on: bool) -> None:
        p = self.panel
        peer = p.peer.text().strip() if on else None
        if on:
            self._remember()
        try:
            self.client.link_send(peer, p.chain.currentText(), **p.impairment())
        except ValueError as exc:  # a peer that is not HOST:PORT
            p.error.setText(str(exc))
            p.send.setChecked(False)

    def _listen(self, on: bool) -> None:
        p = self.panel
        port = p.listen_port.value() if on else None
        if on:
            self._remember()
        self.client.link_listen(port, p.bind.text().strip() or "127.0.0.1", p.chain.currentText())

    def _retune(self) -> None:
        """The sliders set the sending end's impairment and the simulated link taps'."""
        self._send(self.panel.send.isChecked())

    def _compare(self) -> None:
        """A: the codec, B: Opus, over one simulated link with the sliders' impairment."""
        self._retune()
        self._assign("A", "simlink@codec")
        self._assign("B", "simlink@opus")

    def _chain_changed(self, _chain: str) -> None:
        """A new chain restarts each end that runs."""
        self.settings.update(link_chain=self.panel.chain.currentText())
        self._retune()
        if self.panel.listen.isChecked():
            self._listen(True)

    def on_snapshot(self, snap: Snapshot) -> None:
        """Show the link's stats; release a toggle whose end failed."""
        link = snap.link
        self.panel.set_stats(link)
        error = link.error if link is not None else None
        new_error, self._error = error != self._error, error
        if error and new_error:
            failed = self.panel.listen if "listen" in error else self.panel.send
            failed.blockSignals(True)
            failed.setChecked(False)
            failed.blockSignals(False)
