"""End to end: the window drives the real engine on a JACK dummy server.

A JACK test client plays into the engine's input ports and records its
output ports (fixtures from ``tests/audio/conftest.py``), so the tests hear
what a person would hear.
"""

import itertools
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.priority import GUI_NICE, yield_to_audio
from engine.live.loopback import find_delay
from tests.audio.jack_rig import RATE
from tests.gui.helpers import wait_engine

JACK = "JACK Audio Connection Kit"

pytestmark = pytest.mark.slow


def noise(seconds, seed):
    x = 0.2 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))
    return np.clip(x, -0.7, 0.7).astype(np.float32)


def similarity(a, b):
    """|cosine| between two signals of the same length (1: same shape, 0: unrelated)."""
    return abs(float(np.dot(a, b))) / (float(np.linalg.norm(a) * np.linalg.norm(b)) + 1e-12)


def start(qtbot, window, client):
    assert window.view.devices.selection().host_api == JACK
    qtbot.mouseClick(window.view.transport.button, Qt.MouseButton.LeftButton)
    snap = wait_engine(client, lambda s: s.state == "running", timeout=60)
    qtbot.waitUntil(lambda: window.view.transport.state == "running", timeout=5000)
    return snap


def play(jack_rig, seconds=0.6, seed=1, window=None):
    """Play noise into the engine and record its output; the GUI keeps running meanwhile.

    Returns the signal, the recording and the highest (input, output) peak
    levels the level meter showed during it.
    """
    x = noise(seconds, seed)
    out = {}
    worker = threading.Thread(target=lambda: out.update(rec=jack_rig.play_record(x, extra=0.5)))
    worker.start()
    peaks = [-120.0, -120.0]
    while worker.is_alive():
        QApplication.processEvents()
        if window is not None:
            shown = window.view.levels.shown
            peaks = [max(peaks[0], shown["in"][0]), max(peaks[1], shown["out"][0])]
        time.sleep(0.005)
    worker.join()
    return x, out["rec"], peaks


def test_start_ab_chunk_stop_changes_what_is_heard(qtbot, jack_server, rig, window, client):
    # Given the window on a JACK server: start, and listen to the dry signal (key 1)
    start(qtbot, window, client)
    rig.wire()
    qtbot.keyClick(window, Qt.Key.Key_1)
    wait_engine(client, lambda s: s.heard_tap == "dry")
    x, rec, _peaks = play(rig)
    delay, _q = find_delay(x, rec)
    assert delay is not None
    d = int(round(delay))
    # dry: a delayed copy (the engine tests prove it exact; a loaded machine may drop a block)
    assert similarity(rec[d : d + len(x)], x) > 0.95

    # When Space toggles back to codec+vocoder (the tap selected before)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    wait_engine(client, lambda s: s.heard_tap == "codec+vocoder", timeout=20)
    assert "Codec + vocoder" in window.view.ab.playing.text()
    x2, rec2, _peaks = play(rig, seed=2)
    # Then the output is audio, but no longer the input
    seg = rec2[d : d + len(x2)]
    assert np.sqrt(np.mean(seg**2)) > 1e-3
    assert similarity(seg, x2) < 0.5

    # When the chunk slider moves to 5 frames, the vocoder latency follows live
    # (5 x 20 ms, less the 5 ms that running it fused after the codec saves)
    before = client.snapshot().latency
    window.view.chain.chunk.setValue(5)
    snap = wait_engine(client, lambda s: abs(s.latency.vocoder_ms - 95.0) < 0.01, timeout=30)
    assert snap.latency.chain_ms > before.chain_ms
    qtbot.waitUntil(lambda: "95.0 ms" in window.view.latency.values["vocoder"].text())
    x3, rec3, peaks = play(rig, seed=3, window=window)
    assert np.sqrt(np.mean(rec3**2)) > 1e-3  # still streaming after the live change

    # And the meters showed the signals while they played
    in_peak = 20 * np.log10(np.abs(x3).max())
    assert abs(peaks[0] - in_peak) < 1.0  # the input meter reached the noise's peak
    assert peaks[1] > -40.0
    assert np.abs(window.view.waveforms.drawn("in")).max() > 0.1
    assert {"codec", "vocoder"} <= set(window.view.timing.rows)  # per-stage sparklines

    # When Stop is pressed the engine stops and the window says so
    qtbot.mouseClick(window.view.transport.button, Qt.MouseButton.LeftButton)
    wait_engine(client, lambda s: s.state == "stopped")
    assert window.view.transport.state == "stopped"


