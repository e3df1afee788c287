"""AMR-WB, Speex wideband and Codec 2 as reference stages.

Names, true rates, alignment, quality per mode, stream == offline, and a
missing library refused in one line.
"""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.audiofile import read_mono_16k
from engine.chain import parse_chain
from engine.classic import amrwb_codec, codec2_codec, speex_codec
from engine.classic.native_lib import CodecUnavailableError, NativeLib
from engine.classic.reference_stages import build_reference, unavailable_reason
from engine.dsp import metrics
from tests.speech_fixture import SENTENCES, make_speech
from tests.streaming import stream

AMRWB = [f"amrwb@{k:g}" for k in amrwb_codec.MODES_KBPS]
SPEEX = [f"speex@{k:g}" for k in speex_codec.QUALITY_KBPS]
CODEC2 = [f"codec2@{k:g}" for k in codec2_codec.MODES]
ALL = AMRWB + SPEEX + CODEC2
#: Whether Codec 2's shared random generator could be made per codec here (x86-64 builds).
CODEC2_REPRODUCIBLE = (
    codec2_codec.unavailable_reason() is None and codec2_codec.Codec2Codec(3.2).reproducible
)
#: Modes whose PESQ-WB must rise, in order of rate, within each family.
LADDERS = {
    "amrwb": ("amrwb@6.6", "amrwb@8.85", "amrwb@12.65", "amrwb@23.05"),
    "speex": ("speex@3.95", "speex@5.75", "speex@9.8", "speex@16.8", "speex@27.8"),
    "codec2": ("codec2@0.7", "codec2@1.2", "codec2@1.6", "codec2@2.4", "codec2@3.2"),
}


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """The three fixture sentences, one after another (about 7 s at 16 kHz)."""
    folder = tmp_path_factory.mktemp("classic")
    parts = [
        read_mono_16k(make_speech(folder / f"{i}.wav", t)).samples for i, t in enumerate(SENTENCES)
    ]
    return np.concatenate(parts)


def _raw(stage, x):
    """The stream's output for ``x`` and enough zeros to flush it (delay kept)."""
    return stage.process(np.concatenate([x, np.zeros(stage.latency + 400, np.float32)]))


def _envelope_lag(x, raw, max_lag, window=320):
    """Lag of ``raw``'s 20 ms RMS envelope against ``x``'s (codecs that make their own phase)."""
    kernel = np.ones(window) / window

    def env(s):
        e = np.sqrt(np.convolve(np.square(s.astype(np.float64)), kernel, mode="same"))
        return e - e.mean()

    return metrics.find_delay(env(x), env(raw), max_lag)


@pytest.mark.parametrize(
    ("name", "stages"),
    [
        ("amrwb@8.85", ("amrwb@8.85",)),
        ("AMRWB", ("amrwb@12.65",)),
        ("amrwb@23.85k", ("amrwb@23.85",)),
        ("speex@10", ("speex@9.8",)),
        ("speex", ("speex@9.8",)),
        ("speex@4", ("speex@3.95",)),
        ("codec2@1.3", ("codec2@1.3",)),
        ("codec2", ("codec2@3.2",)),
        ("amrwb@8.85+vocoder", ("amrwb@8.85", "vocoder")),
        ("codec2@3.2,pghi", ("codec2@3.2", "pghi@512/128")),
    ],
)
def test_names_normalise(name, stages):
    assert parse_chain(name) == stages


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("amrwb@9", "AMR-WB has no 9 kbit/s mode"),
        ("amrwb@", "malformed"),
        ("amrwb@6.6/10ms", "malformed"),
        ("amrwbx", "malformed"),
        ("speex@100", "Speex wideband runs at 3.95..42.2"),
        ("speex@1", "Speex wideband"),
        ("codec2@5", "Codec 2 has no 5 kbit/s mode"),
        ("codec2@0.45", "Codec 2 has no"),
        ("amrwb@8.85+codec2@3.2", "more than one codec"),
        ("vocoder+speex", "the vocoder must come after the codec"),
    ],
)
def test_bad_names_are_refused(name, message):
    with pytest.raises(ValueError, match=message):
        parse_chain(name)


@pytest.mark.parametrize("name", ALL)
def test_bitrate_is_the_modes_true_rate(name):
    stage = build_reference(name)
    nominal = 1000 * float(name.split("@")[1])
    assert abs(stage.bitrate_bps - nominal) <= 0.05 * nominal
    stage.process(np.zeros(10 * stage.hop, np.float32))
    codec = stage.codec.codec if name.startswith("codec2") else stage.codec
    header = 8 * 50 if name.startswith("amrwb") else 0  # AMR-WB storage format's mode byte
    sent = codec.payload_bitrate_bps - header  # whole bytes: the true bits and padding
    assert stage.bitrate_bps <= sent < stage.bitrate_bps + 8 * 1000 / (stage.hop / 16)


def test_speex_rates_are_what_libspeex_reports():
    for quality, kbps in enumerate(speex_codec.QUALITY_KBPS):
        codec = speex_codec.SpeexWbCodec(kbps)
        assert codec.quality == quality and codec.bitrate_bps == round(1000 * kbps)


