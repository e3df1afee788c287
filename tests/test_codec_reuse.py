"""The codec's token-reuse stream mode (9.33 kbit/s): only each hop's new frames are sent."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import main
from engine.chain import CODEC_STREAMS, build_stages, parse_chain
from engine.models.codec.checkpoint import load_codec, save_codec, seeded_codec
from engine.models.codec.model import STREAM_MODES, CodecConfig
from engine.models.codec.stage import CodecStage, silence_frames
from engine.models.weights import WeightsInfo
from engine.token_file import HEADER_SIZE, MODE_NEW_FRAMES, read_token_file
from engine.token_stream import decode_signal, encode_signal
from engine.training.codec_input import CodecRoundTrip
from tests.streaming import stream as stream_blocks
from tests.streaming import tone_in_noise as signal

HOP, WINDOW, SENT = 240, 480, 10




@pytest.fixture(scope="module")
def model():
    """A codec of ours trained (here: seeded) for reuse, with a recorded delay."""
    m = seeded_codec(3, CodecConfig(output_padding=True, stream="reuse"))
    m.weights_info = WeightsInfo("tiny_codec", output_delay=5)
    return m


@pytest.fixture(scope="module")
def stage(model):
    return CodecStage(model)


def reuse_by_hand(model, x, delay):
    """The documented offline form, window by window: decode(previous sent + new sent)."""
    x = np.concatenate([x, np.zeros(delay, np.float32)])
    pad = (-len(x)) % HOP
    xp = np.concatenate([np.zeros(WINDOW - HOP, np.float32), x, np.zeros(pad, np.float32)])
    with torch.inference_mode():
        prev = model.encode(torch.zeros(1, WINDOW))[0, :, -SENT:]
        y = []
        for k in range((len(xp) - (WINDOW - HOP)) // HOP):
            w = torch.from_numpy(xp[HOP * k : HOP * k + WINDOW].copy())[None]
            new = model.encode(w)[0, :, -SENT:]
            y.append(model.decode(torch.cat([prev, new], 1)[None])[0, WINDOW - HOP :].numpy())
            prev = new
    return np.concatenate(y)[delay : delay + len(x) - delay]


def test_the_mode_is_recorded_in_the_weights_and_followed(model, tmp_path):
    path = tmp_path / "reuse.safetensors"
    save_codec(model, path, {"output_delay_samples": 5})
    loaded = load_codec(path)
    assert loaded.config.stream == "reuse"
    s = CodecStage(loaded)
    assert (s.stream, s.tokens_per_hop, s.latency) == ("reuse", 20, 245)
    assert s.bitrate_bps == pytest.approx(9333.33, abs=0.01)
    # seed-shaped weights keep overlap-save unless asked
    assert CodecStage(seeded_codec(0)).stream == "oas"
    assert CodecStage(seeded_codec(0), stream="reuse").bitrate_bps == pytest.approx(9333.33, 1e-4)
    assert STREAM_MODES == CODEC_STREAMS


def test_bad_modes_are_refused():
    with pytest.raises(ValueError, match="stream mode"):
        CodecConfig(stream="halves")
    with pytest.raises(ValueError, match="multiple"):
        CodecConfig(window=480, hop=360, stream="reuse")  # windows would not tile whole hops
    with pytest.raises(ValueError, match="stream mode"):
        CodecStage(seeded_codec(0), stream="both")
    with pytest.raises(ValueError, match="stream mode"):
        parse_chain("codec@half")


@pytest.mark.parametrize("n", [1, 239, 240, 1000, 2411])
def test_offline_is_the_documented_reuse_form(model, stage, n):
    x = signal(n, seed=n)
    np.testing.assert_allclose(stage.offline(x), reuse_by_hand(model, x, 5), atol=1e-5, rtol=0)


@pytest.mark.parametrize("precision", ["reference", "fp32"])
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3000),
    blocks=st.lists(st.one_of(st.integers(1, 300), st.integers(300, 4000)), min_size=1, max_size=5),
)
def test_stream_equals_offline_delayed_by_latency(model, precision, n, blocks):
    s = CodecStage(model, precision=precision)
    x = signal(n, seed=n)
    y = stream_blocks(s, x, blocks)
    ref = np.concatenate([np.zeros(s.latency, np.float32), s.offline(x)])[:n]
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


def test_the_decoder_reads_only_the_new_frames_and_uses_the_previous_ones(stage):
    """20 tokens a hop reach the decoder; hop k's sound depends on hops k and k-1 only."""
    x = signal(12 * HOP, seed=11)
    stage.reset()
    sent = [stage.encode_hop(h) for h in x.reshape(-1, HOP)]
    assert all(s.shape == (2, SENT) for s in sent)
    bits = sum(s.size for s in sent) * 7
    assert bits / (len(x) / 16000) == pytest.approx(stage.bitrate_bps)

    def decode(tokens):
        stage.reset()
        return [stage.decode_hop(t) for t in tokens]

    ref = decode(sent)
    changed = [t.copy() for t in sent]
    changed[5][1, 3] = (changed[5][1, 3] + 1) % 128
    out = decode(changed)
    differs = [not np.array_equal(a, b) for a, b in zip(ref, out, strict=True)]
    assert differs[5] and differs[6]  # the hop itself, and the next one that re-uses its frames
    assert not any(differs[:5]) and not any(differs[7:])


