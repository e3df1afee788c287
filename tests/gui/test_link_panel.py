"""The Link tab end to end: the window's engine (on a JACK dummy server) and a second
streamvox process talk over UDP on 127.0.0.1, and the panel shows the engine's stats.
"""

import threading
import time

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.audio.jack_rig import RATE
from tests.gui.helpers import wait_engine
from tests.gui.test_live_gui import start
from tests.link.link_rig import Receiver, streamvox, wait_for_line
from tests.live.test_live_link_jack import tone, tone_share

pytestmark = pytest.mark.slow
pytest.importorskip("opuslib_next")


def record(rig, x: np.ndarray) -> np.ndarray:
    """Play ``x`` into the engine and record its output; the GUI keeps running meanwhile."""
    out = {}
    worker = threading.Thread(target=lambda: out.update(rec=rig.play_record(x, extra=0.3)))
    worker.start()
    while worker.is_alive():
        QApplication.processEvents()
        time.sleep(0.005)
    worker.join()
    return out["rec"]


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_the_panel_listens_plays_the_link_tap_and_shows_the_engines_stats(
    qtbot, jack_server, rig, window, client, tmp_path
):
    # Given the Link tab listening for Opus on any free port, the stream running
    panel = window.link_panel
    window.tabs.setCurrentWidget(panel)
    panel.chain.setCurrentText("opus")
    panel.listen_port.setValue(0)
    click(qtbot, panel.listen)
    snap = wait_engine(client, lambda s: s.link is not None and s.link.listening_on, 60)
    port = int(snap.link.listening_on.rsplit(":", 1)[1])
    start(qtbot, window, client)
    click(qtbot, panel.hear)  # the link tap, heard
    wait_engine(client, lambda s: s.heard_tap == "link", timeout=30)
    qtbot.waitUntil(lambda: f"on 127.0.0.1:{port}" in panel.where.text(), timeout=5000)

    # When a `streamvox link send` process sends a tone through 10 % loss
    wav = tmp_path / "tone.wav"
    sf.write(wav, tone(2.0, 16_000), 16_000)
    sender = streamvox("link", "send", "--to", f"127.0.0.1:{port}", str(wav),
                       "--chain", "opus", "--loss", "10", "--seed", "5")  # fmt: skip
    wait_for_line(sender, "sending to:")
    rig.wire()
    rec = record(rig, np.zeros(int(2.5 * RATE), np.float32))
    report, err = sender.communicate(timeout=60)
    assert sender.returncode == 0, err

    # Then the window plays the tone it received, and the stats count what was sent
    assert tone_share(rec, RATE) > 0.3 and np.sqrt(np.mean(rec**2)) > 0.02
    datagrams = int(report.split("datagrams:")[1].split()[0])
    ended = lambda s: s.link.datagrams_in == datagrams and not s.link.playing  # noqa: E731
    done = wait_engine(client, ended, 30)
    assert done.link.lost > 0 and done.link.rejected == 0
    # And the panel shows exactly the engine's figures
    qtbot.waitUntil(lambda: panel.shown == client.snapshot().link, timeout=5000)
    shown = panel.shown
    # (every datagram is accounted for; on a loaded machine a stalled engine thread can
    # let a few go past the buffer's capacity, so this is a bound, not an equality)
    assert 0.9 * datagrams <= shown.received + shown.late <= datagrams
    assert panel.values["received"].text() == str(shown.received)
    assert panel.values["lost"].text() == str(shown.lost)
    assert panel.values["rejected"].text() == "0"
    assert panel.values["jitter"].text() == f"{shown.jitter_ms:.1f} ms"
    assert "waiting for a stream" in panel.where.text()

    # When Listen is released, the link is off and the panel says so
    click(qtbot, panel.listen)
    wait_engine(client, lambda s: s.link is None)
    qtbot.waitUntil(lambda: panel.values["received"].text() == "–", timeout=5000)


