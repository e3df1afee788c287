import numpy as np
import pytest

from engine.live.processor import MixSettings, Processor
from engine.live.taps import build_stage_set, effective_tap
from tests.audio.toy_stages import toy_factory

RATE = 48000
GAINS = {"dry": 1.0, "codec": 0.5, "vocoder": 0.8, "codec+vocoder": 0.4}


def tone(n, f=440.0, amp=0.3, rate=RATE):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / rate)).astype(np.float32)


def make(chain="codec,vocoder", chunk=5, rate=RATE, **settings):
    proc = Processor(rate, chain, MixSettings(**settings) if settings else None)
    proc.install(build_stage_set(chain, chunk, toy_factory(), 0), immediate=True)
    return proc


def run(proc, x, block=256, between=None):
    out = []
    for k, i in enumerate(range(0, len(x), block)):
        if between is not None:
            between(k, proc)
        out.append(proc.process(x[i : i + block]))
    return np.concatenate(out)


@pytest.mark.parametrize("tap", ["dry", "codec", "vocoder", "codec+vocoder"])
def test_every_tap_comes_out_at_the_aligned_latency(tap):
    proc = make(slot_b=tap)
    assert proc.heard_tap() == tap
    x = tone(RATE)
    y = run(proc, x, block=200)
    lat = proc.align
    expected = GAINS[tap] * np.concatenate([np.zeros(lat, np.float32), x])[: len(x)]
    steady = slice(lat + 2000, None)
    np.testing.assert_allclose(y[steady], expected[steady], atol=2e-3 * 0.3)


def test_aligned_latency_is_the_slowest_tap_and_tracks_the_chunk():
    proc = make(chunk=5)
    # codec 240 + vocoder 1600 samples at 16 kHz, less the 80 the fused pair saves
    # (engine.series_stage), x3 at 48 kHz, plus ~1.9 ms of resampling
    assert proc.align == pytest.approx((240 + 1600 - 80) * 3 + 90, abs=3)
    proc.install(build_stage_set("codec,vocoder", 1, toy_factory(), 1))
    assert proc.align == pytest.approx((240 + 320 - 80) * 3 + 90, abs=3)
    proc.install(build_stage_set("codec,vocoder", 3, toy_factory(), 2))
    assert proc.align == pytest.approx((240 + 960 - 240) * 3 + 90, abs=3)  # hops in phase
    assert make(chain="dry").align == 0


def test_dry_chain_is_an_exact_copy():
    proc = Processor(RATE, "dry")
    x = np.random.default_rng(0).standard_normal(5000).astype(np.float32) * 0.1
    np.testing.assert_array_equal(run(proc, x, block=97), x)


def max_step(y):
    return float(np.max(np.abs(np.diff(y))))


def test_fifty_ab_and_bypass_switches_are_click_free_and_keep_latency():
    proc = make()
    x = tone(4 * RATE, f=300.0)
    schedule = []

    def between(k, p):
        if k % 15 == 7 and len(schedule) < 50:
            s = p.settings
            choice = len(schedule) % 4
            if choice == 0:
                s = MixSettings(**{**s.__dict__, "selected": "A" if s.selected == "B" else "B"})
            elif choice == 1:
                s = MixSettings(**{**s.__dict__, "bypass": s.bypass ^ {"codec"}})
            elif choice == 2:
                s = MixSettings(**{**s.__dict__, "master_bypass": not s.master_bypass})
            else:
                s = MixSettings(**{**s.__dict__, "bypass": s.bypass ^ {"vocoder"}})
            schedule.append(k)
            p.apply(s)

    y = run(proc, x, block=256, between=between)
    assert len(schedule) == 50
    lat = proc.align
    steady = y[lat + 4000 :]
    clean = max_step(tone(RATE, f=300.0))  # the loudest tap (dry) on its own
    assert max_step(steady) <= 1.5 * clean
    # Latency constant: wherever the output is a pure tap, it is the input at `lat`.
    ref = np.concatenate([np.zeros(lat, np.float32), x])[: len(x)]
    tail = slice(len(y) - 2000, len(y))
    g = np.dot(y[tail], ref[tail]) / np.dot(ref[tail], ref[tail])
    np.testing.assert_allclose(y[tail], g * ref[tail], atol=2e-3)
    expected_tap = effective_tap(
        proc.settings.slot_a if proc.settings.selected == "A" else proc.settings.slot_b,
        proc.settings.bypass,
        proc.settings.master_bypass,
    )
    assert proc.heard_tap() == expected_tap
    assert g == pytest.approx(GAINS[expected_tap], rel=1e-3)


def test_new_generation_is_faded_in_once_warm():
    proc = make(chunk=5)
    x = tone(2 * RATE)
    swapped = {}

    def between(k, p):
        if k == 100:
            p.install(build_stage_set("codec,vocoder", 2, toy_factory(), 1))
            swapped["align"] = p.align

    y = run(proc, x, block=256, between=between)
    lat = swapped["align"]
    assert lat < (240 + 1600) * 3
    assert all(key.endswith("@1") for key in proc.nodes)
    ref = 0.4 * np.concatenate([np.zeros(lat, np.float32), x])[: len(x)]
    np.testing.assert_allclose(y[-5000:], ref[-5000:], atol=2e-3)
    assert max_step(y[10000:]) <= 1.5 * max_step(0.4 * tone(RATE))


def test_gain_mute_and_limiter():
    proc = make(chain="dry", output_gain_db=24.0)
    y = run(proc, tone(RATE, amp=0.5))
    assert np.max(np.abs(y)) <= 10 ** (-1 / 20)
    proc.apply(MixSettings(slot_b="dry", mute=True))
    y = run(proc, tone(RATE // 10))
    assert np.all(y[-1000:] == 0.0)


def test_loudness_match_brings_taps_to_the_dry_level():
    proc = make(slot_b="codec+vocoder", loudness_match=True)
    x = tone(6 * RATE)
    y = run(proc, x, block=480)
    rms = lambda v: float(np.sqrt(np.mean(v**2)))  # noqa: E731
    assert rms(y[-RATE:]) == pytest.approx(rms(x[-RATE:]), rel=0.05)


def test_capture_records_input_and_output():
    proc = make(chain="dry")
    proc.arm_capture(1000)
    x = tone(2000)
    y = run(proc, x, block=300)
    cin, cout = proc.capture()
    np.testing.assert_array_equal(cin, x[:1000])
    np.testing.assert_array_equal(cout, y[:1000])


def test_bad_settings_raise():
    with pytest.raises(ValueError):
        MixSettings(slot_a="robot")
    with pytest.raises(ValueError):
        MixSettings(selected="C")
    with pytest.raises(ValueError):
        MixSettings(bypass=frozenset({"reverb"}))
    with pytest.raises(ValueError):
        MixSettings(output_gain_db=40.0)
