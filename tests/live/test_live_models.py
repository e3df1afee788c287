"""The real codec and vocoder running live give what their offline forms give.

The engine captures its input and output from the first block of the
stream; the reference is computed from that input offline: down-sampling,
each stage's ``offline`` form delayed by its latency (the streaming
contract), up-sampling; compared once the chain's latency has passed.
The capture is taken at the processor, so it does not depend on how
punctual the machine is; JACK only supplies the input.
"""

import numpy as np
import pytest

from engine.chain import fuse_series
from engine.dsp.resample import FirResampler
from engine.live import control as cmd
from engine.live.engine import Engine, EngineOptions
from engine.live.nodes import PAD
from engine.live.taps import ModelStageFactory
from tests.audio.jack_rig import RATE
from tests.live.test_live_jack import SPEC, running, wait_for

pytestmark = pytest.mark.slow


def voice_like(seconds: float, rate: int = RATE) -> np.ndarray:
    """Harmonics of a gliding 110-180 Hz pitch with syllable-like bursts, plus some noise."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 25))
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 0.5
    noise = np.random.default_rng(0).standard_normal(t.shape[0]) * 0.05
    x = envelope * voiced + noise * (1 - envelope)
    return (0.25 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture(scope="module")
def factory():
    return ModelStageFactory()  # bundled weights, loaded once for the module


@pytest.mark.parametrize("chain", ["codec", "vocoder", "codec,vocoder"])
def test_live_chain_matches_offline(chain, factory, rig):
    live_equals_offline(chain, factory, rig)


def test_the_seed_frame_vocoder_runs_live_as_offline(rig):
    from engine import resources

    factory = ModelStageFactory(vocoder_weights=str(resources.SEED_FRAME_VOCODER_WEIGHTS))
    assert factory("vocoder", 2).hop == 2 * 320
    live_equals_offline("codec,vocoder", factory, rig)


def live_equals_offline(chain, factory, rig, chunk=2):
    """Stream ``chain`` through JACK; the engine's output is the stages' offline form."""
    engine = Engine(factory=factory, options=EngineOptions(retry_s=0.3))
    try:
        engine.send(cmd.Capture(2.5))  # armed for the stream's first block
        engine.send(cmd.Start(SPEC, chain=chain, chunk=chunk, margin_ms=40.0))
        snap = wait_for(engine, running, timeout=60.0)
        rig.wire()
        rig.play_record(voice_like(1.5), extra=0.2)
        cin, cout = engine.capture_result(timeout=60.0)
    finally:
        engine.close()
    tap = chain.replace(",", "+")
    assert snap.heard_tap == tap
    y16 = FirResampler(RATE, 16000).process(cin)
    # each stage as the engine builds it (a codec feeding the vocoder runs fused with it):
    # its offline form, delayed by its latency
    for stage in fuse_series([factory(kind, chunk) for kind in chain.split(",")]):
        y16 = np.concatenate([np.zeros(stage.latency, np.float32), stage.offline(y16)])[: len(y16)]
    ref = np.concatenate([np.zeros(PAD, np.float32), FirResampler(16000, RATE).process(y16)])
    # Compare from the chain's latency on: before it, a stage with a model delay
    # (Vocos) streams a pre-roll that its offline form has no samples for.
    align = int(round(snap.latency.chain_ms * RATE / 1000))
    ref, out = ref[align : len(cout)], cout[align:]
    assert np.max(np.abs(ref)) > 0.05  # the chain really made sound
    err = out - ref
    snr = 10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-20))
    # Measured here: 124-136 dB (float rounding of block-wise vs whole-signal runs).
    assert snr > 80.0, f"live differs from offline: SNR {snr:.1f} dB"
    assert np.max(np.abs(err)) < 1e-4


def test_weights_swap_live_and_bad_weights_leave_the_old_ones_playing(
    jack_server, factory, tmp_path
):
    from engine import resources

    engine = Engine(options=EngineOptions(retry_s=0.3))  # its own factory: bundled weights
    try:
        engine.send(cmd.Start(SPEC, chain="codec,vocoder", chunk=2, margin_ms=40.0))
        first = wait_for(engine, running, timeout=60.0)
        engine.send(cmd.SwapWeights(codec=str(resources.DEFAULT_CODEC_WEIGHTS)))
        gen = first.status.generation
        swapped = wait_for(engine, lambda s: s.status.generation > gen, timeout=60.0)
        assert swapped.error is None
        assert swapped.status.codec_weights == str(resources.DEFAULT_CODEC_WEIGHTS)
        bad = tmp_path / "broken.safetensors"
        bad.write_bytes(b"not a checkpoint")
        engine.send(cmd.SwapWeights(vocoder=str(bad)))
        snap = wait_for(engine, lambda s: s.error is not None, timeout=60.0)
        assert "broken.safetensors" in snap.error
        assert snap.state == "running" and snap.heard_tap == "codec+vocoder"
        assert snap.status.vocoder_weights == "bundled"  # the old ones play on
        engine.send(cmd.SetChunk(1))  # later rebuilds still use the good weights
        gen = swapped.status.generation + 1
        snap = wait_for(engine, lambda s: s.status.generation > gen, timeout=60.0)
        assert snap.state == "running" and snap.status.chunk == 1
        (fused,) = fuse_series([factory("codec", 1), factory("vocoder", 1)])
        # the vocoder adds one chunk + its output delay, less what fusing saves
        # (1 ms with the default's 8 ms frames, where the hops 240 and 128 rarely line up)
        saved = factory("codec", 1).latency + factory("vocoder", 1).latency - fused.latency
        assert saved == 16
        assert snap.latency.vocoder_ms == pytest.approx(
            1000 * (factory("vocoder", 1).latency - saved) / 16000
        )
        assert snap.latency.codec_ms + snap.latency.vocoder_ms == pytest.approx(
            1000 * fused.latency / 16000
        )
    finally:
        engine.close()
