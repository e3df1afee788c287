"""The codec's token statistics reach the snapshot of a live engine on JACK."""

import math

import pytest

from engine.live import control as cmd
from engine.live.engine import Engine, EngineOptions
from engine.live.taps import ModelStageFactory
from tests.live.test_live_jack import SPEC, running, wait_for
from tests.live.test_live_models import voice_like

pytestmark = pytest.mark.slow


def test_token_statistics_of_the_heard_codec_reach_the_snapshot(rig):
    engine = Engine(factory=ModelStageFactory(), options=EngineOptions(retry_s=0.3))
    try:
        engine.send(cmd.Start(SPEC, chain="codec,vocoder", chunk=2, margin_ms=40.0))
        wait_for(engine, running, timeout=90.0)
        rig.wire()
        rig.play_record(voice_like(2.0), extra=0.2)
        snap = wait_for(engine, lambda s: s.tokens is not None and s.tokens.window_s >= 2.0, 60.0)
        t = snap.tokens
        assert snap.heard_tap == "codec+vocoder"  # its codec runs fused with the vocoder
        assert t.bitrate_bps == pytest.approx(snap.codec_bitrate_bps)
        assert t.tokens_per_s == pytest.approx(snap.codec_tokens_per_s)
        # the bundled codec runs token reuse: each hop sends its 10 new frames x 2 codebooks
        assert (t.tokens_per_hop, t.bits_per_token, len(t.codebooks)) == (20, 7, 2)
        assert t.tokens_total >= t.window_hops * t.tokens_per_hop
        for book in t.codebooks:
            assert book.size == 128
            assert book.counts.sum() == t.window_hops * t.tokens_per_hop // 2  # per codebook
            assert 2 <= book.used <= 128  # speech moves through the codebook
            assert 0.0 < book.entropy_bits <= math.log2(book.used) + 1e-9
        assert 0.0 < t.entropy_bitrate_bps <= t.bitrate_bps
        later = wait_for(engine, lambda s: s.tokens and s.tokens.tokens_total > t.tokens_total)
        assert later.tokens.window_hops >= t.window_hops
        engine.send(cmd.SetBypass("codec", True))  # no codec runs: nothing is sent
        wait_for(engine, lambda s: s.state == "running" and s.tokens is None, timeout=60.0)
    finally:
        engine.close()
