"""The codec's seam fade: each hop's last samples cross-faded into the next window's decode."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.chain import build_stages, model_variant, parse_chain
from engine.models.codec.checkpoint import load_codec, save_codec, seeded_codec
from engine.models.codec.model import CodecConfig
from engine.models.codec.seam import SeamJoin, fade_in, stitch_windows
from engine.models.codec.stage import CodecStage
from engine.models.weights import WeightsInfo
from engine.token_stream import decode_signal, encode_signal
from engine.training.codec.ceiling import reuse_output
from engine.training.codec_input import CodecRoundTrip
from engine.training.train_codec import stitch
from tests.streaming import stream as stream_blocks
from tests.streaming import tone_in_noise

HOP, WINDOW, SEAM = 240, 480, 32


def signal(n, seed=0):
    return tone_in_noise(n, seed, hz=210.0)


def codec(stream="reuse", seam=SEAM, delay=5):
    m = seeded_codec(4, CodecConfig(output_padding=True, stream=stream, seam_fade=seam))
    m.weights_info = WeightsInfo("tiny_codec", output_delay=delay)
    return m


@pytest.fixture(scope="module")
def model():
    return codec()


def by_hand(model, x, stream):
    """The documented form with the model itself: decode each window, fade each seam."""
    plain = CodecStage(model, stream=stream, seam_fade=0)
    d = plain.model_delay + SEAM
    x = np.concatenate([x, np.zeros(d, np.float32)])
    steps = -(-len(x) // HOP)
    xp = np.zeros(WINDOW - HOP + steps * HOP, np.float32)
    xp[WINDOW - HOP : WINDOW - HOP + len(x)] = x
    plain.reset()
    prev = plain._history
    out, tail = [], np.zeros(SEAM, np.float32)
    r = fade_in(SEAM)
    for k in range(steps):
        w = torch.from_numpy(xp[HOP * k : HOP * k + WINDOW].copy())[None]
        with torch.inference_mode():
            codes = model.encode(w)[0].numpy()
            if stream == "reuse":
                codes = np.concatenate([prev, codes[:, -10:]], 1)
                prev = codes[:, 10:]
            full = model.decode(torch.from_numpy(codes)[None])[0].numpy()
        out.append(np.concatenate([tail * (1 - r) + full[HOP - SEAM : HOP] * r, full[HOP:-SEAM]]))
        tail = full[-SEAM:]
    return np.concatenate(out)[d : len(x)]


@pytest.mark.parametrize("stream", ["reuse", "oas"])
def test_offline_is_the_documented_form_and_waits_the_seam(stream):
    m = codec(stream)
    stage = CodecStage(m)
    assert stage.seam == SEAM and stage.latency == HOP + 5 + SEAM
    x = signal(2000, seed=3)
    np.testing.assert_allclose(stage.offline(x), by_hand(m, x, stream), atol=1e-5, rtol=0)
    # the fade changes only the samples next to each seam
    plain = CodecStage(m, seam_fade=0).offline(x)
    moved = np.abs(stage.offline(x) - plain) > 1e-6
    at = (np.arange(len(x)) + 5) % HOP  # position within its hop, in the decoder's time
    assert moved.any() and not moved[(at >= 8) & (at < HOP - SEAM - 8)].any()


@pytest.mark.parametrize("precision", ["reference", "fp32"])
@pytest.mark.parametrize("stream", ["reuse", "oas"])
@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 3000),
    blocks=st.lists(st.one_of(st.integers(1, 300), st.integers(300, 4000)), min_size=1, max_size=5),
)
def test_stream_equals_offline_delayed_by_latency(precision, stream, n, blocks):
    s = CodecStage(codec(stream), precision=precision)
    x = signal(n, seed=n)
    y = stream_blocks(s, x, blocks)
    ref = np.concatenate([np.zeros(s.latency, np.float32), s.offline(x)])[:n]
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


def test_training_stitch_roundtrip_and_ceiling_are_the_stage_aligned(model):
    """Every offline form the training uses equals the stage's output, the seam included."""
    stage = CodecStage(model)
    x = signal(3000, seed=9)
    want = stage.offline(x)
    got = CodecRoundTrip(model)(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(reuse_output(model, x, quantise=True), want, atol=1e-5)
    windows = torch.randn(2, 5, WINDOW)
    aligned = stitch(windows, SEAM)
    delayed = SeamJoin(HOP, SEAM).join_all(windows[0, :, WINDOW - HOP - SEAM :].numpy())
    # the stage's form is the training form delayed by the seam (the last hop waits for a next)
    np.testing.assert_allclose(delayed[SEAM:], aligned[0, : 5 * HOP - SEAM].numpy(), atol=1e-6)
    assert torch.equal(stitch(windows), windows[..., WINDOW - HOP :].reshape(2, -1))


def test_token_files_decode_to_the_stage_output(model):
    stage = CodecStage(model)
    x = signal(2500, seed=8)
    tokens = encode_signal(stage, x)
    np.testing.assert_allclose(decode_signal(stage, tokens, len(x)), stage.offline(x), atol=1e-5)


def test_the_fade_is_recorded_in_the_weights_and_bad_values_are_refused(model, tmp_path):
    path = tmp_path / "seam.safetensors"
    save_codec(model, path, {"output_delay_samples": 5})
    loaded = load_codec(path)
    assert loaded.config.seam_fade == SEAM and CodecStage(loaded).latency == HOP + 5 + SEAM
    assert "seam_fade" not in CodecConfig().to_dict()  # files without it read as before
    assert CodecStage(seeded_codec(0)).seam == 0
    for bad in (-1, 241, True, 2.0):
        with pytest.raises(ValueError, match="seam_fade"):
            CodecConfig(seam_fade=bad)
    with pytest.raises(ValueError, match="seam_fade"):
        CodecStage(seeded_codec(0), seam_fade=300)
    with pytest.raises(ValueError, match="seam"):
        SeamJoin(HOP, HOP + 1)


def test_the_fade_goes_from_the_held_samples_to_the_next_window():
    r = fade_in(SEAM)
    assert r[0] < 0.01 and r[-1] > 0.99 and np.all(np.diff(r) > 0)
    np.testing.assert_allclose(r + r[::-1], 1.0, atol=1e-6)  # equal-gain: no level bump
    join, r2 = SeamJoin(4, 2), fade_in(2)
    first = join.join(np.arange(6, dtype=np.float32))  # held back: 4, 5
    np.testing.assert_allclose(first, [0.0, 1 * r2[1], 2, 3], atol=1e-6)
    second = join.join(np.arange(10, 16, dtype=np.float32))
    want = [4 + (10 - 4) * r2[0], 5 + (11 - 5) * r2[1], 12, 13]
    np.testing.assert_allclose(second, want, atol=1e-5)
    np.testing.assert_allclose(
        stitch_windows(torch.arange(12.0).reshape(1, 2, 6), 4, 2)[0].numpy(),
        [2, 3, 4 + (6 + 0 - 4) * r2[0], 5 + (7 - 5) * r2[1], 8, 9, 10, 11],
        atol=1e-5,
    )


def test_chain_names_ask_for_a_fade_and_bad_ones_are_refused():
    assert parse_chain("codec@fade32") == ("codec@fade32",)
    assert parse_chain("codec@fade032/reuse+vocoder") == ("codec@reuse/fade32", "vocoder")
    assert model_variant("codec@oas/fade0") == ("codec", {"stream": "oas", "seam_fade": 0})
    assert model_variant("codec") == ("codec", {"stream": None})  # what the weights record
    for bad in ("codec@fade", "codec@fade-1", "codec@oas/reuse", "codec@fade8/fade16", "codec@x"):
        with pytest.raises(ValueError, match="codec@MODE, codec@fadeN"):
            parse_chain(bad)


@pytest.fixture(scope="module")
def hard_cut_file(tmp_path_factory):
    """A checkpoint that records no fade (as a seed checkpoint or an older file)."""
    path = tmp_path_factory.mktemp("seam") / "hard.safetensors"
    save_codec(codec(seam=0), path, {"output_delay_samples": 5})
    return path


def test_a_checkpoint_without_the_fade_is_built_with_one_by_name(hard_cut_file):
    (plain,) = build_stages("codec", codec_weights=hard_cut_file, precision="reference")
    (faded,) = build_stages("codec@fade16", codec_weights=hard_cut_file, precision="reference")
    assert (plain.seam, faded.seam) == (0, 16)
    assert faded.latency == plain.latency + 16  # the fade's wait is declared, not hidden
    model = load_codec(hard_cut_file)
    x = signal(2000, seed=5)
    want = CodecStage(model, seam_fade=16).offline(x)
    np.testing.assert_allclose(faded.offline(x), want, atol=1e-5)
    assert np.abs(want - plain.offline(x)).max() > 1e-4
    with pytest.raises(ValueError, match="seam_fade must be in"):
        build_stages("codec@fade300", codec_weights=hard_cut_file)


def test_decode_with_a_fade_is_process_with_the_same_fade(hard_cut_file, tmp_path):
    import soundfile as sf

    from app.cli import main
    from tests.speech_fixture import make_speech

    wav, svx, out, ref = (tmp_path / n for n in ("s.wav", "s.svx", "d.wav", "p.wav"))
    make_speech(wav)
    weights = ["--codec-weights", str(hard_cut_file)]
    assert main(["encode", str(wav), str(svx), *weights]) == 0
    assert main(["decode", str(svx), str(out), "--seam-fade", "24", *weights]) == 0
    assert main(["process", str(wav), str(ref), "--chain", "codec@fade24", *weights]) == 0
    y, _ = sf.read(out, dtype="float32")
    y_ref, _ = sf.read(ref, dtype="float32")
    assert y.shape == y_ref.shape and np.abs(y).max() > 0.01
    # (the file was encoded for no fade: its last hop may end before the last 24 samples)
    assert np.abs(y - y_ref)[:-24].max() <= 1e-4
    plain = tmp_path / "plain.wav"
    assert main(["decode", str(svx), str(plain), *weights]) == 0
    assert np.abs(sf.read(plain, dtype="float32")[0] - y).max() > 1e-4  # the option did act


def test_a_longer_fade_than_the_file_covers_still_gives_every_sample(hard_cut_file):
    model = load_codec(hard_cut_file)
    x = signal(HOP * 8 - 5, seed=6)  # the encoder's last hop ends 0 samples after its delay
    tokens = encode_signal(CodecStage(model), x)
    faded = CodecStage(model, seam_fade=SEAM)
    y = decode_signal(faded, tokens, len(x))
    assert y.shape == x.shape
    n = len(x) - SEAM
    np.testing.assert_allclose(y[:n], faded.offline(x)[:n], atol=1e-5)
