"""Chain, A/B and level controls: each change goes to the engine and the settings.

Every control applies live (the engine crossfades), whether or not the
stream runs; the settings remember it for the next start.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.engine_client import EngineClient
from app.settings import Settings, ab_update
from app.settings_store import SettingsStore
from app.views.ab_view import tap_label
from app.views.main_view import MainView
from engine.live.snapshot import Snapshot
from engine.live.taps import tap_stages


class LiveControlsController(QObject):
    """Connects ChainView, ABView and MixView to the client."""

    def __init__(
        self,
        view: MainView,
        client: EngineClient,
        settings: SettingsStore,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view, self.client, self.settings = view, client, settings
        self._show_settings()
        c, ab, m = view.chain, view.ab, view.mix
        c.codec_toggled.connect(lambda on: self._stage("codec", on))
        c.vocoder_toggled.connect(lambda on: self._stage("vocoder", on))
        c.chunk_changed.connect(self._chunk)
        ab.tap_selected.connect(self.select_tap)
        ab.slot_assigned.connect(self.assign)
        ab.toggle_requested.connect(self.toggle)
        ab.level_match_toggled.connect(self._level_match)
        m.master_bypass_toggled.connect(self._master_bypass)
        m.input_gain_changed.connect(lambda db: self._gain("input", db))
        m.output_gain_changed.connect(lambda db: self._gain("output", db))
        m.mute_toggled.connect(self._mute)

    def _show_settings(self) -> None:
        s, v = self.settings.value, self.view
        v.chain.set_frame_ms(self.client.frame_ms())
        v.chain.set_codec(s.codec_enabled)
        v.chain.set_vocoder(s.vocoder_enabled)
        v.chain.set_chunk(s.chunk)
        v.ab.set_slots(s.ab_slots(), s.tap_slot)
        v.ab.set_level_match(s.level_match)
        v.mix.set_master_bypass(s.master_bypass)
        v.mix.set_gains(s.input_gain_db, s.output_gain_db)
        v.mix.set_muted(s.muted)
        self._show_playing(s.tap)

    # -- actions -------------------------------------------------------------------------

    def select_tap(self, tap: str) -> None:
        """Hear ``tap`` (keys 1-4, the big buttons); the tap heard before stays one Space away."""
        self.client.select_tap(tap)
        self._remember_ab()

    def assign(self, slot: str, tap: str) -> None:
        """Put ``tap`` on ``slot`` (the A and B choosers); the selected slot stays selected."""
        self.client.assign_tap(slot, tap)
        self._remember_ab()

    def toggle(self) -> None:
        """Space: flip to the other slot."""
        self.client.toggle_ab()
        self._remember_ab()

    def _remember_ab(self) -> None:
        slots, selected = dict(self.client.slots), self.client.selected
        self.settings.update(**ab_update(slots, selected))
        self.view.ab.set_slots(slots, selected)
        self._show_playing(slots[selected])

    def _stage(self, kind: str, on: bool) -> None:
        self.client.set_stage(kind, on)
        self.settings.update(**{f"{kind}_enabled": on})
        self._show_playing(self.client.current_tap())

    def _chunk(self, frames: int) -> None:
        self.client.set_chunk(frames)
        self.settings.update(chunk=frames)

    def _level_match(self, on: bool) -> None:
        self.client.set_level_match(on)
        self.settings.update(level_match=on)

    def _master_bypass(self, on: bool) -> None:
        self.client.set_master_bypass(on)
        self.settings.update(master_bypass=on)
        self._show_playing(self.client.current_tap())

    def _gain(self, which: str, db: float) -> None:
        self.client.set_gain(which, db)
        self.settings.update(**{f"{which}_gain_db": db})

    def _mute(self, on: bool) -> None:
        self.client.set_mute(on)
        self.settings.update(muted=on)
        self._show_playing(self.client.current_tap())

    # -- what is heard ---------------------------------------------------------------------

    def _show_playing(self, selected: str) -> None:
        self.view.ab.set_playing(
            self._slot_prefix() + playing_text(selected, self.settings.value, None)
        )

    def _slot_prefix(self) -> str:
        return f"{self.client.selected} · "

    def on_snapshot(self, snap: Snapshot) -> None:
        """Say what the engine actually plays (after bypasses and crossfades)."""
        heard = snap.heard_tap if snap.state == "running" else None
        selected = self.client.current_tap()
        text = playing_text(selected, self.settings.value, heard)
        self.view.ab.set_playing(self._slot_prefix() + text)
        frame_ms = snap.status.vocoder_frame_ms
        if frame_ms:  # the vocoder in use decides what one chunk step is worth
            self.view.chain.set_frame_ms(frame_ms)
        reduction = limiter_reduction_db(snap)
        if reduction is not None:
            self.view.mix.set_limiter(reduction > 0.05, reduction)


def limiter_reduction_db(snap: Snapshot) -> float | None:
    """Gain reduction of the safety limiter (None while no stream runs)."""
    value = snap.limiter_reduction_db
    return None if value is None else float(value)


def playing_text(selected: str, s: Settings, heard: str | None) -> str:
    """What is heard, in words, and why it differs from the selection (bypass, mute, fade)."""
    name = tap_label(selected)
    if s.muted:
        return f"nothing (muted) · {name} selected"
    if s.master_bypass:
        return f"Dry (master bypass) · {name} selected"
    stages = tap_stages(selected)
    off = [k for k in ("codec", "vocoder") if k in stages and not getattr(s, f"{k}_enabled")]
    if heard is not None and heard != selected:
        reason = f"{' and '.join(off)} bypassed" if off else "switching…"
        return f"{tap_label(heard)} · {name} selected ({reason})"
    if off:
        return f"{name} with {' and '.join(off)} bypassed"
    return name
