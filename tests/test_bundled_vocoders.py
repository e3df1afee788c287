"""The extra bundled vocoders: less latency than the default, each for a price in quality.

``lowdelay-vocoder``: the seed's 20 ms frames, one frame (not 44 ms) of
output delay. ``shortframe-vocoder``: 8 ms frames (hop 128, n_fft 512) and
8 ms of output delay.
"""

import numpy as np
import pytest

from engine import resources
from engine.audiofile import read_mono_16k
from engine.chain import load_vocoder_model
from engine.dsp.metrics import stoi
from engine.models.vocos_stage import VocosStage
from engine.store.registry import DEFAULT_REGISTRY
from tests.speech_fixture import make_speech

EXTRA = {  # store name: (file, hop, declared output delay)
    "lowdelay-vocoder": (resources.LOW_DELAY_VOCODER_WEIGHTS, 320, 320),
    "shortframe-vocoder": (resources.SHORT_FRAME_VOCODER_WEIGHTS, 128, 128),
}


@pytest.mark.parametrize("name", EXTRA)
def test_it_is_bundled_and_known_to_the_store(name):
    entry = DEFAULT_REGISTRY[name]
    assert entry.bundled == EXTRA[name][0]
    assert entry.bundled.is_file()
    assert entry.bundled.stat().st_size < 8_000_000  # stored as float16


def test_all_bundled_weights_fit_the_size_budget():
    total = sum(p.stat().st_size for p in resources.WEIGHTS_DIR.glob("*.safetensors"))
    assert total <= 25_000_000
    assert len(list(resources.WEIGHTS_DIR.glob("*.safetensors"))) == 4


@pytest.mark.parametrize("name", EXTRA)
def test_store_name_loads_and_declares_one_chunk_plus_its_delay(name):
    _, hop, delay = EXTRA[name]
    model = load_vocoder_model(name)
    assert model.config.hop == hop
    for chunk in (1, 2, 5):
        st = VocosStage(model, chunk, precision="int8")
        assert st.model_delay == delay
        assert st.latency == hop * chunk + delay
    default = VocosStage(load_vocoder_model(None), 1, precision="int8")
    assert default.latency - 320 - 320 == 384  # what the low-delay weights save: 24 ms


@pytest.mark.parametrize("name", EXTRA)
def test_stream_equals_offline_and_speech_stays_intelligible(tmp_path, name):
    st = VocosStage(load_vocoder_model(name), 1, precision="int8")
    x = read_mono_16k(make_speech(tmp_path / "s.wav")).samples
    y = np.concatenate([st.process(x[i : i + 100]) for i in range(0, x.shape[0], 100)])
    ref = st.offline(x)
    np.testing.assert_allclose(y[st.latency :], ref[: x.shape[0] - st.latency], atol=1e-5)
    assert stoi(x, ref[: x.shape[0]]) > 0.5
