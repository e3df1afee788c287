"""The README screenshot: the running window, speech playing through codec+vocoder.

    STREAMVOX_SCREENSHOT=docs/screenshot.png python -m pytest -q tests/gui/test_screenshot.py

writes ``docs/screenshot.png`` (1280x720, offscreen). Without the variable the
image goes to a temporary folder; either way the test checks it shows a
running stream with live meters. It uses the real engine with the bundled
weights, a JACK dummy server, and espeak-ng speech played into the input.
"""

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from app.screenshot import SIZE, grab
from tests.audio.jack_rig import RATE
from tests.gui.helpers import wait_engine
from tests.speech_fixture import SENTENCES, make_speech

pytestmark = pytest.mark.slow


def speech(tmp_path, seconds=4.0):
    parts = []
    for i, text in enumerate(SENTENCES):
        x, rate = sf.read(make_speech(tmp_path / f"s{i}.wav", text), dtype="float32")
        parts.append(soxr.resample(x, rate, RATE))
    x = np.concatenate(parts)[: int(seconds * RATE)]
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def test_screenshot_of_the_running_window(qtbot, jack_server, rig, tmp_path):
    from app.engine_client import EngineClient
    from app.main_window import MainWindow
    from app.settings_store import SettingsStore

    x = speech(tmp_path)
    client = EngineClient()  # bundled weights, engine in its own process
    window = MainWindow(client, SettingsStore())
    qtbot.addWidget(window)
    try:
        window.resize(*SIZE)
        window.show()
        with qtbot.waitSignal(window.session.devices_ready, timeout=30_000):
            window.begin()
        window.session.start()
        wait_engine(client, lambda s: s.state == "running", timeout=120)
        wait_engine(client, lambda s: s.heard_tap == "codec+vocoder", timeout=60)
        rig.wire()
        done = threading.Event()
        threading.Thread(target=lambda: (rig.play_record(x, extra=0.2), done.set())).start()
        end = time.monotonic() + 0.8 * len(x) / RATE
        while time.monotonic() < end and not done.is_set():
            QApplication.processEvents()
            time.sleep(0.01)
        target = os.environ.get("STREAMVOX_SCREENSHOT") or tmp_path / "screenshot.png"
        path = grab(window, target)
        done.wait(30)
        assert window.view.transport.state == "running"
        assert np.abs(window.view.waveforms.drawn("in")).max() > 0.05
    finally:
        window.close()
        client.close()
    image = QImage(str(path))
    assert (image.width(), image.height()) == SIZE
    assert Path(path).stat().st_size > 20_000  # a drawn window, not a blank one
