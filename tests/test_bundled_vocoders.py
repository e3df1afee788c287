"""The bundled vocoders: one default, one for the lowest latency, one in the seed's geometry.

``default-vocoder``: 8 ms frames (hop 128, n_fft 512), amplitude prior, 384
samples (24 ms) of output delay. ``lowlatency-vocoder``: the same with 128
samples (8 ms). ``seedframe-vocoder``: the seed's 20 ms frames (n_fft 1024),
704 samples of delay, no prior.
"""

import numpy as np
import pytest

from engine import resources
from engine.audiofile import read_mono_16k
from engine.chain import DEFAULT_CHUNK, load_vocoder_model
from engine.dsp.metrics import stoi
from engine.models.vocos.stage import VocosStage
from engine.store.registry import DEFAULT_REGISTRY
from tests.speech_fixture import make_speech

BUNDLED = {  # store name: (file, n_fft, hop, declared output delay, amplitude prior)
    "default-vocoder": (resources.DEFAULT_VOCODER_WEIGHTS, 512, 128, 384, True),
    "lowlatency-vocoder": (resources.LOW_LATENCY_VOCODER_WEIGHTS, 512, 128, 128, True),
    "seedframe-vocoder": (resources.SEED_FRAME_VOCODER_WEIGHTS, 1024, 320, 704, False),
}


@pytest.mark.parametrize("name", BUNDLED)
def test_it_is_bundled_and_known_to_the_store(name):
    entry = DEFAULT_REGISTRY[name]
    assert entry.bundled == BUNDLED[name][0]
    assert entry.bundled.is_file()
    assert entry.bundled.stat().st_size < 8_000_000  # stored as float16


def test_all_bundled_weights_fit_the_size_budget():
    files = list(resources.WEIGHTS_DIR.glob("*.safetensors"))
    assert sum(p.stat().st_size for p in files) <= 25_000_000
    assert len(files) == 4  # the codec and the three vocoders


@pytest.mark.parametrize("name", BUNDLED)
def test_store_name_loads_with_its_geometry_and_declares_one_chunk_plus_its_delay(name):
    _, n_fft, hop, delay, prior = BUNDLED[name]
    model = load_vocoder_model(name)
    assert (model.config.n_fft, model.config.hop, model.config.mag_prior) == (n_fft, hop, prior)
    for chunk in (1, 2, 5):
        st = VocosStage(model, chunk, precision="int8")
        assert st.model_delay == delay
        assert st.latency == hop * chunk + delay


def test_the_bundled_default_is_the_default_vocoder_entry():
    default = load_vocoder_model(None)
    named = load_vocoder_model("default-vocoder")
    assert default.config == named.config
    assert VocosStage(default, DEFAULT_CHUNK).latency == 2 * 128 + 384  # 40 ms at chunk 2


@pytest.mark.parametrize("name", BUNDLED)
def test_stream_equals_offline_and_speech_stays_intelligible(tmp_path, name):
    st = VocosStage(load_vocoder_model(name), 1, precision="int8")
    x = read_mono_16k(make_speech(tmp_path / "s.wav")).samples
    y = np.concatenate([st.process(x[i : i + 100]) for i in range(0, x.shape[0], 100)])
    ref = st.offline(x)
    np.testing.assert_allclose(y[st.latency :], ref[: x.shape[0] - st.latency], atol=1e-5)
    assert stoi(x, ref[: x.shape[0]]) > 0.5


def test_the_default_vocoder_with_lookahead_is_a_chain_one_frame_later():
    from engine.chain import Chain, build_stages

    plain = Chain(build_stages("codec+vocoder", 2))
    ahead = Chain(build_stages("codec+vocoder@lookahead", 2))
    assert ahead.latency == plain.latency + 128
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    y0, y1 = plain.stages[0].offline(x), ahead.stages[0].offline(x)
    assert y0.shape == y1.shape and not np.allclose(y0, y1, atol=1e-4)
