"""Any two taps on A and B (toy models, real reference codecs), without audio I/O."""

import numpy as np
import pytest

from engine.classic.reference_stages import build_reference
from engine.dsp.resample import FirResampler
from engine.live import control as cmd
from engine.live.nodes import PAD
from engine.live.processor import MixSettings, Processor
from engine.live.taps import (
    available_taps,
    build_stage_set,
    check_tap,
    effective_tap,
    needed_taps,
    parent_tap,
)
from tests.audio.toy_stages import toy_factory

RATE = 48000


def voice(n, seed=0):
    """Harmonics of a gliding pitch plus a little noise, ``(n,)`` at 48 kHz."""
    t = np.arange(n) / RATE
    phase = 2 * np.pi * np.cumsum(140 + 40 * np.sin(2 * np.pi * 0.7 * t)) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    x += 0.02 * np.random.default_rng(seed).standard_normal(n)
    return (0.25 * x / np.max(np.abs(x))).astype(np.float32)


def make(slot_a, slot_b, selected="B", **kw):
    settings = MixSettings(slot_a=slot_a, slot_b=slot_b, selected=selected, **kw)
    proc = Processor(RATE, "dry", settings)
    proc.install(build_stage_set((slot_a, slot_b), 2, toy_factory(), 0), immediate=True)
    return proc


def run(proc, x, block=256, between=None):
    out = []
    for k, i in enumerate(range(0, len(x), block)):
        if between is not None:
            between(k, proc)
        out.append(proc.process(x[i : i + block]))
    return np.concatenate(out)


def offline_tap(stages, x):
    """What a node starting with the stream gives: down, each stage delayed, up, PAD."""
    y16 = FirResampler(RATE, 16000).process(x)
    for stage in stages:
        y16 = np.concatenate([np.zeros(stage.latency, np.float32), stage.offline(y16)])
        y16 = y16[: len(y16) - stage.latency]
    up = FirResampler(16000, RATE).process(y16)
    return np.concatenate([np.zeros(PAD, np.float32), up])[: len(x)]


def test_tap_names_are_canonical_and_paths_share_prefixes():
    assert check_tap("opus@9.3") == "opus@9.3/20ms"
    assert check_tap("opus,vocoder") == "opus@18.7/20ms+vocoder"
    assert check_tap("codec,vocoder") == "codec+vocoder"
    assert cmd.AssignTap("B", "OPUS@12").tap == "opus@12/20ms"
    assert MixSettings(slot_a="mulaw").slot_a == "mulaw@64"
    assert parent_tap("opus@12+vocoder") == "opus@12/20ms"
    assert parent_tap("codec") is None
    assert available_taps("mulaw,vocoder") == ("dry", "mulaw@64", "vocoder", "mulaw@64+vocoder")
    # bypassing the vocoder of opus+vocoder leaves opus; the Tiny codec bypass does not touch it
    assert effective_tap("opus@12+vocoder", {"vocoder"}) == "opus@12/20ms"
    assert effective_tap("opus@12+vocoder", {"codec"}) == "opus@12/20ms+vocoder"
    # what a slot needs: its stages, what feeds them, and what its bypasses reach
    assert needed_taps(["opus@12+vocoder"]) == ("opus@12/20ms", "opus@12/20ms+vocoder")
    assert needed_taps(["codec+vocoder"]) == ("codec", "vocoder", "codec+vocoder")
    with pytest.raises(ValueError, match="vocoder must come after"):
        cmd.AssignTap("A", "vocoder,opus")
    with pytest.raises(ValueError, match="unknown tap"):
        MixSettings(slot_b="reverb")


def test_codec_on_a_opus_on_b_both_at_the_slowest_latency():
    proc = make("codec", "opus@9.3")
    opus_delay = proc.tap_delay(proc.stage_set, "opus@9.3/20ms")
    assert opus_delay > proc.tap_delay(proc.stage_set, "codec")
    assert proc.align == int(np.ceil(opus_delay))
    # only the two slot taps run
    assert sorted(n.tap for n in proc.nodes.values()) == ["codec", "opus@9.3/20ms"]
    x = voice(RATE)
    y = run(proc, x)
    ref_b = offline_tap([build_reference("opus@9.3")], x)
    shift = proc.align - int(round(opus_delay))
    ref_b = np.concatenate([np.zeros(shift, np.float32), ref_b])[: len(x)]
    steady = slice(proc.align + 2000, None)
    np.testing.assert_allclose(y[steady], ref_b[steady], atol=1e-4)
    # the latency breakdown names the slowest tap's stages
    lat = proc.stage_latency_ms()
    assert lat == {
        "codec": pytest.approx(1000 * proc.stage_set.stages["opus@9.3/20ms"].latency / 16000)
    }


