import numpy as np

from engine.chain import load_vocoder_model
from engine.models.vocos.stage import VocosStage


def test_stream_is_silent_before_latency_and_equals_offline_after():
    st = VocosStage(load_vocoder_model(None), 2, precision="int8")
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    y = np.concatenate([st.process(x[i : i + 100]) for i in range(0, 8000, 100)])
    assert st.latency == 2 * 128 + 384  # two 8 ms frames + the default's output delay
    assert not y[: st.latency].any()
    ref = st.offline(x)
    np.testing.assert_allclose(y[st.latency :], ref[: 8000 - st.latency], atol=1e-5)