def xruns_during(client, seconds, work):
    """Xruns the engine counts while ``work()`` runs repeatedly for ``seconds``."""
    before = client.snapshot()
    t0 = time.monotonic()
    rounds = 0
    while time.monotonic() - t0 < seconds:
        work()
        QApplication.processEvents()
        rounds += 1
    after = client.snapshot()
    return after.xruns.total - before.xruns.total, after.frames - before.frames, rounds


def settle_until_clean(client, window_s=2.0, limit_s=20.0):
    """Wait for a ``window_s`` stretch without xruns (the margin adapts to the machine first)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if xruns_during(client, window_s, lambda: time.sleep(0.02))[0] == 0:
            return
    pytest.skip(f"no {window_s} s without xruns in {limit_s} s: too loaded to judge")


def test_busy_gui_does_not_starve_the_audio(qtbot, jack_server, window, client):
    # Given codec+vocoder running and settled, the GUI stepped back as app.main does
    assert yield_to_audio() >= GUI_NICE
    start(qtbot, window, client)
    wait_engine(client, lambda s: s.heard_tap == "codec+vocoder", timeout=20)
    settle_until_clean(client)
    big = np.sin(np.linspace(0, 3000, 400_000)).astype(np.float32)
    sizes = iter(itertools.cycle([(1280, 720), (1024, 640), (1400, 800)]))

    def busy():
        window.resize(*next(sizes))
        window.view.waveforms.set_waveforms(big, -big)
        window.repaint()

    # When the GUI alternates between idle and busy (resizes, large redraws back to back)
    # (on a shared 2-core machine one isolated xrun can come from anything: two more
    # full measurements are allowed, and the last must be clean; 2026-12-07 two of
    # three clean-clone CI runs had 3-4 busy xruns in both of two measurements, while
    # isolated runs were clean: see docs/status.md)
    for _attempt in range(3):
        idle_xruns, busy_xruns, busy_frames, rounds = 0, 0, 0, 0
        for _ in range(3):
            idle_xruns += xruns_during(client, 1.5, lambda: time.sleep(0.02))[0]
            x, frames, r = xruns_during(client, 1.5, busy)
            busy_xruns, busy_frames, rounds = busy_xruns + x, busy_frames + frames, rounds + r
        if busy_xruns == 0:
            break
    # (a machine too loaded to play glitch-free with an idle GUI cannot judge the GUI)
    if idle_xruns:
        pytest.skip(
            f"{idle_xruns} xruns with the GUI idle ({client.snapshot().xruns}): "
            "this machine is too loaded to judge"
        )
    # Then the engine kept up while busy: no xrun of any kind, and the audio kept flowing
    assert rounds > 10
    assert busy_xruns == 0
    assert busy_frames > 0.8 * 4.5 * RATE


def test_using_other_weights_changes_the_sound(
    qtbot, jack_server, rig, window, client, silent_codec_file
):
    # Given the codec tap (key 2) playing on JACK
    start(qtbot, window, client)
    rig.wire()
    qtbot.keyClick(window, Qt.Key.Key_2)
    wait_engine(client, lambda s: s.heard_tap == "codec", timeout=20)
    _x, rec, _ = play(rig, seed=4)
    assert np.sqrt(np.mean(rec[RATE // 4 :] ** 2)) > 1e-3
    # When weights whose decoder outputs nothing are imported and used from the Models dialog
    dialog = window.open_models()
    worker = dialog.import_path(silent_codec_file)
    with qtbot.waitSignal(worker.finished, timeout=20_000):
        pass
    qtbot.waitUntil(lambda: dialog.selected() is not None)
    dialog.use_button.click()
    assert "silent-codec" in window.view.chain.codec_weights.text()
    # Then, once the engine has crossfaded to them, the codec tap is silent
    deadline = time.monotonic() + 20
    while True:
        _x, rec, _ = play(rig, seconds=0.4, seed=5)
        if np.abs(rec).max() < 1e-6 or time.monotonic() > deadline:
            break
    assert np.abs(rec).max() < 1e-6
    assert client.snapshot().state == "running"


def test_device_panel_changes_restart_the_stream_and_are_remembered(
    qtbot, jack_server, window, client
):
    # Given the stream running with block 256
    before = start(qtbot, window, client)
    assert before.status.block == 256
    # When the person picks block 128 in the device panel
    panel = window.view.devices
    panel.block.setCurrentIndex(panel.block.findData(128))
    # Then the engine reopens the device with it, and the choice is remembered
    snap = wait_engine(client, lambda s: s.state == "running" and s.status.block == 128, timeout=60)
    # JACK runs every client at its own period: the engine says so, the status line
    # shows it, and the latency does not grow
    assert snap.status.device_block == 256
    assert snap.latency.ring_ms <= before.latency.ring_ms + 1e-6
    qtbot.waitUntil(lambda: "server period" in window.view.transport.detail.text(), timeout=5000)
    assert window.settings.value.block_size == 128
    assert window.settings.value.host_api == JACK


def test_loopback_measurement_from_the_dialog(qtbot, jack_server, rig, window, client):
    # Given the dry signal on a JACK loopback (engine output wired to its input)
    start(qtbot, window, client)
    qtbot.keyClick(window, Qt.Key.Key_1)
    wait_engine(client, lambda s: s.heard_tap == "dry")
    rig.loopback()
    # When the person measures from the dialog
    dialog = window.open_loopback()
    assert "loopback" in dialog.findChild(type(dialog.result)).text().lower()
    before = client.snapshot().latency.total_ms
    worker = dialog.start()
    with qtbot.waitSignal(worker.finished, timeout=40_000):
        pass
    # Then a glass-to-glass latency is shown, consistent with the reported breakdown
    # (the adaptive margin may grow during the measurement on a loaded machine:
    # the measurement lies between what was reported before and after it)
    assert dialog.result_ms is not None, dialog.result.text()
    after = client.snapshot().latency.total_ms
    period_ms = 1000 * 256 / RATE
    low, high = min(before, after), max(before, after)
    assert low - period_ms <= dialog.result_ms <= high + 2 * period_ms, (before, after)
    assert f"{dialog.result_ms:.1f} ms" in window.view.latency.measured.text()


def test_a_vocoder_with_shorter_frames_relabels_the_chunk_control(
    qtbot, jack_server, window, client
):
    # Given the stream running with the (tiny, seed-frame) vocoder at chunk 10
    start(qtbot, window, client)
    window.view.chain.chunk.setValue(10)
    wait_engine(client, lambda s: s.status.vocoder_frame_ms == 20.0)
    assert "200 ms" in window.view.chain.chunk_label.text()
    # When the 8 ms-frame vocoder is picked in the Models dialog
    dialog = window.open_models()
    dialog.select_name("lowlatency-vocoder")
    dialog.use_button.click()
    # Then the engine runs it, and the chunk control says what a frame is now worth
    wait_engine(client, lambda s: s.status.vocoder_frame_ms == 8.0, timeout=30)
    qtbot.waitUntil(lambda: "80 ms" in window.view.chain.chunk_label.text(), timeout=5000)
    assert "+8 ms" in window.view.chain.chunk_label.text()
    assert client.snapshot().state == "running"


def test_a_fixed_safety_margin_from_the_device_panel_reaches_the_engine(
    qtbot, jack_server, window, client
):
    # Given the stream running with the automatic margin
    before = start(qtbot, window, client)
    assert before.status.adaptive is True
    # When the person fixes the margin at 8 ms
    panel = window.view.devices
    panel.margin.setCurrentIndex(panel.margin.findData(8.0))
    # Then the engine restarts with exactly that much beyond one block, never grown
    snap = wait_engine(
        client, lambda s: s.state == "running" and s.status.adaptive is False, timeout=60
    )
    assert snap.status.margin_ms == pytest.approx(8.0, abs=0.05)
    assert snap.latency.ring_ms == pytest.approx(
        8.0 + 1000.0 * snap.status.device_block / RATE, abs=0.05
    )
    assert window.settings.value.safety_margin_ms == 8.0
    # and back to automatic
    panel.margin.setCurrentIndex(panel.margin.findData(0.0))
    wait_engine(client, lambda s: s.state == "running" and s.status.adaptive, timeout=60)
    assert window.settings.value.safety_margin_ms == 0.0
