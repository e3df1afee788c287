"""A and B choosers put any tap on each slot of the real engine; Space flips; settings keep it."""

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from app import settings as st
from app.views.ab_view import ABView, tap_label
from tests.gui.helpers import wait_engine

JACK = "JACK Audio Connection Kit"


def choose(combo, tap):
    """Pick ``tap`` in a chooser as a user does (the ``activated`` signal)."""
    index = combo.findData(tap)
    assert index >= 0, f"{tap} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def test_choosers_offer_every_tap_in_words(qtbot):
    view = ABView()
    qtbot.addWidget(view)
    offered = [view.slot_combos["A"].itemData(i) for i in range(view.slot_combos["A"].count())]
    assert offered == list(st.AB_TAPS)
    labels = [view.slot_combos["B"].itemText(i) for i in range(view.slot_combos["B"].count())]
    assert "Opus 9.3 kbit/s" in labels and "μ-law" in labels and "A-law" in labels
    assert tap_label("opus@9.3,vocoder") == "Opus 9.3 kbit/s + vocoder"
    assert tap_label("pghi") == "Classical vocoder"
    assert tap_label("codec+pghi@1024/320") == "Codec + classical vocoder 1024/320"
    assert tap_label("mulaw+pghi") == "μ-law + classical vocoder"
    # a tap that is not in the list (e.g. from the command line) is shown, not refused
    view.set_slots({"A": "opus@32/10ms", "B": "codec"}, "B")
    assert view.slot_tap("A") == "opus@32/10ms"
    assert view.buttons["codec"].isChecked()
    view.set_slots({"A": "opus@32/10ms", "B": "codec"}, "A")
    assert not any(b.isChecked() for b in view.buttons.values())


def test_choosers_and_space_drive_the_engine(qtbot, jack_server, window, client):
    ab = window.view.ab
    assert window.view.devices.selection().host_api == JACK
    qtbot.mouseClick(window.view.transport.button, Qt.MouseButton.LeftButton)
    wait_engine(client, lambda s: s.state == "running", timeout=60)
    # When A gets the codec and B Opus at 9.3 kbit/s
    choose(ab.slot_combos["A"], "codec")
    choose(ab.slot_combos["B"], "opus@9.3/20ms")
    # Then the engine holds them, B is heard, and only those two taps run
    snap = wait_engine(
        client,
        lambda s: (
            (s.status.slot_a, s.status.slot_b) == ("codec", "opus@9.3/20ms")
            and s.heard_tap == "opus@9.3/20ms"
            and s.status.taps_running == ("codec", "opus@9.3/20ms")
        ),
        timeout=30,
    )
    assert snap.status.selected == "B"
    # (the label follows the snapshots the window polls, a little after the engine)
    qtbot.waitUntil(lambda: ab.playing.text() == "Now playing: B · Opus 9.3 kbit/s", timeout=5000)
    assert not any(b.isChecked() for b in ab.buttons.values())  # Opus has no quick button
    # When Space flips
    qtbot.keyClick(window, Qt.Key.Key_Space)
    snap = wait_engine(client, lambda s: s.heard_tap == "codec" and s.status.selected == "A")
    qtbot.waitUntil(lambda: ab.playing.text() == "Now playing: A · Codec", timeout=5000)
    assert ab.buttons["codec"].isChecked()
    # Both taps come out at the same latency: the slower one's (Opus)
    latency = snap.latency.chain_ms
    qtbot.keyClick(window, Qt.Key.Key_Space)
    snap = wait_engine(client, lambda s: s.heard_tap == "opus@9.3/20ms")
    assert snap.latency.chain_ms == pytest.approx(latency)
    # When A gets Opus into the vocoder while B is heard, B keeps playing
    choose(ab.slot_combos["A"], "opus@9.3/20ms+vocoder")
    snap = wait_engine(client, lambda s: s.status.slot_a == "opus@9.3/20ms+vocoder")
    assert snap.heard_tap == "opus@9.3/20ms"
    # The settings remember the A/B choice and which slot is heard
    s = window.settings.value
    assert s.ab_slots() == {"A": "opus@9.3/20ms+vocoder", "B": "opus@9.3/20ms"}
    assert s.tap_slot == "B"
    # Level match on/off reaches the engine
    was = ab.level_match.isChecked()
    ab.level_match.click()
    wait_engine(client, lambda s: s.status.loudness_match is (not was))


def test_remembered_ab_choice_comes_back(qtbot, client):
    from app.main_window import MainWindow
    from app.settings_store import SettingsStore

    st.save(replace(st.Settings(), tap="codec", previous_tap="mulaw", tap_slot="A"))
    w = MainWindow(client, SettingsStore())
    qtbot.addWidget(w)
    w.begin()
    ab = w.view.ab
    assert (ab.slot_tap("A"), ab.slot_tap("B")) == ("codec", "mulaw@64")
    snap = wait_engine(
        client,
        lambda s: (
            (s.status.slot_a, s.status.slot_b, s.status.selected) == ("codec", "mulaw@64", "A")
        ),
    )
    assert snap.status.slot_a == "codec"
    w.close()


def test_settings_accept_any_tap_and_old_files_still_load(tmp_path):
    path = tmp_path / "settings.json"
    # An older file: no tap_slot, taps among the four of the first version
    path.write_text('{"version": 2, "tap": "vocoder", "previous_tap": "codec"}')
    s = st.load(path)
    assert s.ab_slots() == {"A": "codec", "B": "vocoder"} and s.tap_slot == "B"
    # Any tap name is kept by its canonical form; a bad one falls back to the default
    s = st.Settings(tap="opus@12", previous_tap="alaw", tap_slot="A")
    assert st.load(st.save(s, path)).ab_slots() == {"A": "opus@12/20ms", "B": "alaw@64"}
    path.write_text('{"version": 2, "tap": "vocoder,opus", "tap_slot": "C"}')
    s = st.load(path)
    assert (s.tap, s.tap_slot) == (st.Settings().tap, "B")
    with pytest.raises(ValueError):
        st.Settings(tap="reverb")
