"""The audio server dies mid-stream: the window says so, offers actions, and recovers."""

import pytest
from PySide6.QtCore import Qt

from tests.audio.jack_rig import JackServer, jack_available
from tests.gui.helpers import wait_engine

pytestmark = pytest.mark.slow


@pytest.fixture
def own_server(monkeypatch):
    """A JACK server this test may kill and restart (restarted under the same name)."""
    if not jack_available():
        pytest.skip("jackd or the JACK-Client package is not installed")
    server = JackServer()
    server.start()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    yield server
    if server.proc is None:
        server.start()  # a killed server's registry slot is reclaimed by its name
    server.stop()


def test_server_killed_mid_stream_then_back(qtbot, own_server, window, client):
    # Given the stream running on the server
    qtbot.mouseClick(window.view.transport.button, Qt.MouseButton.LeftButton)
    wait_engine(client, lambda s: s.state == "running", timeout=60)
    # When the server dies
    own_server.kill()
    snap = wait_engine(client, lambda s: s.state == "error", timeout=20)
    # Then the window says the device is lost, once, with what to do
    qtbot.waitUntil(lambda: window.session.errors.dialog is not None, timeout=5000)
    dialog = window.session.errors.dialog
    assert "Audio device lost" in dialog.text(), snap.error
    assert {"Refresh devices", "Stop"} <= {b.text() for b in dialog.buttons()}
    assert window.view.transport.state == "error"
    # When the server comes back, the engine's retries reopen the stream by themselves
    own_server.start()
    wait_engine(client, lambda s: s.state == "running", timeout=60)
    qtbot.waitUntil(lambda: window.view.transport.state == "running", timeout=5000)
    assert client.snapshot().restarts >= 1
