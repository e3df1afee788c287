"""JACK fixtures for the lab tests (a private dummy server per module, a wired test client)."""

from tests.audio.conftest import jack_server, rig  # noqa: F401