def test_the_panel_sends_the_live_input_through_its_impairment_sliders(
    qtbot, jack_server, rig, window, client, tmp_path
):
    panel = window.link_panel
    window.tabs.setCurrentWidget(panel)
    panel.chain.setCurrentText("opus")
    # A peer that is not HOST:PORT is refused in the panel, the toggle released
    panel.peer.setText("no port here")
    click(qtbot, panel.send)
    assert not panel.send.isChecked() and "HOST:PORT" in panel.error.text()

    # Given a `streamvox link receive` process, and the window sending to it with 20 % loss
    receiver = Receiver(tmp_path / "heard.wav", "--chain", "opus", "--seconds", "6")
    start(qtbot, window, client)
    panel.peer.setText(f"127.0.0.1:{receiver.port}")
    panel.sliders["loss"].setValue(20)
    assert panel.slider_labels["loss"].text() == "20 %"
    click(qtbot, panel.send)
    wait_engine(client, lambda s: s.link is not None and s.link.sending_to, 60)
    rig.wire()

    # When a tone plays into the window's engine
    record(rig, tone(2.5, RATE))
    stats = receiver.finish()

    # Then the receiver heard it, and losses that the engine simulated
    heard = sf.read(receiver.out, dtype="float32")[0]
    assert stats["received"] > 50 and stats["lost"] > 0 and stats["rejected"] == 0
    loud = np.flatnonzero(np.abs(heard) > 0.05)
    assert loud.size > 8_000 and tone_share(heard[loud[0] : loud[-1]], 16_000) > 0.3
    snap = wait_engine(client, lambda s: s.link.simulated_lost > 0)
    assert "sending opus to 127.0.0.1" in panel.where.text()

    # When the loss slider goes back to 0, the stream goes on without more losses
    panel.sliders["loss"].setValue(0)
    sent = snap.link.sent
    lost = wait_engine(client, lambda s: s.link.sent > sent + 20).link.simulated_lost
    later = wait_engine(client, lambda s: s.link.sent > sent + 80).link
    assert later.simulated_lost == lost
    qtbot.waitUntil(lambda: panel.shown is not None and panel.shown.sent > later.sent)
    assert panel.values["simulated lost"].text() == str(panel.shown.simulated_lost)
    click(qtbot, panel.send)
    wait_engine(client, lambda s: s.link is None)


def test_the_panel_sets_up_codec_against_opus_over_one_simulated_link(
    qtbot, jack_server, rig, window, client
):
    # Given the stream running and 10 % loss on the sliders (nothing sent, nothing listened)
    panel = window.link_panel
    window.tabs.setCurrentWidget(panel)
    start(qtbot, window, client)
    panel.sliders["loss"].setValue(10)

    # When the A/B button is pressed
    click(qtbot, panel.compare)
    snap = wait_engine(
        client,
        lambda s: (
            {s.status.slot_a, s.status.slot_b} == {"simlink@codec", "simlink@opus"}
            and {"simlink@codec", "simlink@opus"} <= set(s.status.taps_running or ())
        ),
        timeout=90,
    )
    # Then A holds the codec and B Opus, the A/B view says so, and Space flips between them
    assert (snap.status.slot_a, snap.status.slot_b) == ("simlink@codec", "simlink@opus")
    assert window.view.ab.slot_tap("A") == "simlink@codec"
    assert window.view.ab.slot_tap("B") == "simlink@opus"
    heard = wait_engine(client, lambda s: s.heard_tap.startswith("simlink@"), 30).heard_tap
    window.tabs.setCurrentWidget(window.view)  # back on the Live tab, Space flips A/B
    window.tabs.tabBar().setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    other = {"simlink@codec", "simlink@opus"} - {heard}
    wait_engine(client, lambda s: s.heard_tap in other, timeout=30)
    # And Opus over the lossy link plays the input back (the test codec is untrained)
    if client.current_tap() != "simlink@opus":
        window.live.toggle()  # what Space does
    wait_engine(client, lambda s: s.heard_tap == "simlink@opus", timeout=30)
    rig.wire()
    rec = record(rig, tone(2.0, RATE))
    loud = np.flatnonzero(np.abs(rec) > 0.05)
    assert loud.size > RATE // 2 and tone_share(rec[loud[0] : loud[-1]], RATE) > 0.3
    assert client.snapshot().latency.chain_ms >= 100.0  # the fixed jitter buffer
    # And the panel counts what the simulated link did to each
    qtbot.waitUntil(lambda: panel.shown is not None and len(panel.shown.simulated) == 2)
    text = panel.values["simulated link"].text()
    assert text.startswith("codec lost=") and ", opus lost=" in text


def test_the_link_ends_are_remembered_for_the_next_start(qtbot, window, client):
    # Given a peer, a listen port and address and a chain set in the Link tab, and used
    panel = window.link_panel
    panel.peer.setText("192.0.2.7:6001")
    panel.listen_port.setValue(6002)
    panel.bind.setText("127.0.0.1")
    panel.chain.setCurrentText("opus")
    click(qtbot, panel.listen)
    wait_engine(client, lambda s: s.link is not None and s.link.listening_on, 60)
    click(qtbot, panel.listen)  # off again
    window.settings.flush()
    # When the app starts again on the same settings file
    from app.main_window import MainWindow
    from app.settings_store import SettingsStore

    again = MainWindow(client, SettingsStore(window.settings.path))
    qtbot.addWidget(again)
    # Then its Link tab shows the same ends, with nothing started
    p = again.link_panel
    assert (p.peer.text(), p.listen_port.value(), p.chain.currentText()) == (
        "192.0.2.7:6001",
        6002,
        "opus",
    )
    assert not p.listen.isChecked() and not p.send.isChecked()
