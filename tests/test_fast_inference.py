"""Fast inference paths (FastVocos, FastCodec) against the fp32 models, on speech.

Tolerances (stated in the fast modules and the README): fp32 fast paths
equal the models to float rounding (1e-5 max abs); quantised Vocos paths
keep an SNR against fp32 of at least int8 45 dB, fp16 60 dB, bf16 40 dB
(measured: about 60, 74 and 50 dB on speech for the default size).
"""

import numpy as np
import pytest
import torch

from engine.audiofile import read_mono_16k
from engine.measure.bench_accuracy import snr_db
from engine.measure.step_bench import VOCOS_SIZES
from engine.models.codec.checkpoint import seeded_codec
from engine.models.codec.fast import FastCodec
from engine.models.codec.model import CodecConfig
from engine.models.codec.stage import CodecStage
from engine.models.fast_linear import available_precisions, check_precision, make_linear
from engine.models.vocos.checkpoint import seeded_vocos
from engine.models.vocos.fast import FastVocos
from engine.models.vocos.stage import VocosStage
from tests.speech_fixture import SENTENCES, make_speech

EXACT = 1e-5
MIN_SNR_DB = {"fp16": 60.0, "bf16": 40.0, "int8": 45.0}
QUANTISED = [p for p in ("fp16", "bf16", "int8") if p in available_precisions()]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """2 s of espeak-ng speech at 16 kHz."""
    wav = make_speech(tmp_path_factory.mktemp("speech") / "s.wav", SENTENCES[2])
    return read_mono_16k(wav).samples[:32000]


@pytest.fixture(scope="module")
def vocos():
    """Our default size; layer scale 1/n_layers so every block shapes the output."""
    return seeded_vocos(VOCOS_SIZES["default"], seed=3).fold_weight_norm()


@pytest.fixture(scope="module")
def reference(vocos, speech) -> np.ndarray:
    with torch.inference_mode():
        return vocos.audio_offline(torch.from_numpy(speech).view(1, -1))[0].numpy()


def _fast_audio(fast: FastVocos, x: np.ndarray, chunk: int) -> np.ndarray:
    return fast.audio_offline(torch.from_numpy(x).view(1, -1), chunk)[0].numpy()


@pytest.mark.parametrize("script", [True, False])
def test_fp32_fast_vocos_equals_the_model(vocos, speech, reference, script):
    fast = FastVocos.from_generator(vocos, "fp32", script=script)
    assert fast.scripted == script
    for chunk in (1, 3, 10):
        y = _fast_audio(fast, speech, chunk)
        assert y.shape == reference.shape
        assert np.max(np.abs(y - reference)) < EXACT


@pytest.mark.parametrize("precision", QUANTISED)
def test_quantised_vocos_within_tolerance_of_fp32(vocos, speech, reference, precision):
    fast = FastVocos.from_generator(vocos, precision)
    y = _fast_audio(fast, speech, 5)
    assert snr_db(reference, y) >= MIN_SNR_DB[precision]
    # errors are spread thin: no sample is off by more than 1 % of the peak
    assert np.max(np.abs(y - reference)) < 0.01 * np.max(np.abs(reference))


@pytest.mark.parametrize("precision", ["fp32", *QUANTISED])
def test_fast_vocos_consistent_across_chunk_sizes(vocos, speech, precision):
    fast = FastVocos.from_generator(vocos, precision)
    outs = {n: _fast_audio(fast, speech, n) for n in (1, 2, 5, 10)}
    for n in (2, 5, 10):
        if precision == "fp32":
            assert np.max(np.abs(outs[n] - outs[1])) < EXACT
        else:  # int8 scales activations per call: chunkings agree to a tolerance
            assert snr_db(outs[1], outs[n]) >= MIN_SNR_DB[precision]


def test_stream_step_state_reset_and_own_stream(vocos, speech):
    fast = FastVocos.from_generator(vocos, "int8")
    x = torch.from_numpy(speech[: 320 * 12]).view(1, -1)
    whole = fast.audio_offline(x, 4)
    parts = [fast.stream_step(c) for c in x.split(320 * 4, dim=1)]
    assert torch.equal(torch.cat(parts, 1), whole)
    fast.reset()
    again = torch.cat([fast.stream_step(c) for c in x.split(320 * 4, dim=1)], 1)
    assert torch.equal(again, whole)


def test_fast_vocos_batch_of_streams_matches_single_streams(vocos, speech):
    fast = FastVocos.from_generator(vocos, "fp32")
    x = torch.from_numpy(speech[: 320 * 10]).view(2, -1)
    both = fast.audio_offline(x, 5)
    for b in range(2):
        one = fast.audio_offline(x[b : b + 1], 5)
        assert torch.max(torch.abs(both[b] - one[0])) < EXACT


def test_bad_inputs_and_options_raise_value_error(vocos):
    fast = FastVocos.from_generator(vocos, "fp32", script=False)
    with pytest.raises(ValueError, match="multiple of 320"):
        fast.stream_step(torch.zeros(1, 300))
    with pytest.raises(ValueError, match="expected"):
        fast.stream_step(torch.zeros(320))
    with pytest.raises(ValueError, match="precision"):
        FastVocos.from_generator(vocos, "int4")
    with pytest.raises(ValueError, match="chunk_frames"):
        fast.audio_offline(torch.zeros(1, 640), 0)
    with pytest.raises(ValueError, match="precision"):
        check_precision("fp64")


