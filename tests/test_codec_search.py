"""The encoder's token search: the same decoder and bits, tokens chosen by their decoded sound."""

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import main
from engine.chain import build_stages, load_codec_model, parse_chain
from engine.models.codec.checkpoint import save_codec, seeded_codec
from engine.models.codec.model import CodecConfig
from engine.models.codec.search import spectral_distance
from engine.models.codec.stage import CodecStage
from engine.models.weights import WeightsInfo
from engine.token_stream import decode_signal, encode_signal
from tests.speech_fixture import make_speech
from tests.streaming import stream as stream_blocks
from tests.streaming import tone_in_noise

HOP = 240


def codec(seam=16, delay=5):
    m = seeded_codec(4, CodecConfig(output_padding=True, stream="reuse", seam_fade=seam))
    m.weights_info = WeightsInfo("tiny_codec", output_delay=delay)
    return m


@pytest.fixture(scope="module")
def model():
    return codec()


@pytest.mark.parametrize("precision", ["reference", "fp32"])
@settings(max_examples=8, deadline=None)
@given(
    n=st.integers(1, 2500),
    blocks=st.lists(st.one_of(st.integers(1, 300), st.integers(300, 3000)), min_size=1, max_size=4),
)
def test_stream_equals_offline_delayed_by_latency(model, precision, n, blocks):
    s = CodecStage(model, precision=precision, search=3)
    x = tone_in_noise(n, seed=n)
    y = stream_blocks(s, x, blocks)
    ref = np.concatenate([np.zeros(s.latency, np.float32), s.offline(x)])[:n]
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


def test_each_hop_sounds_no_further_from_its_input_than_the_nearest_tokens(model):
    """The search starts from the nearest tokens and keeps a change only if it sounds closer."""
    searched = CodecStage(model, search=4)
    greedy = CodecStage(model)
    x = tone_in_noise(HOP * 12, seed=3)
    changed = 0
    for hop in x.reshape(-1, HOP):
        history = torch.from_numpy(searched._sent.copy())
        window = torch.from_numpy(np.concatenate([greedy._buf[HOP:], hop]))[None]
        near = torch.from_numpy(greedy.encode_hop(hop))
        found = torch.from_numpy(searched.encode_hop(hop))
        target = window[0, -searched.search.span - 5 : -5]
        trials = torch.stack([torch.cat([history, c], 1) for c in (near, found)])
        near_d, found_d = spectral_distance(searched.search.decode(trials), target)
        assert found_d <= near_d + 1e-6
        changed += int(not torch.equal(near, found))
    assert changed > 0  # the search did choose other tokens


def test_same_bits_and_the_plain_decoder_decodes_them(model):
    s = CodecStage(model, search=3)
    assert s.tokens_per_hop == CodecStage(model).tokens_per_hop == 20
    assert s.bitrate_bps == CodecStage(model).bitrate_bps
    x = tone_in_noise(2000, seed=4)
    tokens = encode_signal(s, x)
    plain = CodecStage(model)  # a receiver that knows nothing of the search
    np.testing.assert_allclose(decode_signal(plain, tokens, len(x)), s.offline(x), atol=1e-5)
    assert not np.array_equal(tokens, encode_signal(plain, x))


def test_bad_searches_are_refused(model):
    for bad in (-1, 33, True, 2.0):
        with pytest.raises(ValueError, match="search candidates"):
            CodecStage(model, search=bad)
    with pytest.raises(ValueError, match="token-reuse"):
        CodecStage(model, stream="oas", search=4)
    assert parse_chain("codec@search04/reuse") == ("codec@reuse/search4",)
    with pytest.raises(ValueError, match="codec@searchK"):
        parse_chain("codec@search4/search8")


def test_the_bundled_codec_searched_sounds_closer_to_speech(tmp_path):
    """On speech, the whole signal's spectral distance falls (the search's own measure)."""
    from engine.audiofile import read_mono_16k

    x = read_mono_16k(make_speech(tmp_path / "s.wav")).samples[: 16000 * 2]
    (greedy,) = build_stages("codec")
    (searched,) = build_stages("codec@search4")
    target = torch.from_numpy(x)
    far = [float(spectral_distance(torch.from_numpy(s.offline(x))[None], target)[0])
           for s in (greedy, searched)]  # fmt: skip
    assert far[1] < 0.97 * far[0]


def test_encode_with_search_is_process_with_the_same_search(tmp_path):
    hard = tmp_path / "tiny.safetensors"
    save_codec(codec(), hard, {"output_delay_samples": 5})
    wav, svx, out, ref = (tmp_path / n for n in ("s.wav", "s.svx", "d.wav", "p.wav"))
    make_speech(wav, "Hello there.")  # short: the search encodes several times slower
    weights = ["--codec-weights", str(hard)]
    assert main(["encode", str(wav), str(svx), "--search", "3", *weights]) == 0
    assert main(["decode", str(svx), str(out), *weights]) == 0
    assert main(["process", str(wav), str(ref), "--chain", "codec@search3", *weights]) == 0
    y, _ = sf.read(out, dtype="float32")
    y_ref, _ = sf.read(ref, dtype="float32")
    assert y.shape == y_ref.shape and np.abs(y).max() > 0.01
    assert np.abs(y - y_ref).max() <= 1e-4
    assert load_codec_model(hard).config.stream == "reuse"
