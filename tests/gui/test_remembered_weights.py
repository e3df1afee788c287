"""Remembered models are loaded at start; one the store no longer has falls back cleanly."""

import pytest

from app.main_window import MainWindow
from app.settings_store import SettingsStore
from tests.gui.helpers import wait_engine


def _window(qtbot, client, store):
    w = MainWindow(client, store)
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.session.devices_ready, timeout=30_000):
        w.begin()
    return w


def test_a_remembered_store_model_is_what_the_engine_runs(qtbot, client):
    store = SettingsStore()
    store.update(vocoder_weights="seedframe-vocoder")
    w = _window(qtbot, client, store)
    try:
        wanted = "vocos_seedframe.safetensors"
        snap = wait_engine(client, lambda s: (s.status.vocoder_weights or "").endswith(wanted))
        assert snap.status.codec_weights != "bundled"  # the fixture's tiny codec stays
        assert store.value.vocoder_weights == "seedframe-vocoder"
        assert "seedframe-vocoder" in w.view.chain.vocoder_weights.text()
    finally:
        w.close()


@pytest.mark.parametrize("gone", ["lowdelay-vocoder", "shortframe-vocoder", "no-such-model"])
def test_a_model_the_store_no_longer_has_falls_back_to_the_bundled_one(qtbot, client, gone):
    store = SettingsStore()
    store.update(vocoder_weights=gone)
    w = _window(qtbot, client, store)
    try:
        assert store.value.vocoder_weights == ""
        assert gone not in w.view.chain.vocoder_weights.text()
        errors = w.session.errors
        assert errors.count == 1 and gone in errors.dialog.informativeText()
    finally:
        w.close()
