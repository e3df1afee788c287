"""G.711 μ-law / A-law against the ITU-T G.711 tables, and their streaming stages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.classic import g711
from engine.classic.g711_stage import ALawStage, G711Stage, MuLawStage
from engine.dsp import metrics
from tests.streaming import stream as _stream

# (14-bit linear input, code, 14-bit decoded value) from G.711 Table 2a (μ-law):
# segment edges 31, 95, 223, 479, 991, 2015, 4063; decoded midpoints.
MULAW_TABLE = [
    (0, 0xFF, 0),
    (1, 0xFE, 2),
    (30, 0xF0, 30),
    (31, 0xEF, 33),
    (94, 0xE0, 93),
    (95, 0xDF, 99),
    (223, 0xCF, 231),
    (479, 0xBF, 495),
    (991, 0xAF, 1023),
    (2015, 0x9F, 2079),
    (4063, 0x8F, 4191),
    (8158, 0x80, 8031),
    (8191, 0x80, 8031),
    (-1, 0x7F, 0),  # negative zero
    (-2, 0x7E, -2),
    (-4064, 0x0F, -4191),
    (-8192, 0x00, -8031),
]

# (13-bit linear input, code, 13-bit decoded value) from G.711 Table 1a (A-law):
# segment edges 32, 64, 128, ..., 2048; even bits inverted (XOR 0x55).
ALAW_TABLE = [
    (0, 0xD5, 1),
    (1, 0xD5, 1),
    (2, 0xD4, 3),
    (31, 0xDA, 31),
    (32, 0xC5, 33),
    (64, 0xF5, 66),
    (128, 0xE5, 132),
    (256, 0x95, 264),
    (512, 0x85, 528),
    (1024, 0xB5, 1056),
    (2048, 0xA5, 2112),
    (4095, 0xAA, 4032),
    (-1, 0x55, -1),
    (-33, 0x45, -33),
    (-4096, 0x2A, -4032),
]


@pytest.mark.parametrize(("lin", "code", "decoded"), MULAW_TABLE)
def test_mulaw_matches_itu_table(lin, code, decoded):
    x = np.array([lin / g711.MULAW_SCALE])
    assert g711.mulaw_encode(x)[0] == code
    assert g711.mulaw_decode_int(np.array([code]))[0] == decoded
    assert g711.mulaw_decode(np.array([code]))[0] == pytest.approx(decoded / 8192)


@pytest.mark.parametrize(("lin", "code", "decoded"), ALAW_TABLE)
def test_alaw_matches_itu_table(lin, code, decoded):
    x = np.array([lin / g711.ALAW_SCALE])
    assert g711.alaw_encode(x)[0] == code
    assert g711.alaw_decode_int(np.array([code]))[0] == decoded
    assert g711.alaw_decode(np.array([code]))[0] == pytest.approx(decoded / 4096)


def test_out_of_range_and_nan_inputs_clip():
    x = np.array([1.5, -7.0, np.nan])
    assert list(g711.mulaw_encode(x)) == [0x80, 0x00, 0xFF]
    assert list(g711.alaw_encode(x)) == [0xAA, 0x2A, 0xD5]


@pytest.mark.parametrize("decode_int", [g711.mulaw_decode_int, g711.alaw_decode_int])
def test_decoder_tables_are_odd_symmetric_with_distinct_levels(decode_int):
    codes = np.arange(256)
    values = decode_int(codes)
    np.testing.assert_array_equal(decode_int(codes ^ 0x80), -values)
    positive = np.sort(values[values > 0])
    assert len(np.unique(positive)) == len(positive)  # distinct levels
    assert values.max() in (8031, 4032)


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(g711.mulaw_encode, g711.mulaw_decode), (g711.alaw_encode, g711.alaw_decode)],
)
def test_decoded_levels_reencode_to_their_code(encode, decode):
    codes = np.arange(256, dtype=np.uint8)
    again = encode(decode(codes))
    mismatch = codes[again != codes]
    assert set(mismatch.tolist()) <= {0x7F}  # μ-law's -0 re-encodes as +0


def test_mulaw_roundtrip_error_within_half_step_per_segment():
    top = 8159 / 8192  # above this the quantiser overloads
    x = np.random.default_rng(0).uniform(-top, top, 200_000)
    code = g711.mulaw_encode(x)
    seg = g711.mulaw_segment(code)
    err = np.abs(g711.mulaw_decode(code) - x) * 8192
    bound = 2.0**seg  # half of the step 2**(seg + 1)
    assert np.all(err <= bound + 1e-3)
    for s in range(8):  # the bound is reached: the quantiser really is that coarse
        assert err[seg == s].max() > 0.9 * 2.0**s


def test_alaw_roundtrip_error_within_half_step_per_segment():
    x = np.random.default_rng(1).uniform(-1, 1, 200_000)
    code = g711.alaw_encode(x)
    seg = g711.alaw_segment(code)
    err = np.abs(g711.alaw_decode(code) - x) * 4096
    bound = np.maximum(1.0, 2.0 ** (seg - 1))
    assert np.all(err <= bound + 1e-3)
    for s in range(8):
        assert err[seg == s].max() > 0.9 * max(1.0, 2.0 ** (s - 1))


def _noise(n=3000, seed=0):
    return (0.3 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(
    law=st.sampled_from(["mulaw", "alaw"]),
    narrow=st.booleans(),
    hop=st.sampled_from([2, 16, 80, 160]),
    blocks=st.lists(st.integers(1, 500), min_size=1, max_size=5),
)
def test_stream_equals_offline_delayed_by_latency(law, narrow, hop, blocks):
    x = _noise()
    stage = G711Stage(law, narrowband_8k=narrow, hop=hop)
    y = _stream(stage, x, blocks)
    ref = np.concatenate([np.zeros(stage.latency, np.float32), stage.offline(x)])[: len(x)]
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize(
    ("stage_cls", "narrow", "latency", "bps"),
    [
        (MuLawStage, True, 176, 64_000),
        (ALawStage, True, 176, 64_000),
        (MuLawStage, False, 80, 128_000),
        (ALawStage, False, 80, 128_000),
    ],
)
def test_declared_latency_matches_the_measured_delay(stage_cls, narrow, latency, bps):
    stage = stage_cls(narrowband_8k=narrow)
    assert (stage.latency, stage.bitrate_bps) == (latency, bps)
    x = _noise(8000, seed=3)
    y = stage.process(np.concatenate([x, np.zeros(latency + 500, np.float32)]))
    assert metrics.find_delay(x, y, latency + 500) == latency


def _tone(freq, n=16_000, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / 16_000)).astype(np.float32)


@pytest.mark.parametrize("stage_cls", [MuLawStage, ALawStage])
def test_narrowband_passes_speech_band_and_removes_above_4khz(stage_cls):
    stage = stage_cls()
    low, high = _tone(1000), _tone(6000)
    core = slice(500, -500)
    y = stage.offline(low)
    snr = 10 * np.log10(np.sum(low[core] ** 2) / np.sum((y - low)[core] ** 2))
    assert snr > 30  # companding noise only; the passband is flat
    residual = np.sum(stage.offline(high)[core] ** 2) / np.sum(high[core] ** 2)
    assert 10 * np.log10(residual + 1e-12) < -40


def test_wideband_companding_keeps_high_frequencies():
    x = _tone(6000)
    y = MuLawStage(narrowband_8k=False).offline(x)
    assert 10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2)) > 30


def test_reset_restarts_the_stream():
    x = _noise(2000, seed=5)
    stage = MuLawStage()
    a = stage.process(x)
    stage.reset()
    np.testing.assert_array_equal(stage.process(x), a)
    np.testing.assert_array_equal(MuLawStage().process(x), a)


def test_invalid_options_raise():
    with pytest.raises(ValueError, match="unknown G.711 law"):
        G711Stage("ulaw")
    with pytest.raises(ValueError, match="even hop"):
        MuLawStage(hop=81)
    with pytest.raises(ValueError, match="hop must be positive"):
        ALawStage(narrowband_8k=False, hop=0)
