"""Live A/B on a real JACK server with AMR-WB 8.85 kbit/s on slot B (dry on A).

AMR-WB is deterministic, so while B is heard alone the engine's output must
be AMR-WB's offline output put at the reported chain latency (the reference
is computed from the engine's own captured input, as in
``test_live_ab_jack.py``); then both slots, measured end to end through
JACK, lie at the reported total latency.
"""

import time

import numpy as np
import pytest

from engine.classic.reference_stages import build_reference, unavailable_reason
from engine.live import control as cmd
from engine.live.engine import Engine, EngineOptions
from engine.live.taps import ModelStageFactory
from tests.audio.jack_rig import RATE
from tests.live.test_live_ab_jack import lag_of, tap_output
from tests.live.test_live_jack import SPEC, running, wait_for
from tests.live.test_live_models import voice_like

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(unavailable_reason("amrwb")), reason="AMR-WB libraries missing"),
]
TAP = "amrwb@8.85"


def test_amrwb_on_b_plays_its_offline_output_at_the_reported_latency(rig):
    engine = Engine(factory=ModelStageFactory(), options=EngineOptions(retry_s=0.3))
    try:
        engine.send(cmd.AssignTap("A", "dry"))
        engine.send(cmd.AssignTap("B", TAP))
        engine.send(cmd.Capture(3.0))  # armed for the stream's first block
        engine.send(cmd.Start(SPEC, chunk=1, margin_ms=40.0, adaptive=False))
        snap = wait_for(engine, running, timeout=60.0)
        assert (snap.status.slot_b, snap.status.selected, snap.heard_tap) == (
            TAP,
            "B",
            TAP,
        )
        stage = build_reference(TAP)
        assert snap.latency.codec_ms == pytest.approx(1000 * stage.latency / 16000)  # 25.9 ms
        rig.wire()
        rig.play_record(voice_like(2.5), extra=0.3)
        cin, cout = engine.capture_result(timeout=60.0)
        snap = engine.snapshot()
        ms = RATE / 1000.0
        align = int(round(snap.latency.chain_ms * ms))
        ref = tap_output(stage, cin, align)
        live = slice(align + 2000, len(cout) - 100)
        assert np.sqrt(np.mean(cout[live] ** 2)) > 1e-3
        np.testing.assert_allclose(cout[live], ref[live], atol=1e-4)

        total = snap.latency.total_ms * ms
        probe = voice_like(1.0)
        measured = {}
        for slot in ("A", "B"):
            engine.send(cmd.SelectSlot(slot))
            time.sleep(0.3)
            rec = rig.play_record(probe, extra=0.3)
            measured[slot] = lag_of(probe, rec, int(round(total)), int(5 * ms))
        print(f"measured A {measured['A'] / ms:.2f} ms, B {measured['B'] / ms:.2f} ms, "
              f"reported total {total / ms:.2f} ms")  # fmt: skip
        for slot, lag in measured.items():
            assert abs(lag - total) <= 1.0 * ms, f"{slot}: measured {lag}, reported {total:.1f}"
        assert engine.snapshot().error is None
    finally:
        engine.close()
