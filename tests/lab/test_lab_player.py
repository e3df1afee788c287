"""The Lab's A/B player: crossfade logic offline, and what it really plays on JACK.

PortAudio runs in the player's child process, never in this one: the tests
need no PortAudio clean-up of their own.
"""

import time

import numpy as np
import pytest

from engine.lab.player import ABMixer, PairPlayer
from tests.audio.jack_recorder import Recorder

SR = 16_000


def _pair(seconds=2.0, rate=SR, freq=250.0):
    """sin and cos under a rising envelope: a flip must keep the phase and the level."""
    t = np.arange(int(seconds * rate)) / rate
    env = np.linspace(0.2, 0.6, t.size)
    return (env * np.sin(2 * np.pi * freq * t)).astype(np.float32), (
        env * np.cos(2 * np.pi * freq * t)
    ).astype(np.float32)


def _render(mixer, blocks, flips_at=()):
    out = []
    for i, size in enumerate(blocks):
        if i in flips_at:
            mixer.flip()
        buf = np.zeros(size, np.float32)
        mixer.render(buf)
        out.append(buf)
    return np.concatenate(out)


def test_mixer_plays_one_source_then_crossfades_at_the_same_position():
    a, b = _pair(0.5)
    m = ABMixer(a, b, fade=240)
    m.start("original", 0)
    y = _render(m, [100] * 85, flips_at=(30,))
    np.testing.assert_array_equal(y[:3000], a[:3000])
    np.testing.assert_allclose(y[3240:8000], b[3240:], atol=1e-7)  # same position, not restarted
    fade = y[3000:3240]
    assert np.all(np.minimum(a[3000:3240], b[3000:3240]) - 1e-6 <= fade)
    assert np.all(fade <= np.maximum(a[3000:3240], b[3000:3240]) + 1e-6)
    assert m.pos == 8000 and y[8000:].max() == 0.0  # zeros past the end


def test_flips_mid_fade_reverse_smoothly():
    a, b = _pair(0.5)
    m = ABMixer(a, b, fade=480)
    m.start("original", 0)
    # flip every 7 blocks of 37 frames: most flips land inside a fade
    y = _render(m, [37] * 200, flips_at=set(range(5, 200, 7)))
    step_limit = 2 * np.pi * 250 / SR * 0.6 * 1.5  # the sine's own largest step, +50%
    assert np.max(np.abs(np.diff(y))) < step_limit
    hard = _render(ABMixer(a, b, fade=1), [37] * 200, flips_at=set(range(5, 200, 7)))
    assert np.max(np.abs(np.diff(hard))) > 3 * step_limit  # the check can see a click


def test_bad_arguments_are_refused():
    a, b = _pair(0.1)
    with pytest.raises(ValueError):
        ABMixer(a, b, fade=0)
    with pytest.raises(ValueError):
        ABMixer(a, b, fade=10).select("louder")
    with pytest.raises(ValueError):
        PairPlayer(block=4)
    with pytest.raises(ValueError):
        PairPlayer().play()  # nothing loaded
    with pytest.raises(ValueError):
        PairPlayer(timeout_s=0)


def test_player_plays_and_flips_on_a_jack_server(jack_server):
    import soxr

    lead = np.zeros(int(0.3 * SR), np.float32)  # the recorder connects once the ports exist
    a, b = (np.concatenate([lead, s]) for s in _pair(2.0))
    player = PairPlayer(block=256, fade_ms=15.0, jack_client_name="svlabplay")
    player.load(a, b, SR)
    assert player.state().duration_s == pytest.approx(2.3, abs=1e-3)
    assert "JACK" in player.state().device
    rec = Recorder(jack_server.name, "svlabplay", seconds=8.0)
    try:
        player.play("original", start_s=0.0)
        rec.connect()
        time.sleep(1.0)
        assert player.state().playing and player.state().source == "original"
        assert player.flip() == "processed"
        assert player.wait(timeout=20.0)
        assert not player.state().playing
    finally:
        player.close()
        rec.close()
    y = rec.rec[: rec.n]
    a48, b48 = (soxr.resample(s, SR, 48_000, quality="HQ") for s in (a, b))
    # where sample 0 of the take lies in the recording (may be before it began)
    onset = int(np.argmax(np.abs(y) > 0.01))
    assert onset > 0, "the recording began after the sound"
    start = onset - int(np.argmax(np.abs(a48) > 0.01))
    first = 19_200  # compare from the first sound on
    heard = y[start + first : start + a48.size]
    a48, b48 = a48[first:], b48[first:]
    assert heard.size == a48.size
    err_a = np.abs(heard - a48) > 1e-3
    err_b = np.abs(heard - b48) > 1e-3
    flip = int(np.argmax(err_a))  # first sample that is no longer the original
    assert 0.3 * 48_000 < flip < 1.9 * 48_000
    assert not err_a[:flip].any()  # the original, exactly, up to the flip
    after = flip + int(0.015 * 48_000) + 2
    assert err_b[flip : flip + 360].mean() > 0.9  # gradual: for half the fade still a mix
    assert not err_b[after:].any()  # then the processed version at the same position
    around = slice(flip - 480, after + 480)
    steady = max(np.max(np.abs(np.diff(s[around]))) for s in (a48, b48))
    assert np.max(np.abs(np.diff(heard[around]))) < 1.3 * steady  # no click at the flip
