"""Chain, A/B and level controls: each change goes to the engine and the settings.

Every control applies live (the engine crossfades), whether or not the
stream runs; the settings remember it for the next start.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.engine_client import EngineClient
from app.settings import Settings
from app.settings_store import SettingsStore
from app.views.ab_view import TAP_LABELS
from app.views.main_view import MainView
from engine.audio.metrics import Snapshot


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
        v.ab.set_tap(s.tap)
        v.ab.set_level_match(s.level_match)
        v.mix.set_master_bypass(s.master_bypass)
        v.mix.set_gains(s.input_gain_db, s.output_gain_db)
        v.mix.set_muted(s.muted)
        self._show_playing(s.tap)

    # -- actions -------------------------------------------------------------------------

    def select_tap(self, tap: str) -> None:
        """Hear ``tap`` (keys 1-4, the big buttons)."""
        previous = self.client.current_tap()
        self.client.select_tap(tap)
        if tap != previous:
            self.settings.update(tap=tap, previous_tap=previous)
        self.view.ab.set_tap(tap)
        self._show_playing(tap)

    def toggle(self) -> None:
        """Space: back to the other tap of the A/B pair."""
        before = self.client.current_tap()
        now = self.client.toggle_ab()
        self.settings.update(tap=now, previous_tap=before)
        self.view.ab.set_tap(now)
        self._show_playing(now)

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
        self.view.ab.set_playing(playing_text(selected, self.settings.value, None))

    def on_snapshot(self, snap: Snapshot) -> None:
        """Say what the engine actually plays (after bypasses and crossfades)."""
        heard = snap.heard_tap if snap.state == "running" else None
        selected = self.client.current_tap()
        self.view.ab.set_playing(playing_text(selected, self.settings.value, heard))
        reduction = limiter_reduction_db(snap)
        if reduction is not None:
            self.view.mix.set_limiter(reduction > 0.05, reduction)


def limiter_reduction_db(snap: Snapshot) -> float | None:
    """Gain reduction of the safety limiter (None while no stream runs)."""
    value = snap.limiter_reduction_db
    return None if value is None else float(value)


def playing_text(selected: str, s: Settings, heard: str | None) -> str:
    """What is heard, in words, and why it differs from the selection (bypass, mute, fade)."""
    name = TAP_LABELS[selected]
    if s.muted:
        return f"nothing (muted) · {name} selected"
    if s.master_bypass:
        return f"Dry (master bypass) · {name} selected"
    off = [k for k in ("codec", "vocoder") if k in selected and not getattr(s, f"{k}_enabled")]
    if heard is not None and heard != selected:
        reason = f"{' and '.join(off)} bypassed" if off else "switching…"
        return f"{TAP_LABELS.get(heard, heard)} · {name} selected ({reason})"
    if off:
        return f"{name} with {' and '.join(off)} bypassed"
    return name
