"""The second bundled vocoder: one frame of output delay (20 ms) instead of 44 ms."""

import numpy as np

from engine import resources
from engine.audiofile import read_mono_16k
from engine.chain import load_vocoder_model
from engine.dsp.metrics import stoi
from engine.models.vocos_stage import VocosStage
from engine.store.registry import DEFAULT_REGISTRY
from tests.speech_fixture import make_speech


def test_it_is_bundled_and_known_to_the_store():
    entry = DEFAULT_REGISTRY["lowdelay-vocoder"]
    assert entry.bundled == resources.LOW_DELAY_VOCODER_WEIGHTS
    assert entry.bundled.is_file()
    assert entry.bundled.stat().st_size < 8_000_000  # stored as float16


def test_store_name_loads_and_declares_one_chunk_plus_one_frame_of_latency():
    model = load_vocoder_model("lowdelay-vocoder")
    for chunk in (1, 2, 5):
        st = VocosStage(model, chunk, precision="int8")
        assert st.model_delay == 320
        assert st.latency == 320 * chunk + 320
    default = VocosStage(load_vocoder_model(None), 1, precision="int8")
    assert default.latency - 320 - 320 == 384  # what the low-delay weights save: 24 ms


def test_stream_equals_offline_and_speech_stays_intelligible(tmp_path):
    st = VocosStage(load_vocoder_model("lowdelay-vocoder"), 1, precision="int8")
    x = read_mono_16k(make_speech(tmp_path / "s.wav")).samples
    y = np.concatenate([st.process(x[i : i + 128]) for i in range(0, x.shape[0], 128)])
    ref = st.offline(x)
    np.testing.assert_allclose(y[st.latency :], ref[: x.shape[0] - st.latency], atol=1e-5)
    assert stoi(x, ref[: x.shape[0]]) > 0.5
