"""The simulated-link A/B taps (engine.link.sim_tap): exact latency, counted losses, retuning."""

import numpy as np
import pytest

from engine.link.endpoints import OpusDecoder, OpusEncoder
from engine.link.impairment import ImpairmentConfig
from engine.link.live import LinkPort
from engine.link.sim_tap import FIXED_DELAY_S, SimLinkStage, codec_bitrate_bps
from engine.live import control as cmd
from engine.stage import SAMPLE_RATE

pytest.importorskip("opuslib_next")


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rng = np.random.default_rng(seed)
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return (x + 0.02 * rng.standard_normal(t.shape)).astype(np.float32)


def direct_opus(x: np.ndarray, bps: int) -> np.ndarray:
    """The link's Opus frames encoded and decoded one after another, nothing lost."""
    enc, dec = OpusEncoder(bps), OpusDecoder(bps)
    f = enc.frame_samples
    return np.concatenate(
        [dec.codec.decode(enc.encode(x[i : i + f])["opus"]) for i in range(0, len(x), f)]
    )


def test_a_clean_simulated_link_is_the_codec_delayed_by_its_declared_latency():
    stage = SimLinkStage("opus", lambda: ImpairmentConfig())
    bps = codec_bitrate_bps()
    assert 9000 < bps < 9500  # Opus at the bundled codec's own rate (token reuse, 9.33 kbit/s)
    x = speechlike(2.0)
    y = np.concatenate([stage.process(x[i : i + 100]) for i in range(0, len(x), 100)])
    ref = direct_opus(x, bps)  # already delayed by the lookahead, which the latency includes
    extra = stage.latency - stage.decoder.delay  # the FIFO's hop and the fixed buffer
    assert stage.delay_frames * stage.hop >= FIXED_DELAY_S * SAMPLE_RATE
    n = len(x) - extra
    np.testing.assert_allclose(y[extra:], ref[:n], atol=1e-6)
    assert not y[: extra - stage.hop].any()  # silence until the buffer starts playing


def test_losses_are_the_simulators_and_a_retune_changes_them_in_place():
    config = {"now": ImpairmentConfig(loss=0.2, seed=7)}
    stage = SimLinkStage("opus", lambda: config["now"], opus_bps=9333)
    x = speechlike(3.0, seed=1)
    steps = len(x) // stage.hop
    for i in range(steps):
        stage.step(x[i * stage.hop : (i + 1) * stage.hop])
    played = steps - stage.delay_frames  # the last frames are still in the buffer
    lost_seqs = [i + 1 for i in stage._sim.stats.lost_indices]  # packet 0 is never impaired
    assert stage.playout.buffer.stats.lost == sum(s < played for s in lost_seqs) > 10
    assert stage.playout.buffer.stats.late == 0  # no jitter: nothing misses the fixed delay

    # When the loss goes to 0 mid-stream, the count stops growing and the stream goes on
    config["now"] = ImpairmentConfig()
    before = stage.lost_so_far
    for i in range(50):
        y = stage.step(x[i * stage.hop : (i + 1) * stage.hop])
    assert stage.lost_so_far == before and np.abs(y).max() > 0.01


def test_jitter_within_the_fixed_delay_is_absorbed_beyond_it_heard_as_late():
    within = SimLinkStage("opus", lambda: ImpairmentConfig(jitter_s=0.08, seed=2), opus_bps=9333)
    beyond = SimLinkStage("opus", lambda: ImpairmentConfig(jitter_s=0.4, seed=2), opus_bps=9333)
    x = speechlike(2.0)
    for stage in (within, beyond):
        for i in range(len(x) // stage.hop):
            stage.step(x[i * stage.hop : (i + 1) * stage.hop])
    assert within.playout.buffer.stats.late == within.playout.buffer.stats.lost == 0
    assert beyond.playout.buffer.stats.late > 10


def test_the_ports_simulated_taps_follow_the_last_link_send_impairment():
    port = LinkPort()
    makers = port.stage_makers()
    assert {"link", "simlink@codec", "simlink@opus"} <= set(makers)
    opus = makers["simlink@opus"](2)
    assert opus.name == "simlink@opus"
    port.apply("send", cmd.LinkSend(None, "opus", loss_pct=30, seed=1))  # not sending: still set
    assert opus._impairment() == ImpairmentConfig(loss=0.3, seed=1)
    x = speechlike(1.0)
    for i in range(len(x) // opus.hop):
        opus.step(x[i * opus.hop : (i + 1) * opus.hop])
    assert opus.lost_so_far > 5
    # and the port reports the running tap: what it sent, lost and played late
    stats = port.stats()
    (sim,) = stats.simulated
    assert (sim.chain, sim.frames) == ("opus", opus.frames) and sim.lost > 0 and sim.late == 0
    assert stats.sending_to is None and f"sim opus lost={sim.lost} late=0" in stats.line()
    port.close()


def test_a_clean_simulated_codec_link_is_the_codec_tap_delayed_by_the_fixed_buffer():
    from engine.chain import build_stages

    sim = SimLinkStage("codec", lambda: ImpairmentConfig())
    (codec,) = build_stages("codec")
    x = speechlike(1.5, seed=3)
    y_sim = np.concatenate([sim.process(x[i : i + 160]) for i in range(0, len(x), 160)])
    y_codec = codec.process(x)
    shift = sim.latency - codec.latency
    assert shift == sim.delay_frames * sim.hop
    np.testing.assert_allclose(y_sim[shift:], y_codec[: len(x) - shift], atol=1e-5)
    assert np.abs(y_codec).max() > 0.05