def test_flipping_between_codec_and_opus_keeps_time_and_is_click_free():
    proc = make("codec", "opus@16")
    x = (0.3 * np.sin(2 * np.pi * 300 * np.arange(3 * RATE) / RATE)).astype(np.float32)
    flips = []

    def between(k, p):
        if k % 12 == 6 and len(flips) < 40:
            sel = "A" if p.settings.selected == "B" else "B"
            p.apply(MixSettings(**{**p.settings.__dict__, "selected": sel}))
            flips.append(k)

    y = run(proc, x, between=between)
    assert len(flips) == 40
    lat = proc.align
    clean = np.max(np.abs(np.diff(x)))  # the tone's own largest step
    assert np.max(np.abs(np.diff(y[lat + 3000 :]))) <= 1.5 * clean
    # A (the codec toy, a gain of 0.5) heard alone is the input at the same latency
    proc.apply(MixSettings(**{**proc.settings.__dict__, "selected": "A"}))
    tail = run(proc, x[:RATE])
    ref_tail = 0.5 * np.concatenate([x[-lat:], x[: RATE - lat]])
    np.testing.assert_allclose(tail[-4000:], ref_tail[-4000:], atol=1e-4)


def test_assigning_a_tap_mid_stream_keeps_the_playing_node_running():
    proc = make("dry", "codec", selected="B")
    x = voice(RATE)
    run(proc, x[: RATE // 2])
    codec_node = proc.nodes["codec@0"]
    # the engine builds the new tap's stages and merges them into the playing generation
    settings = MixSettings(slot_a="mulaw", slot_b="codec", selected="B")
    proc.apply(settings)
    assert proc.wanted_tap() == "codec"  # still heard; mulaw not built yet, nothing changes
    extra = build_stage_set(("mulaw",), 2, toy_factory(), 0)
    proc.install(proc.stage_set.merged(extra))
    assert proc.nodes["codec@0"] is codec_node  # not restarted
    assert sorted(n.tap for n in proc.nodes.values()) == ["codec", "mulaw@64"]
    proc.apply(MixSettings(slot_a="mulaw", slot_b="codec", selected="A"))
    run(proc, x[RATE // 2 :])
    assert proc.heard_tap() == "mulaw@64"


def test_opus_vocoder_tap_with_bypass_and_master_bypass():
    proc = make("codec", "opus@12,vocoder")
    assert set(proc.stage_set.stages) == {"codec", "opus@12/20ms", "opus@12/20ms+vocoder"}
    full = proc.align
    x = voice(RATE // 2)
    run(proc, x)
    assert proc.heard_tap() == "opus@12/20ms+vocoder"
    proc.apply(MixSettings(slot_a="codec", slot_b="opus@12,vocoder", bypass=frozenset({"vocoder"})))
    run(proc, x)
    assert proc.heard_tap() == "opus@12/20ms" and proc.align == full  # latency kept
    proc.apply(MixSettings(slot_a="codec", slot_b="opus@12,vocoder", master_bypass=True))
    run(proc, x)
    assert proc.heard_tap() == "dry" and proc.align == full
    # Now the slots hold faster taps: the alignment follows them.
    proc.apply(MixSettings(slot_a="codec", slot_b="mulaw"))
    assert proc.align < full


def test_loudness_match_applies_to_reference_taps():
    proc = make("dry", "mulaw", loudness_match=True)
    x = voice(4 * RATE)
    y = run(proc, 0.5 * x, block=480)
    rms = lambda v: float(np.sqrt(np.mean(v**2)))  # noqa: E731
    assert rms(y[-RATE:]) == pytest.approx(rms(0.5 * x[-RATE:]), rel=0.1)


def test_stage_set_says_how_much_audio_one_vocoder_frame_is():
    from engine.live.taps import StageSet
    from engine.models.vocos.generator import VocosConfig, VocosGenerator
    from engine.models.vocos.stage import VocosStage

    fused = build_stage_set(("codec+vocoder",), 3, toy_factory(), 0, warm=False)
    assert fused.vocoder_frame_ms() == 20.0  # toy vocoder: hop 320 per frame, fused with codec
    assert build_stage_set(("codec", "mulaw"), 3, toy_factory(), 0).vocoder_frame_ms() is None
    fast = VocosGenerator(VocosConfig(dim=16, intermediate_dim=32, n_layers=1, n_fft=512, hop=128))
    own = StageSet(0, 4, {"vocoder": VocosStage(fast, 4)})
    assert own.vocoder_frame_ms() == 8.0


def test_model_variants_answer_to_their_models_bypass_switch():
    """``vocoder@lookahead`` / ``codec@oas`` are the vocoder / the codec for bypass."""
    assert effective_tap("codec+vocoder@lookahead", ["vocoder"]) == "codec"
    assert effective_tap("codec@oas+vocoder@lookahead", ["codec"]) == "vocoder@lookahead"
    assert effective_tap("opus@12/20ms+vocoder@lookahead", ["codec"]) == (
        "opus@12/20ms+vocoder@lookahead"
    )
    assert needed_taps(["codec+vocoder@lookahead"]) == (
        "codec",
        "vocoder@lookahead",
        "codec+vocoder@lookahead",
    )


def test_the_live_factory_builds_the_model_variants_from_the_bundled_weights():
    from engine.live.taps import ModelStageFactory

    factory = ModelStageFactory()
    plain, ahead = factory("vocoder", 2), factory("vocoder@lookahead", 2)
    assert ahead.latency == plain.latency + 128  # one 8 ms frame of phase look-ahead
    assert factory("codec@oas", 2).stream == "oas"
    assert factory("codec@reuse", 2).stream == "reuse"
    with pytest.raises(ValueError, match="unknown stage kind"):
        factory("vocoder@sideways", 2)