def test_linear_backends_agree_with_fp32():
    gen = torch.Generator().manual_seed(0)
    w, b = torch.randn(96, 64, generator=gen) * 0.1, torch.randn(96, generator=gen)
    x = torch.randn(2, 5, 64, generator=gen)
    ref = torch.nn.functional.linear(x, w, b)
    assert torch.allclose(make_linear(w, b, "fp32")(x), ref, atol=1e-5)
    for precision in QUANTISED:
        y = make_linear(w, b, precision)(x)
        assert y.shape == ref.shape and y.dtype == torch.float32
        assert snr_db(ref.numpy(), y.numpy()) > 30.0


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_vocos_stage_fast_path_keeps_the_stream_offline_identity(vocos, speech, precision):
    stage = VocosStage(vocos, chunk_frames=3, precision=precision)
    x = speech[:16000]
    rng = np.random.default_rng(1)
    out, pos = [], 0
    while pos < len(x):
        size = int(rng.integers(1, 2000))
        out.append(stage.process(x[pos : pos + size]))
        pos += size
    streamed = np.concatenate(out)
    offline = stage.offline(x)
    lat = stage.latency
    assert np.all(streamed[:lat] == 0.0)
    assert np.max(np.abs(streamed[lat:] - offline[: len(x) - lat])) < 1e-6


@pytest.mark.parametrize(
    "config",
    [
        CodecConfig(),
        CodecConfig(output_padding=True),
        CodecConfig(enc_base=8),
        CodecConfig(output_padding=True, decoder_widths=(96, 64, 48, 32)),
    ],
    ids=["seed", "output-padding", "old-8ch", "wide-decoder"],
)
@pytest.mark.parametrize("script", [True, False])
def test_fast_codec_hop_equals_the_model(speech, config, script):
    model = seeded_codec(seed=2, config=config)
    fast = FastCodec.from_model(model, script=script)
    windows = torch.from_numpy(speech[:12000]).unfold(0, 480, 240)
    with torch.inference_mode():
        for w in windows:
            ref = model.decode(model.encode(w.view(1, -1)))[:, 240:]
            assert torch.max(torch.abs(fast.hop(w.view(1, -1)) - ref)) < EXACT


def test_codec_stage_fast_path_equals_the_model_path(speech):
    model = seeded_codec(seed=0)
    x = speech[:16000]
    ref = CodecStage(model).offline(x)
    stage = CodecStage(model, precision="fp32")
    assert np.max(np.abs(stage.offline(x) - ref)) < EXACT
    streamed = np.concatenate([stage.process(b) for b in np.array_split(x, 37)])
    assert np.max(np.abs(streamed[240:] - ref[:-240])) < EXACT
    with pytest.raises(ValueError, match="expected"):
        stage.fast.hop(torch.zeros(1, 240))


def test_fast_paths_built_in_two_threads_at_once_are_both_compiled():
    """TorchScript compilations take turns (a live link end beside the stage builder)."""
    import threading

    # models no other test builds, two of each kind: each is compiled, none comes from the cache
    codecs = [seeded_codec(50 + i, CodecConfig(output_padding=True)) for i in range(2)]
    vocoders = [seeded_vocos(VOCOS_SIZES["default"], 50 + i).fold_weight_norm() for i in range(2)]
    built: dict[str, bool] = {}
    start = threading.Barrier(4)

    def build(name, make):
        start.wait()
        built[name] = make().scripted

    jobs = [
        threading.Thread(target=build, args=(f"codec{i}", lambda m=m: FastCodec.from_model(m)))
        for i, m in enumerate(codecs)
    ] + [
        threading.Thread(
            target=build, args=(f"vocos{i}", lambda g=g: FastVocos.from_generator(g, "fp32"))
        )
        for i, g in enumerate(vocoders)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=120)
    assert built == {"codec0": True, "codec1": True, "vocos0": True, "vocos1": True}


def test_a_compiled_core_is_kept_and_loaded_for_the_same_weights_only(speech):
    """A stage built while a stream plays shares its core instead of compiling it again."""
    from engine.models import torchscript

    model = seeded_codec(seed=60, config=CodecConfig(output_padding=True))
    first = FastCodec.from_model(model)
    kept = set(torchscript._KEPT)
    again = FastCodec.from_model(seeded_codec(seed=60, config=CodecConfig(output_padding=True)))
    assert set(torchscript._KEPT) == kept  # the same weights: nothing compiled anew
    assert again.core is first.core and again.scripted  # shared: the cores hold no state
    other = FastCodec.from_model(seeded_codec(seed=61, config=CodecConfig(output_padding=True)))
    assert len(set(torchscript._KEPT) - kept) == 1  # other weights: compiled and kept
    shorter = FastCodec.from_model(model, keep=120)  # other options: another core too
    windows = torch.from_numpy(speech[:4800]).unfold(0, 480, 240)
    with torch.inference_mode():
        for w in windows:
            w = w.reshape(1, -1)
            ref = model.decode(model.encode(w))
            assert torch.equal(again.hop(w), first.hop(w))
            assert torch.max(torch.abs(first.hop(w) - ref[:, 240:])) < EXACT
            assert torch.max(torch.abs(shorter.hop(w) - ref[:, 360:])) < EXACT
            assert not torch.equal(other.hop(w), first.hop(w))


def test_vocoder_cores_are_kept_per_weights_and_precision(vocos, speech):
    from engine.models import torchscript

    a = FastVocos.from_generator(vocos, "fp32")
    kept = set(torchscript._KEPT)
    b = FastVocos.from_generator(vocos, "fp32")
    assert set(torchscript._KEPT) == kept and b.core is a.core
    c = FastVocos.from_generator(vocos, "int8")
    assert c.precision == "int8"
    x = torch.from_numpy(speech[: 8 * vocos.config.hop]).view(1, -1)
    with torch.inference_mode():
        ya, yb = a.stream_step(x, a.new_state()), b.stream_step(x, b.new_state())
        yc = c.stream_step(x, c.new_state())
    torch.testing.assert_close(ya, yb, rtol=0, atol=0)
    assert not torch.equal(ya, yc)
