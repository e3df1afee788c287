"""Opus through libopus: latency as declared, quality rising with bitrate, streaming exact."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audiofile import read_mono_16k
from engine.classic.opus_stage import OpusStage
from engine.dsp import metrics
from engine.dsp.opus_codec import OpusCodec, OpusConfig, OpusUnavailableError, toc_bandwidth_hz
from tests.speech_fixture import make_speech
from tests.streaming import stream

BITRATES = (6_000, 9_300, 12_000, 16_000, 24_000, 32_000)
# Minimum correlation of a decoded 440 Hz tone with the input at the declared
# alignment, and minimum PESQ-WB on espeak speech: both rise with bitrate.
MIN_TONE_CORR = {6_000: 0.85, 9_300: 0.9, 12_000: 0.93, 16_000: 0.95, 24_000: 0.95, 32_000: 0.97}
MIN_PESQ = {6_000: 1.1, 9_300: 1.6, 12_000: 2.0, 16_000: 2.5, 24_000: 3.2, 32_000: 3.6}


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = make_speech(tmp_path_factory.mktemp("opus") / "speech.wav")
    return read_mono_16k(path).samples


def tone(n=16_000, freq=440.0):
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(n) / 16_000)).astype(np.float32)


@pytest.mark.parametrize("bitrate", BITRATES)
def test_tone_round_trip_is_aligned_at_the_declared_latency(bitrate):
    stage = OpusStage(bitrate_bps=bitrate)
    assert stage.latency == stage.hop + stage.codec.lookahead == 320 + stage.model_delay
    x = tone()
    raw = stream(stage, np.concatenate([x, np.zeros(stage.latency, np.float32)]), [256])
    y = raw[stage.latency :]
    core = slice(2000, -2000)
    corr = np.corrcoef(x[core], y[core])[0, 1]
    assert corr > MIN_TONE_CORR[bitrate]
    for shift in (-8, 8):  # a misalignment of a few samples would show
        assert np.corrcoef(x[core], np.roll(y, shift)[core])[0, 1] < corr
    assert abs(stage.codec.payload_bitrate_bps - bitrate) <= 8 * 50  # CBR: within a byte/frame


@pytest.mark.parametrize("bitrate", BITRATES)
def test_speech_delay_and_quality(speech, bitrate):
    stage = OpusStage(bitrate_bps=bitrate)
    pad = np.zeros(stage.latency + 400, np.float32)
    raw = stage.process(np.concatenate([speech, pad]))
    lag = metrics.find_delay(speech, raw, stage.latency + 400)
    assert abs(lag - stage.latency) <= 2
    aligned = raw[stage.latency : stage.latency + len(speech)]
    assert metrics.pesq_wb(speech, aligned) > MIN_PESQ[bitrate]


def test_ten_ms_frames_lower_the_latency(speech):
    stage = OpusStage(bitrate_bps=16_000, frame_ms=10)
    assert stage.hop == 160 and stage.latency == 160 + stage.codec.lookahead
    raw = stage.process(np.concatenate([speech, np.zeros(stage.latency + 400, np.float32)]))
    assert abs(metrics.find_delay(speech, raw, stage.latency + 400) - stage.latency) <= 2


def test_bandwidth_widens_with_bitrate():
    low, high = OpusCodec(OpusConfig(bitrate_bps=6_000)), OpusCodec(OpusConfig(bitrate_bps=32_000))
    frames = tone(3200, freq=1000).reshape(-1, 320)
    for f in frames:
        low.encode(f)
        high.encode(f)
    assert low.last_bandwidth_hz == 4000  # narrowband
    assert high.last_bandwidth_hz == 8000  # wideband, the most 16 kHz allows


def test_toc_bandwidth_follows_rfc6716():
    assert [toc_bandwidth_hz(bytes([c << 3])) for c in (0, 4, 8, 12, 14, 16, 20, 24, 28)] == [
        4000, 6000, 8000, 12000, 20000, 4000, 8000, 12000, 20000
    ]  # fmt: skip
    with pytest.raises(ValueError):
        toc_bandwidth_hz(b"")


@settings(max_examples=25, deadline=None)
@given(
    bitrate=st.sampled_from(BITRATES),
    frame_ms=st.sampled_from([10, 20]),
    blocks=st.lists(st.integers(1, 700), min_size=1, max_size=5),
)
def test_stream_equals_offline_delayed_by_latency(bitrate, frame_ms, blocks):
    rng = np.random.default_rng(bitrate + frame_ms)
    x = (tone(6000, 300) + 0.05 * rng.standard_normal(6000)).astype(np.float32)
    stage = OpusStage(bitrate_bps=bitrate, frame_ms=frame_ms)
    y = stream(stage, x, blocks)
    ref = np.concatenate([np.zeros(stage.latency, np.float32), stage.offline(x)])[: len(x)]
    np.testing.assert_array_equal(y, ref)


def test_reset_returns_to_a_fresh_codec():
    x = (tone(8000) + 0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    stage = OpusStage(bitrate_bps=12_000)
    first = stage.process(x)
    assert stage.codec.frames == 25
    stage.reset()
    assert stage.codec.frames == 0
    np.testing.assert_array_equal(stage.process(x), first)
    np.testing.assert_array_equal(OpusStage(bitrate_bps=12_000).process(x), first)


def test_without_reset_the_state_carries_over():
    x = (tone(8000) + 0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    stage = OpusStage(bitrate_bps=12_000)
    first = stage.process(x)
    assert not np.array_equal(stage.process(x), first)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bitrate_bps": 5_999}, "bitrate"),
        ({"bitrate_bps": 32_001}, "bitrate"),
        ({"frame_ms": 15}, "frame"),
        ({"complexity": 11}, "complexity"),
        ({"application": "music"}, "application"),
    ],
)
def test_invalid_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OpusStage(**kwargs)


def test_wrong_frame_length_is_refused():
    with pytest.raises(ValueError, match="320 samples"):
        OpusCodec().encode(np.zeros(100, np.float32))


def test_missing_binding_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opuslib_next", None)  # as if not installed
    with pytest.raises(OpusUnavailableError, match="pip install opuslib_next"):
        OpusStage()
