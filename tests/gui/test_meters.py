"""The meters draw what the engine's snapshot says (snapshots built as the engine does)."""

import numpy as np
import pytest

from app.controllers.meters import MetersController, budget_ms, latency_rows
from app.views.main_view import MainView
from engine.live.snapshot import Latency, Snapshot, Status, Timing, Xruns


def running_snapshot(**changes):
    wave = np.sin(np.linspace(0, 40, 1000)).astype(np.float32)
    wave.setflags(write=False)
    values = dict(
        time=1.0,
        state="running",
        input_peak_db=-6.0,
        input_rms_db=-12.0,
        output_peak_db=-3.0,
        output_rms_db=-9.0,
        wave_in=wave,
        wave_out=(0.5 * wave),
        wave_seconds=2.0,
        timings={
            "engine block": Timing(1.0, 0.9, 2.0, 3.0, 10),
            "codec": Timing(4.0, 3.5, 6.0, 7.0, 10),
            "vocoder": Timing(9.0, 8.0, 12.0, 15.0, 10),
        },
        load=0.42,
        xruns=Xruns(input_overflow=1, ring_underrun=2, ring_underrun_frames=100),
        latency=Latency(2.0, 4.0, 15.3, 3.1, 15.0, 40.0, 58.1, 79.4, None),
        codec_bitrate_bps=18666.7,
        codec_tokens_per_s=2666.7,
        heard_tap="codec+vocoder",
        status=Status(block=256, rate=48000),
    )
    values.update(changes)
    return Snapshot(**values)


@pytest.fixture
def meters(qtbot):
    view = MainView()
    qtbot.addWidget(view)
    view.resize(1280, 680)
    view.show()
    snaps = []
    controller = MetersController(view, lambda: snaps[-1] if snaps else None)
    return view, controller, snaps


def test_one_snapshot_updates_every_meter(meters):
    view, controller, snaps = meters
    snaps.append(running_snapshot())
    controller.poll()
    s = snaps[-1]
    np.testing.assert_array_equal(view.waveforms.drawn("in"), s.wave_in)
    np.testing.assert_array_equal(view.waveforms.drawn("out"), s.wave_out)
    assert view.levels.shown == {"in": (-6.0, -12.0), "out": (-3.0, -9.0)}
    assert view.latency.values["total"].text() == "79.4 ms"
    assert view.latency.values["vocoder"].text() == "40.0 ms"
    assert view.stats.load.value() == 42
    assert view.stats.xruns.text() == "<b>3</b>"
    assert "18.67 kbit/s" in view.stats.bitrate.text()
    assert set(view.timing.rows) == {"engine block", "codec", "vocoder"}
    assert view.timing.rows["codec"].budget.value() == 15.0
    assert view.timing.rows["engine block"].budget.value() == pytest.approx(1000 * 256 / 48000)
    assert view.timing.history("vocoder")[-1] == 9.0


def test_same_snapshot_is_drawn_once_and_new_ones_scroll(meters):
    view, controller, snaps = meters
    snaps.append(running_snapshot())
    controller.poll()
    controller.poll()
    assert controller.frames_drawn == 1
    snaps.append(running_snapshot(timings={"codec": Timing(5.0, 5.0, 5.0, 5.0, 11)}))
    controller.poll()
    assert controller.frames_drawn == 2
    assert list(view.timing.history("codec")[-2:]) == [4.0, 5.0]
    assert not view.timing.rows["vocoder"].plot.isVisible()


def test_full_scale_peak_lights_the_clip_indicator(meters):
    view, controller, snaps = meters
    snaps.append(running_snapshot(output_peak_db=0.0))
    controller.poll()
    assert view.levels.clipped == {"in": False, "out": True}


def test_hidden_meters_are_skipped(meters):
    view, controller, snaps = meters
    view.waveforms.hide()
    snaps.append(running_snapshot())
    controller.poll()
    assert view.waveforms.drawn("in").shape[0] == 0
    assert view.levels.shown["in"] == (-6.0, -12.0)


def test_stopped_engine_shows_no_latency_numbers():
    assert latency_rows(Snapshot()) == {}
    assert budget_ms("engine block", Snapshot()) == 0.0


def test_limiter_indicator_follows_the_engine_snapshot(qtbot):
    from app.controllers.live_controls import limiter_reduction_db
    from app.views.mix_view import MixView
    from engine.live.snapshot import Snapshot

    view = MixView()
    qtbot.addWidget(view)
    assert limiter_reduction_db(Snapshot()) is None
    reduction = limiter_reduction_db(Snapshot(limiter_reduction_db=12.5))
    view.set_limiter(reduction > 0.05, reduction)
    assert view.limiter_active is True and "-12.5 dB" in view.limiter.text()
    view.set_limiter(False)
    assert view.limiter_active is False and "idle" in view.limiter.text()


def test_vocoder_budget_follows_the_frame_of_the_vocoder_in_use():
    seed = Snapshot(status=Status(chunk=3))
    fast = Snapshot(status=Status(chunk=3, vocoder_frame_ms=8.0))
    assert budget_ms("vocoder", seed) == 60.0  # the seed's 20 ms frames
    assert budget_ms("codec+vocoder/vocoder", fast) == 24.0
