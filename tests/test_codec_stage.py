import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.classic.reference_stages import build_reference
from engine.dsp.opus_codec import CODEC_BITRATE_BPS
from engine.models.codec.checkpoint import seeded_codec
from engine.models.codec.model import CodecConfig
from engine.models.codec.stage import CodecStage
from engine.models.weights import WeightsInfo
from tests.streaming import stream as stream_blocks

HOP, WINDOW = 240, 480


@pytest.fixture(scope="module")
def stage():
    return CodecStage(seeded_codec(0))


def signal(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
    return x.astype(np.float32)


def stream(stage, x, blocks):
    stage.reset()
    return stream_blocks(stage, x, blocks)


def oas_by_hand(model, x):
    """The documented offline form, written out window by window."""
    pad = (-len(x)) % HOP
    xp = np.concatenate([np.zeros(WINDOW - HOP, np.float32), x, np.zeros(pad, np.float32)])
    y = []
    with torch.inference_mode():
        for k in range((len(xp) - (WINDOW - HOP)) // HOP):
            w = torch.from_numpy(xp[HOP * k : HOP * k + WINDOW].copy())[None]
            y.append(model.decode(model.encode(w))[0, WINDOW - HOP :].numpy())
    return np.concatenate(y)[: len(x)]


def test_declared_figures(stage):
    assert stage.name == "codec" and stage.hop == HOP and stage.window == WINDOW
    assert stage.latency == 240
    assert stage.tokens_per_hop == 40
    assert stage.tokens_per_second == pytest.approx(40 / 0.015)
    assert stage.bitrate_bps == pytest.approx(18666.67, abs=0.01)


def test_bitrate_is_what_the_decoder_reads_per_second(stage):
    """Count the tokens the windows of a real signal encode to, and check all are needed."""
    hops = 50
    x = signal(hops * HOP, seed=3)
    xp = np.concatenate([np.zeros(WINDOW - HOP, np.float32), x])
    windows = torch.from_numpy(xp).unfold(0, WINDOW, HOP)
    with torch.inference_mode():
        codes = [stage.model.encode(w.reshape(1, -1).clone()) for w in windows]
    assert len(codes) == hops
    bits_per_token = (stage.model.config.codebook_size - 1).bit_length()
    bits = sum(c.numel() for c in codes) * bits_per_token
    assert bits / (len(x) / 16000) == pytest.approx(stage.bitrate_bps, rel=1e-9)
    # The decoder reads every one of a window's tokens: changing any one changes the hop.
    window = codes[10]
    with torch.inference_mode():
        ref = stage.model.decode(window)[0, HOP:]
        for g, t in np.ndindex(*window.shape[1:]):
            other = window.clone()
            other[0, g, t] = (other[0, g, t] + 1) % stage.model.config.codebook_size
            assert not torch.equal(stage.model.decode(other)[0, HOP:], ref), (g, t)


def test_opus_at_the_codecs_bitrate_is_its_true_bitrate(stage):
    assert CODEC_BITRATE_BPS == round(stage.bitrate_bps, -2) == 18_700
    assert build_reference("opus").bitrate_bps == CODEC_BITRATE_BPS


@pytest.mark.parametrize("n", [1, 239, 240, 481, 1000])
def test_offline_is_the_documented_overlap_save(stage, n):
    x = signal(n, seed=n)
    y = stage.offline(x)
    assert y.shape == (n,) and y.dtype == np.float32
    np.testing.assert_allclose(y, oas_by_hand(stage.model, x), atol=1e-5, rtol=0)


def test_offline_of_nothing_is_nothing(stage):
    assert stage.offline(np.zeros(0, np.float32)).shape == (0,)


def test_seed_decoder_silences_the_last_23_samples_of_every_hop(stage):
    y = stage.offline(signal(2400))
    hops = y.reshape(-1, HOP)
    assert np.all(hops[:, -23:] == 0)
    assert np.all(np.abs(hops[:, :-23]).max(axis=1) > 0)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3000),
    blocks=st.lists(st.one_of(st.integers(1, 300), st.integers(300, 5000)), min_size=1, max_size=5),
)
def test_stream_equals_offline_delayed_by_latency(stage, n, blocks):
    x = signal(n, seed=n)
    y = stream(stage, x, blocks)
    ref = np.concatenate([np.zeros(stage.latency, np.float32), stage.offline(x)])[:n]
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("blocks", [[1], [7, 1, 2048], [240], [480], [5000]])
def test_fixed_block_patterns(stage, blocks):
    x = signal(2000, seed=len(blocks))
    y = stream(stage, x, blocks)
    ref = np.concatenate([np.zeros(240, np.float32), stage.offline(x)])[:2000]
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