def test_amrwb_packets_carry_the_modes_bits():
    for kbps, bits in zip(amrwb_codec.MODES_KBPS, amrwb_codec.MODE_BITS, strict=True):
        codec = amrwb_codec.AmrWbCodec(kbps)
        packet = codec.encode(np.zeros(320, np.float32))
        assert len(packet) == 1 + -(-bits // 8)
        assert codec.bitrate_bps == round(1000 * kbps)


@pytest.mark.parametrize("name", AMRWB + SPEEX[1:])
def test_waveform_codecs_align_at_the_declared_latency(speech, name):
    stage = build_reference(name)
    raw = _raw(stage, speech)
    lag = metrics.find_delay(speech, raw, stage.latency + 400)
    assert lag == stage.latency
    expected = {"amrwb": 320 + 95, "speex": 320 + 223}[name.split("@")[0]]
    assert stage.latency == expected


@pytest.mark.parametrize("name", CODEC2 + SPEEX[:1])
def test_parametric_codecs_align_in_their_envelope(speech, name):
    # Codec 2 (and Speex's lowest quality) make their own phase: only the
    # envelope lines up; within 2 ms of the declared latency.
    stage = build_reference(name)
    lag = _envelope_lag(speech, _raw(stage, speech), stage.latency + 400)
    assert abs(lag - stage.latency) <= 32


def test_codec2_latency_counts_its_resamplers():
    stage = build_reference("codec2@3.2")
    assert stage.hop == 320  # 160 samples at 8 kHz
    assert stage.latency == 320 + 2 * 160 + 96  # frame + codec delay at 16 kHz + FIR pair


@pytest.mark.parametrize("family", LADDERS)
def test_quality_rises_with_the_mode(speech, family):
    scores = []
    for name in LADDERS[family]:
        stage = build_reference(name)
        y = _raw(stage, speech)[stage.latency : stage.latency + len(speech)]
        scores.append(metrics.pesq_wb(speech, y))
    assert np.all(np.diff(scores) > 0), dict(zip(LADDERS[family], scores, strict=True))


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(ALL),
    start=st.integers(0, 60_000),
    blocks=st.lists(st.integers(1, 900), min_size=1, max_size=5),
)
def test_stream_equals_offline_delayed_by_latency(speech, name, start, blocks):
    assume(CODEC2_REPRODUCIBLE or not name.startswith("codec2"))
    x = speech[start : start + 9000]
    stage = build_reference(name)
    y = stream(stage, x, blocks)
    ref = np.concatenate([np.zeros(stage.latency, np.float32), stage.offline(x)])[: len(x)]
    np.testing.assert_array_equal(y, ref)


def test_reset_returns_to_a_fresh_codec(speech):
    x = speech[8000:20000]
    for name in ("amrwb@12.65", "speex@9.8", "codec2@1.2")[: 3 if CODEC2_REPRODUCIBLE else 2]:
        stage = build_reference(name)
        first = stage.process(x)
        stage.reset()
        np.testing.assert_array_equal(stage.process(x), first)


@pytest.mark.skipif(not CODEC2_REPRODUCIBLE, reason="codec2_rand's state not found here")
def test_codec2_instances_do_not_share_their_random_phases(speech):
    # The library's one random generator is swapped per codec: two codecs
    # interleaved decode as each would alone (unvoiced frames use it).
    solo = codec2_codec.Codec2Codec(3.2)
    frames = speech[: 2 * 16000 : 2].reshape(-1, 160)
    alone = [solo.roundtrip(f) for f in frames]
    a, b = codec2_codec.Codec2Codec(3.2), codec2_codec.Codec2Codec(3.2)
    for f, want in zip(frames, alone, strict=True):
        np.testing.assert_array_equal(a.roundtrip(f), want)
        np.testing.assert_array_equal(b.roundtrip(f), want)


def test_a_missing_library_is_a_one_line_reason(monkeypatch):
    gone = NativeLib("libcodec2-gone.so.9", "codec2-gone", "libcodec2-1.0", "Codec 2")
    monkeypatch.setattr(codec2_codec, "LIB", gone)
    reason = unavailable_reason("codec2@3.2+vocoder")
    assert (
        reason == "Codec 2 needs the system library libcodec2-gone.so.9: apt install libcodec2-1.0"
    )
    assert unavailable_reason("amrwb@8.85") is None and unavailable_reason("opus@12") is None
    assert parse_chain("codec2@3.2") == ("codec2@3.2",)  # still a valid name
    with pytest.raises(CodecUnavailableError, match="apt install libcodec2-1.0"):
        build_reference("codec2@3.2")


def test_process_refuses_a_missing_library_in_one_line(tmp_path):
    src = make_speech(tmp_path / "in.wav")
    script = (
        "import sys; from engine.classic import speex_codec as s, native_lib as n; "
        "s.LIB = n.NativeLib('libspeex-gone.so', 'speex-gone', 'libspeex1', 'Speex'); "
        "from app.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    args = ["process", str(src), str(tmp_path / "out.wav"), "--chain", "speex@9.8"]
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert "apt install libspeex1" in done.stderr and "Traceback" not in done.stderr
