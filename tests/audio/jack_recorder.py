"""Record what a PortAudio client in this process plays on the test JACK server."""

import time

import numpy as np
import pytest


class Recorder:
    """A JACK client recording the player's first output port from the moment it connects."""

    def __init__(self, server, source_client, seconds):
        import jack

        self.client = jack.Client("svlabrec", servername=server, no_start_server=True)
        self.port = self.client.inports.register("in")
        self.rec = np.zeros(int(seconds * 48_000), np.float32)
        self.n = 0
        self.client.set_process_callback(self._process)
        self.client.activate()
        self.source = source_client

    def _process(self, frames):
        k = min(frames, self.rec.size - self.n)
        if k > 0:
            self.rec[self.n : self.n + k] = self.port.get_array()[:k]
            self.n += k

    def connect(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not (outs := self.client.get_ports(f"{self.source}:out_", is_output=True)):
            assert time.monotonic() < deadline, "the player's JACK ports never appeared"
            time.sleep(0.01)
        self.client.connect(outs[0], self.port)

    def close(self):
        self.client.deactivate()
        self.client.close()


@pytest.fixture
def portaudio_released(monkeypatch):
    """Leave JACK before the test server stops: PortAudio aborts at exit otherwise."""
    yield
    import sounddevice as sd

    sd._terminate()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "svnone")  # re-initialise without a JACK client
    sd._initialize()