def test_output_padding_model_streams_exactly_too():
    stage = CodecStage(seeded_codec(1, CodecConfig(output_padding=True)))
    x = signal(1500, seed=4)
    y = stream(stage, x, [97, 13])
    ref = np.concatenate([np.zeros(240, np.float32), stage.offline(x)])[:1500]
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


def test_reset_restarts_the_stream(stage):
    x = signal(1200, seed=5)
    first = stream(stage, x, [100])
    stage.process(signal(777, seed=6))
    stage.reset()
    again = np.concatenate([stage.process(x[i : i + 100]) for i in range(0, 1200, 100)])
    np.testing.assert_array_equal(first, again)


def test_measured_delay_equals_declared_latency(stage):
    x = signal(4800, seed=7)
    stage.reset()
    y = stage.process(np.concatenate([x, np.zeros(1000, np.float32)]))
    off = stage.offline(x)
    errs = [np.abs(y[lag : lag + 3000] - off[:3000]).max() for lag in range(0, 1000)]
    assert int(np.argmin(errs)) == stage.latency
    assert errs[stage.latency] < 1e-5
    assert sorted(errs)[1] > 1e-3


def _delayed_stage(delay: int, precision: str = "reference") -> CodecStage:
    model = seeded_codec(2, CodecConfig(output_padding=True))
    model.weights_info = WeightsInfo("tiny_codec", output_delay=delay)
    return CodecStage(model, precision=precision)


@pytest.mark.parametrize("precision", ["reference", "fp32"])
@pytest.mark.parametrize("blocks", [[1], [7, 1, 2048], [240], [5000]])
def test_a_declared_model_delay_keeps_stream_equal_to_offline(blocks, precision):
    stage = _delayed_stage(8, precision)
    assert (stage.model_delay, stage.latency) == (8, 248)
    x = signal(2000, seed=9)
    y = stream(stage, x, blocks)
    ref = np.concatenate([np.zeros(248, np.float32), stage.offline(x)])[:2000]
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)
    # offline() is the raw overlap-save advanced by the declared delay
    raw = _delayed_stage(0, precision).offline(np.concatenate([x, np.zeros(8, np.float32)]))
    np.testing.assert_allclose(stage.offline(x), raw[8:], atol=1e-6, rtol=0)


def test_implausible_declared_delay_is_refused():
    with pytest.raises(ValueError, match="implausible"):
        _delayed_stage(240)


def test_bundled_codec_declares_its_learned_delay_and_is_aligned(tmp_path):
    from engine.audiofile import read_mono_16k
    from engine.dsp.metrics import find_delay
    from engine.models.codec.checkpoint import load_codec
    from engine.resources import DEFAULT_CODEC_WEIGHTS
    from tests.speech_fixture import make_speech

    stage = CodecStage(load_codec(DEFAULT_CODEC_WEIGHTS), precision="fp32")
    assert stage.model_delay > 0
    x = read_mono_16k(make_speech(tmp_path / "s.wav")).samples
    y = stage.offline(x)
    # delay the output by 16 samples so that a residual lag of 0 is mid-range;
    # the learned delay varies by a sample or two with the material (6-9 measured)
    lag = find_delay(x[:-32], np.concatenate([np.zeros(16, np.float32), y]), 32)
    assert abs(lag - 16) <= 2


def test_one_precision_vocabulary_for_both_model_stages():
    """The codec takes the vocoder's precision words; a path it lacks is refused, not faked."""
    from engine.chain import model_stage

    model = seeded_codec(2, CodecConfig(output_padding=True))
    assert CodecStage(model).fast is None  # "reference": the model itself
    assert CodecStage(model, precision="fp32").fast is not None
    with pytest.raises(ValueError, match="reference or fp32"):
        CodecStage(model, precision="int8")
    assert model_stage("codec", model, precision="int8").fast is not None  # exact fp32 path
    assert model_stage("codec", model, precision="reference").fast is None