def test_the_stream_starts_from_the_frames_of_silence(model, stage):
    stage.reset()
    np.testing.assert_array_equal(stage._history, silence_frames(model).numpy())
    assert silence_frames(model).shape == (2, SENT)


def test_a_seed_checkpoint_in_reuse_mode_differs_from_oas_but_both_stream_exactly():
    model = seeded_codec(0)
    x = signal(3000, seed=2)
    oas, reuse = CodecStage(model), CodecStage(model, stream="reuse")
    assert np.abs(oas.offline(x) - reuse.offline(x)).max() > 1e-3
    ref = np.concatenate([np.zeros(240, np.float32), reuse.offline(x)])[:3000]
    np.testing.assert_allclose(stream_blocks(reuse, x, [333]), ref, atol=1e-5, rtol=0)


def test_chain_names_pick_the_mode():
    assert parse_chain("codec@reuse+vocoder") == ("codec@reuse", "vocoder")
    (stage,) = build_stages("codec@reuse", precision="reference")
    assert stage.stream == "reuse" and stage.tokens_per_hop == 20
    (stage,) = build_stages("codec@oas", precision="reference")
    assert stage.stream == "oas" and stage.tokens_per_hop == 40


def test_token_files_carry_the_mode(tmp_path, stage):
    from tests.speech_fixture import make_speech

    wav, svx, out, ref = (tmp_path / n for n in ("s.wav", "s.svx", "d.wav", "p.wav"))
    make_speech(wav)
    assert main(["encode", str(wav), str(svx), "--stream", "reuse"]) == 0
    header, tokens = read_token_file(svx)
    assert header.mode == MODE_NEW_FRAMES and tokens.shape[1] == 20
    seconds = header.hop_count * HOP / 16000
    assert 8 * (svx.stat().st_size - HEADER_SIZE) == pytest.approx(9333.33 * seconds, abs=8)
    assert main(["decode", str(svx), str(out)]) == 0
    assert main(["process", str(wav), str(ref), "--chain", "codec@reuse"]) == 0
    import soundfile as sf

    y, _ = sf.read(out, dtype="float32")
    y_ref, _ = sf.read(ref, dtype="float32")
    assert y.shape == y_ref.shape and np.abs(y).max() > 0.05
    assert np.abs(y - y_ref).max() <= 1e-4


def test_token_stream_round_trip_equals_offline(stage):
    x = signal(2500, seed=8)
    tokens = encode_signal(stage, x)
    assert tokens.shape[1] == 20
    np.testing.assert_allclose(decode_signal(stage, tokens, len(x)), stage.offline(x), atol=1e-5)


def test_training_round_trip_is_the_stage_offline(model, stage):
    # (batched encoding may round a near-tie token the other way: these crops have none)
    x = torch.from_numpy(signal(4000, seed=4))
    got = CodecRoundTrip(model)(torch.stack([x[:3000], x[500:3500]]))
    for row, start in ((0, 0), (1, 500)):
        want = stage.offline(x[start : start + 3000].numpy())
        np.testing.assert_allclose(got[row].numpy(), want, atol=1e-5)
