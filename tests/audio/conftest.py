"""Fixtures for tests on a real JACK audio server (skipped where JACK is missing)."""

import os

import pytest

from tests.audio.jack_rig import JackRig, JackServer, jack_available


@pytest.fixture(scope="module")
def jack_server():
    """A private JACK server (dummy driver, 48 kHz, period 256) for one test module."""
    if not jack_available():
        pytest.skip("jackd or the JACK-Client package is not installed")
    server = JackServer()
    server.start()
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = server.name  # read by the engine's audio host
    try:
        yield server
    finally:
        server.stop()
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old


@pytest.fixture
def rig(jack_server):
    """A JACK client wired to the engine's ports by ``rig.wire()``."""
    r = JackRig(jack_server.name)
    yield r
    r.close()
