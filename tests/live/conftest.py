"""JACK fixtures for the live tests (a private dummy server per module, a wired test client)."""

from tests.audio.conftest import jack_server, rig  # noqa: F401
