"""The classical vocoder floor (``pghi``) as a live tap: built by name, aligned, reported."""

import numpy as np
import pytest

from engine.classic.pghi_stage import PghiStage
from engine.live.processor import MixSettings, Processor
from engine.live.taps import available_taps, build_stage_set, check_tap, needed_taps
from tests.audio.toy_stages import toy_factory
from tests.live.test_any_taps import RATE, offline_tap, run, voice


def test_pghi_tap_names():
    assert check_tap("pghi") == "pghi@512/128"
    assert check_tap("codec,pghi@1024/320") == "codec+pghi@1024/320"
    assert available_taps("codec+pghi") == ("dry", "codec", "pghi@512/128", "codec+pghi@512/128")
    # bypassing the codec leaves pghi on the dry signal: built too
    assert needed_taps(["codec+pghi"]) == ("codec", "pghi@512/128", "codec+pghi@512/128")


def test_codec_then_pghi_tap_streams_as_its_offline_form():
    settings = MixSettings(slot_a="codec", slot_b="codec+pghi", selected="B")
    proc = Processor(RATE, "dry", settings)
    stages = build_stage_set(("codec", "codec+pghi"), 2, toy_factory(), 0)
    proc.install(stages, immediate=True)
    assert isinstance(stages.stages["codec+pghi@512/128"], PghiStage)
    assert stages.step_ms["codec+pghi@512/128"] > 0  # warmed and timed off the audio path
    x = voice(RATE)
    y = run(proc, x)
    codec = toy_factory()("codec", 2)
    delay = proc.tap_delay(proc.stage_set, "codec+pghi@512/128")
    assert proc.align == int(np.ceil(delay))
    ref = offline_tap([codec, PghiStage()], x)
    shift = proc.align - int(round(delay))
    ref = np.concatenate([np.zeros(shift, np.float32), ref])[: len(x)]
    steady = slice(proc.align + 2000, None)
    np.testing.assert_allclose(y[steady], ref[steady], atol=1e-4)
    lat = proc.stage_latency_ms()
    assert lat["vocoder"] == pytest.approx(1000 * 512 / 16000)
    assert lat["codec"] == pytest.approx(1000 * codec.latency / 16000)
