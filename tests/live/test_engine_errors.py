"""Errors without any audio server: reported in the snapshot, nothing hangs."""

import time

import numpy as np
import pytest

from engine.audio.devices import query_isolated
from engine.audio.errors import AudioError
from engine.audio.stream import StreamSpec
from engine.live import control as cmd
from engine.live.engine import Engine, EngineOptions
from engine.live.taps import available_taps, effective_tap
from tests.audio.toy_stages import toy_factory


def wait_state(engine, state, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = engine.snapshot()
        if snap.state == state:
            return snap
        time.sleep(0.02)
    raise AssertionError(f"state {engine.snapshot().state}, wanted {state}")


@pytest.fixture
def no_audio(monkeypatch):
    """A JACK server name nobody runs: PortAudio then sees only the real sound cards."""
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "streamvox-nobody-here")
    _, devices = query_isolated()
    if any(d.max_input_channels for d in devices):
        pytest.skip("this machine has a real input device")


def test_no_input_device_is_reported_and_the_engine_stays_usable(no_audio):
    engine = Engine(factory=toy_factory(), options=EngineOptions(retry_s=0.2))
    try:
        engine.send(cmd.Start(StreamSpec(), chain="dry"))
        snap = wait_state(engine, "error")
        assert "no audio input device found" in snap.error
        with pytest.raises(AudioError):
            engine.measure(np.ones(100, np.float32), timeout=5)
        engine.send(cmd.Stop())  # stops retrying
        snap = wait_state(engine, "stopped")
        assert snap.error is None
    finally:
        t0 = time.monotonic()
        engine.close()
        assert time.monotonic() - t0 < 5.0


def test_commands_validate_in_the_caller():
    for bad in (
        lambda: cmd.SetChunk(0),
        lambda: cmd.SetChunk(11),
        lambda: cmd.SelectSlot("C"),
        lambda: cmd.AssignTap("A", "robot"),
        lambda: cmd.SetBypass("reverb", True),
        lambda: cmd.SetGain("input", 40.0),
        lambda: cmd.Start(chain="reverb"),
        lambda: cmd.Start(margin_ms=-1.0),
        lambda: cmd.Capture(0.0),
        lambda: StreamSpec(block=8),
        lambda: StreamSpec(latency="fast"),
        lambda: StreamSpec(in_channels=3),
    ):
        with pytest.raises(ValueError):
            bad()


def test_taps_and_bypass_logic():
    assert available_taps("codec,vocoder") == ("dry", "codec", "vocoder", "codec+vocoder")
    assert available_taps("vocoder") == ("dry", "vocoder")
    assert effective_tap("codec+vocoder", {"codec"}) == "vocoder"
    assert effective_tap("codec+vocoder", {"codec", "vocoder"}) == "dry"
    assert effective_tap("codec", master_bypass=True) == "dry"
