"""The live engine on a real JACK server: exactness, latency, switching, recovery.

The server runs in synchronous mode with the dummy driver (see
``jack_rig.JackServer``): a late client delays a cycle instead of losing it,
so recordings are exact even on a busy machine without real-time
scheduling. Properties of the engine itself (clicks, alignment) are also
checked on its own capture of input and output.
"""

import os
import threading
import time

import numpy as np
import pytest

from engine.audio.stream import StreamSpec
from engine.live import control as cmd
from engine.live.engine import Engine, EngineOptions
from engine.live.loopback import find_delay, make_probe
from tests.audio.jack_rig import RATE, JackRig, JackServer
from tests.audio.toy_stages import toy_factory

SPEC = StreamSpec(input="system", output="system", block=256)
MS = RATE / 1000.0


def wait_for(engine, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    snap = engine.snapshot()
    while time.monotonic() < deadline:
        snap = engine.snapshot()
        if predicate(snap):
            return snap
        time.sleep(0.02)
    raise AssertionError(f"timed out; last snapshot: state={snap.state} error={snap.error}")


def running(snap):
    return snap.state == "running"


@pytest.fixture
def engine():
    eng = Engine(factory=toy_factory(), options=EngineOptions(retry_s=0.3))
    yield eng
    eng.close()


def noise(seconds, level=0.2, seed=0):
    x = level * np.random.default_rng(seed).standard_normal(int(seconds * RATE))
    return np.clip(x, -0.7, 0.7).astype(np.float32)  # below the limiter's knee


def measured_delay(rig, seconds=0.6, seed=1, engine=None):
    x = noise(seconds, seed=seed)
    rec = rig.play_record(x, extra=0.4)
    delay, quality = find_delay(x, rec)
    snap = engine.snapshot() if engine is not None else None
    assert delay is not None, (
        f"probe not found (quality {quality:.1f}, rec peak {np.max(np.abs(rec)):.3f}); "
        f"{rig.graph()}; {snap}"
    )
    return delay, x, rec


def test_dry_path_is_an_exact_copy_at_the_reported_latency(engine, rig):
    engine.send(cmd.Start(SPEC, chain="dry", margin_ms=40.0, adaptive=False))
    wait_for(engine, running)
    rig.wire()
    delay, x, rec = measured_delay(rig, seconds=1.0)
    d = int(round(delay))
    np.testing.assert_array_equal(rec[d : d + len(x)], x)
    snap = engine.snapshot()
    assert abs(delay / MS - snap.latency.total_ms) <= 1.0
    lat = snap.latency
    assert lat.total_ms == pytest.approx(
        lat.device_in_ms + lat.device_out_ms + lat.ring_ms + lat.chain_ms
    )


def clicks(out, ref, window=64):
    """Indices where ``out`` jumps more than ``ref`` (its input) does nearby."""
    step_out = np.abs(np.diff(out))
    step_ref = np.abs(np.diff(ref))
    pad = np.pad(step_ref, window, mode="edge")
    local = np.lib.stride_tricks.sliding_window_view(pad, 2 * window + 1).max(axis=1)
    return np.where(step_out > 1.5 * local + 1e-4)[0]


def test_two_streams_instead_of_duplex_also_give_an_exact_copy(engine, rig):
    spec = StreamSpec(input="system", output="system", block=256, duplex=False)
    engine.send(cmd.Start(spec, chain="dry", margin_ms=40.0, adaptive=False))
    snap = wait_for(engine, running)
    assert snap.status.duplex is False
    rig.wire()
    time.sleep(0.5)  # the two streams start one after the other: let that settle
    delay, x, rec = measured_delay(rig, seconds=1.0)
    d = int(round(delay))
    half = len(x) // 2  # (a dropout while the streams line up would be in the first half)
    np.testing.assert_array_equal(rec[d + half : d + len(x)], x[half:])
    # Measured on this JACK: one block less than reported (PortAudio reports no
    # device latency for either stream); the start skew itself is measured.
    block_ms = 1000 * 256 / RATE
    assert abs(delay / MS - engine.snapshot().latency.total_ms) <= block_ms + 0.01


def fit_residual(y, ref, block=240):
    """Per block where ``ref`` sounds: relative error of ``y ~ (a + b t) * ref``.

    A gain that moves linearly within the block (a fade) fits; a jump in
    time (a change of latency) or a click does not.
    """
    t = np.linspace(-1.0, 1.0, block)
    out = []
    for i in range(0, len(ref) - block, block):
        r, v = ref[i : i + block], y[i : i + block]
        if np.dot(r, r) < 1e-3 * block:
            continue
        basis = np.stack([r, t * r], axis=1)
        coef, *_ = np.linalg.lstsq(basis, v, rcond=None)
        out.append(np.linalg.norm(v - basis @ coef) / np.linalg.norm(r))
    return np.array(out)


def test_fifty_switches_during_a_tone_are_click_free_at_constant_latency(engine, rig):
    engine.send(cmd.Start(SPEC, chain="codec,vocoder", chunk=2, margin_ms=30.0, adaptive=False))
    wait_for(engine, running)
    rig.wire()
    n = int(3.5 * RATE)
    x = (0.3 * np.sin(2 * np.pi * 300.0 * np.arange(n) / RATE)).astype(np.float32)
    switches = [
        cmd.SelectSlot("A"), cmd.SelectSlot("B"), cmd.SetBypass("codec", True),
        cmd.SetMasterBypass(True), cmd.SetMasterBypass(False), cmd.SetBypass("vocoder", True),
        cmd.SetBypass("codec", False), cmd.SetBypass("vocoder", False),
        cmd.AssignTap("A", "codec"), cmd.SelectSlot("A"),
    ]  # fmt: skip
    heard = set()

    def switcher():
        time.sleep(0.4)
        for k in range(50):
            engine.send(switches[k % len(switches)])
            time.sleep(0.04)
            heard.add(engine.snapshot().heard_tap)

    engine.send(cmd.Capture(4.5))
    thread = threading.Thread(target=switcher)
    thread.start()
    rec = rig.play_record(x, extra=0.6)
    thread.join()
    snap = engine.snapshot()
    cin, cout = engine.capture_result()
    assert heard == {"dry", "codec", "vocoder", "codec+vocoder"}
    # The engine's own output: no click anywhere, always the input at the chain latency.
    align = int(round(snap.latency.chain_ms * MS))
    ref = np.concatenate([np.zeros(align, np.float32), cin])[: len(cout)]
    live = slice(align + 2000, len(cout) - 100)
    assert clicks(cout[live], ref[live]).size == 0, "click in the engine output"
    resid = fit_residual(cout[live], ref[live])
    assert resid.size > 500 and np.median(resid) < 0.01 and np.max(resid) < 0.1
    # End to end, after the last switch: the tone at the reported total latency.
    lat = int(round(snap.latency.total_ms * MS))
    tail = slice(n - int(0.4 * RATE), n - 100)
    assert np.median(fit_residual(rec[lat:][tail], x[tail])) < 0.01


def test_chunk_size_change_applies_live(engine, rig):
    engine.send(cmd.Start(SPEC, chain="codec,vocoder", chunk=5, margin_ms=15.0, adaptive=False))
    before = wait_for(engine, running)
    rig.wire()
    d1, _, _ = measured_delay(rig, engine=engine)
    assert abs(d1 / MS - before.latency.total_ms) <= 1.0
    engine.send(cmd.SetChunk(2))
    after = wait_for(
        engine,
        lambda s: s.status.chunk == 2 and s.latency.total_ms < before.latency.total_ms,
    )
    time.sleep(0.3)  # new stages warm, crossfade done
    d2, _, _ = measured_delay(rig, seed=2, engine=engine)
    assert abs(d2 / MS - after.latency.total_ms) <= 1.0
    assert (d1 - d2) == pytest.approx(3 * 320 * 3, abs=2)  # 3 frames of 20 ms fewer
    assert engine.snapshot().state == "running"


def test_loopback_measurement_matches_the_reported_latency(engine, rig, jack_server):
    engine.send(cmd.Start(SPEC, chain="codec,vocoder", chunk=1, margin_ms=15.0, adaptive=False))
    wait_for(engine, running)
    rig.loopback()  # a virtual cable: the engine's output straight back into its input
    delay, quality, _ = engine.measure(make_probe(RATE), seconds=1.0)
    assert delay is not None, f"probe not found (quality {quality:.1f})"
    snap = wait_for(engine, lambda s: s.latency.measured_ms is not None)
    assert snap.latency.measured_ms == pytest.approx(1000.0 * delay / RATE)
    # JACK breaks the cycle out -> in of one client with one period of delay: the
    # "cable" here is one period long, a length no device reports.
    cable_ms = 1000.0 * jack_server.period / RATE
    assert abs(snap.latency.measured_ms - (snap.latency.total_ms + cable_ms)) <= 1.0


def test_margin_grows_after_underruns_until_the_engine_keeps_up(rig):
    engine = Engine(factory=toy_factory(codec_sleep_ms=8.0), options=EngineOptions())
    try:
        # codec steps of 8 ms every 15 ms of audio, and no margin beyond one block
        engine.send(cmd.Start(SPEC, chain="codec", margin_ms=0.0))
        first = wait_for(engine, running)
        # The ring starts at one block; each underrun adds a block (or 5 ms). The
        # first growth may come before the first "running" snapshot, so compare
        # with the block, not with that snapshot.
        block_ms = 1000.0 * first.status.device_block / RATE
        settled = wait_for(engine, lambda s: s.latency.ring_ms >= block_ms + 5.0, timeout=5.0)
        assert settled.xruns.ring_underrun > 0
        time.sleep(1.0)
        settled = engine.snapshot()
        time.sleep(1.0)
        later = engine.snapshot()
        # keeping up now (bar a rare stall of this busy machine), at a bounded margin
        assert later.xruns.ring_underrun - settled.xruns.ring_underrun <= 1
        assert later.latency.ring_ms < 60.0
        rig.wire()
        before = engine.snapshot().latency.total_ms
        delay, _, _ = measured_delay(rig)
        after = engine.snapshot().latency.total_ms
        # a stall of this busy machine may grow the margin once more while the probe
        # plays (seen in CI: reported 32.9 ms after, measured 27.5): the probe then
        # meets the figure reported before the growth, not the one after it
        assert min(abs(delay / MS - t) for t in (before, after)) <= 1.0
    finally:
        engine.close()


def test_bad_device_and_rate_are_reported_and_the_engine_stays_usable(engine, jack_server):
    engine.send(cmd.Start(StreamSpec(input="no such mic", output="system"), chain="dry"))
    snap = wait_for(engine, lambda s: s.state == "error")
    assert "no input device matches 'no such mic'" in snap.error
    engine.send(cmd.Start(StreamSpec(input="system", output="system", rate=44100), chain="dry"))
    snap = wait_for(engine, lambda s: s.state == "error" and "44100" in (s.error or ""))
    assert "refuses" in snap.error
    engine.send(cmd.Start(SPEC, chain="dry"))
    wait_for(engine, running)
    engine.send(cmd.Stop())
    assert wait_for(engine, lambda s: s.state == "stopped").error is None


@pytest.mark.slow
def test_killed_audio_server_is_reported_and_the_engine_recovers(jack_server):
    server = JackServer()  # a server of its own: this test kills it
    server.start()
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    eng = Engine(factory=toy_factory(), options=EngineOptions(retry_s=0.3))
    try:
        eng.send(cmd.Start(SPEC, chain="dry", margin_ms=40.0))
        wait_for(eng, running)
        server.kill()
        snap = wait_for(eng, lambda s: s.state == "error", timeout=5.0)
        assert "audio server" in snap.error
        time.sleep(1.0)  # failed restarts while the server is away; nothing hangs
        snap = eng.snapshot()
        assert snap.state == "error" and snap.restarts >= 1
        server.start()  # same name: JACK reclaims the dead server's slot
        snap = wait_for(eng, running, timeout=15.0)
        rig = JackRig(server.name)
        try:
            rig.wire()
            delay, x, rec = measured_delay(rig)
            d = int(round(delay))
            np.testing.assert_array_equal(rec[d : d + len(x)], x)
        finally:
            rig.close()
    finally:
        eng.close()
        server.stop()
        os.environ["JACK_DEFAULT_SERVER"] = jack_server.name


def test_limiter_activity_is_published_in_the_snapshot(engine, rig):
    # Given the dry path running with a +20 dB output gain
    engine.send(cmd.Start(SPEC, chain="dry", margin_ms=40.0, adaptive=False))
    wait_for(engine, running)
    rig.wire()
    engine.send(cmd.SetGain("output", 20.0))
    # When a loud tone plays, the limiter is reported as reducing the output
    t = np.arange(int(0.8 * RATE)) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    seen = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.append(engine.snapshot().limiter_reduction_db or 0.0)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    rec = rig.play_record(tone, extra=0.3)
    done.set()
    watcher.join()
    assert max(seen) > 10.0  # 0.5 * 10 = 5x over the ceiling: about 15 dB of reduction
    assert np.max(np.abs(rec)) <= 1.0
