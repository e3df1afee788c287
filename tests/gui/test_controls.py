"""Every control of the window drives the real engine (asserted on its snapshot)."""

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from app import settings as st
from tests.gui.helpers import engine_heard_slot, wait_engine


def test_remembered_controls_reach_the_engine_at_start_up(qtbot, tiny_codec_file):
    # Given a settings file with non-default controls
    from app.engine_client import EngineClient
    from app.main_window import MainWindow
    from app.settings_store import SettingsStore
    from engine.live.engine import Engine

    remembered = st.Settings(chunk=7, input_gain_db=-3.0, muted=True, tap="codec")
    st.save(replace(remembered, vocoder_enabled=False))
    client = EngineClient(Engine(codec_weights=str(tiny_codec_file)))
    try:
        # When the window starts
        w = MainWindow(client, SettingsStore())
        qtbot.addWidget(w)
        w.begin()
        # Then the engine has them, and the widgets show them
        s = wait_engine(client, lambda s: s.status.chunk == 7).status
        assert (s.input_gain_db, s.mute, s.bypass) == (-3.0, True, ("vocoder",))
        assert engine_heard_slot(client.snapshot()) == "codec"
        assert w.view.chain.chunk.value() == 7 and not w.view.chain.vocoder.isChecked()
        assert w.view.ab.buttons["codec"].isChecked()
        w.close()
    finally:
        client.close()


def test_ab_buttons_and_keys_select_taps(qtbot, window, client):
    ab = window.view.ab
    qtbot.mouseClick(ab.buttons["codec"], Qt.MouseButton.LeftButton)
    wait_engine(client, lambda s: engine_heard_slot(s) == "codec")
    qtbot.keyClick(window, Qt.Key.Key_3)
    wait_engine(client, lambda s: engine_heard_slot(s) == "vocoder")
    # Space goes back to the tap heard before, and again forth
    qtbot.keyClick(window, Qt.Key.Key_Space)
    wait_engine(client, lambda s: engine_heard_slot(s) == "codec")
    qtbot.keyClick(window, Qt.Key.Key_Space)
    wait_engine(client, lambda s: engine_heard_slot(s) == "vocoder")
    qtbot.keyClick(window, Qt.Key.Key_1)
    snap = wait_engine(client, lambda s: engine_heard_slot(s) == "dry")
    assert ab.buttons["dry"].isChecked()
    assert "Dry" in ab.playing.text()
    assert window.settings.value.tap == "dry" and window.settings.value.previous_tap == "vocoder"
    assert {snap.status.slot_a, snap.status.slot_b} == {"dry", "vocoder"}


def test_stage_switches_bypass_in_the_engine(qtbot, window, client):
    chain = window.view.chain
    chain.codec.click()
    wait_engine(client, lambda s: s.status.bypass == ("codec",))
    chain.vocoder.click()
    wait_engine(client, lambda s: s.status.bypass == ("codec", "vocoder"))
    assert "bypassed" in window.view.ab.playing.text()
    chain.codec.click()
    wait_engine(client, lambda s: s.status.bypass == ("vocoder",))
    assert (window.settings.value.codec_enabled, window.settings.value.vocoder_enabled) == (
        True,
        False,
    )


def test_chunk_slider_sets_the_engine_chunk(qtbot, window, client):
    slider = window.view.chain.chunk
    slider.setFocus()
    start = slider.value()
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    wait_engine(client, lambda s: s.status.chunk == start + 1)
    slider.setValue(10)
    wait_engine(client, lambda s: s.status.chunk == 10)
    assert window.settings.value.chunk == 10
    assert "200 ms" in window.view.chain.chunk_label.text()


@pytest.mark.parametrize("which", ["input", "output"])
def test_gain_sliders_set_engine_gain(qtbot, window, client, which):
    slider = getattr(window.view.mix, f"{which}_gain")
    slider.set_db(-12.5)
    wait_engine(client, lambda s: getattr(s.status, f"{which}_gain_db") == -12.5)
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    wait_engine(client, lambda s: getattr(s.status, f"{which}_gain_db") == -6.5)
    assert getattr(window.settings.value, f"{which}_gain_db") == -6.5


def test_mute_master_bypass_and_level_match(qtbot, window, client):
    mix, ab = window.view.mix, window.view.ab
    qtbot.mouseClick(mix.mute, Qt.MouseButton.LeftButton)
    wait_engine(client, lambda s: s.status.mute is True)
    assert "muted" in ab.playing.text()
    qtbot.mouseClick(mix.mute, Qt.MouseButton.LeftButton)
    wait_engine(client, lambda s: s.status.mute is False)
    mix.master_bypass.click()
    wait_engine(client, lambda s: s.status.master_bypass is True)
    assert "master bypass" in ab.playing.text()
    was = ab.level_match.isChecked()
    ab.level_match.click()
    wait_engine(client, lambda s: s.status.loudness_match is (not was))


def test_models_dialog_swaps_weights_in_the_engine(qtbot, window, client, tiny_codec_file):
    dialog = window.open_models()
    worker = dialog.import_path(tiny_codec_file)
    with qtbot.waitSignal(worker.finished, timeout=20_000):
        pass
    qtbot.waitUntil(lambda: dialog.selected() is not None)
    name = dialog.selected().name
    dialog.use_button.click()
    assert window.settings.value.codec_weights == name
    assert name in window.view.chain.codec_weights.text()
    assert f"{name} (in use)" in dialog.table.item(dialog.table.currentRow(), 0).text()
    # (what the swap does to the sound is checked on a live stream in test_live_gui.py)
    qtbot.wait(300)
    assert client.snapshot().error is None


def test_start_without_any_device_says_so_and_can_stop(qtbot, window, client):
    # No audio server runs here: PortAudio has no devices at all.
    assert "No audio devices" in window.view.devices.notice.text()
    qtbot.mouseClick(window.view.transport.button, Qt.MouseButton.LeftButton)
    wait_engine(client, lambda s: s.state == "error")
    qtbot.waitUntil(lambda: window.session.errors.dialog is not None, timeout=5000)
    dialog = window.session.errors.dialog
    assert "No audio device" in dialog.text()
    assert any(b.text() == "Refresh devices" for b in dialog.buttons())
    assert window.view.transport.state == "error"
    # the engine retries; the same error does not open a second dialog, the button stays "Stop"
    for _ in range(12):
        qtbot.wait(100)
        assert window.view.transport.state == "error"
        assert "Stop" in window.view.transport.button.text()
    assert window.session.errors.count == 1
    qtbot.mouseClick(window.view.transport.button, Qt.MouseButton.LeftButton)
    wait_engine(client, lambda s: s.state == "stopped")
    assert window.view.transport.state == "stopped"


def test_a_dead_engine_process_is_reported_and_restarted_by_start(qtbot, window, client):
    import os
    import signal

    # Given the engine's process killed from outside
    wait_engine(client, lambda s: s.time > 0)  # the engine has published
    os.kill(client.engine.pid, signal.SIGKILL)
    # Then the window reports it
    wait_engine(client, lambda s: s.error is not None and "ended unexpectedly" in s.error)
    qtbot.waitUntil(lambda: window.session.errors.dialog is not None, timeout=5000)
    assert "ended unexpectedly" in window.session.errors.dialog.informativeText()
    # When the person presses Start, a new engine process runs with the window's controls
    old_pid = client.engine.pid
    window.session.start()
    assert client.engine.pid != old_pid
    chunk = window.settings.value.chunk
    wait_engine(client, lambda s: s.status.chunk == chunk and s.state != "stopped")
    window.session.stop()
