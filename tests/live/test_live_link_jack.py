"""The codec link in the live engine, on a real JACK server and real UDP sockets on 127.0.0.1.

The engine runs in the test process on the JACK dummy server (toy stages for
its own taps; the link's ends are the real codec and Opus); its peer is a
``streamvox link send`` / ``receive`` process or the engine itself. Nothing
is timed tightly: every wait allows for a 2-core machine twice as slow.
"""

import socket
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from engine.audio.stream import StreamSpec
from engine.live import control as cmd
from engine.live.engine import Engine, EngineOptions
from tests.audio.jack_rig import RATE
from tests.audio.toy_stages import toy_factory
from tests.link.link_rig import Receiver, streamvox, wait_for_line
from tests.live.test_live_jack import wait_for

pytest.importorskip("opuslib_next")
SPEC = StreamSpec(input="system", output="system", block=256)
TONE_HZ = 440.0


def tone(seconds: float, rate: int, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def tone_share(x: np.ndarray, rate: int) -> float:
    """The share of ``x``'s energy within 40 Hz of the tone (1: a pure tone, ~0: none)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    near = np.abs(freqs - TONE_HZ) < 40.0
    return float(spectrum[near].sum() / (spectrum.sum() + 1e-20))


@pytest.fixture
def engine(jack_server):
    eng = Engine(factory=toy_factory(), options=EngineOptions(retry_s=0.3))
    yield eng
    eng.close()


def listening_port(engine) -> int:
    snap = wait_for(engine, lambda s: s.link is not None and s.link.listening_on, timeout=60)
    return int(snap.link.listening_on.rsplit(":", 1)[1])


def test_engine_plays_what_a_link_sender_sends_as_the_link_tap(engine, tmp_path):
    # Given the engine listening for Opus with the link tap heard on slot B
    engine.send(cmd.AssignTap("B", "link"))
    engine.send(cmd.LinkListen(0, chain="opus"))
    engine.send(cmd.Start(SPEC, chain="dry"))
    wait_for(engine, lambda s: s.state == "running" and s.heard_tap == "link", timeout=60)
    port = listening_port(engine)
    assert engine.snapshot().link.rejected == 0

    # When a separate process sends a 2 s tone through 10 % simulated loss
    wav = tmp_path / "tone.wav"
    sf.write(wav, tone(2.0, 16_000), 16_000)
    sender = streamvox("link", "send", "--to", f"127.0.0.1:{port}", str(wav),
                       "--chain", "opus", "--loss", "10", "--seed", "3")  # fmt: skip
    wait_for_line(sender, "sending to:")
    _, out = engine.capture(2.5, timeout=60)
    report, err = sender.communicate(timeout=60)
    assert sender.returncode == 0, err

    # Then the engine's output is the tone, and its stats count what was sent
    assert tone_share(out[out.shape[0] // 2 :], RATE) > 0.5
    assert np.sqrt(np.mean(out**2)) > 0.02
    datagrams = int(report.split("datagrams:")[1].split()[0])
    simulated = int(report.split("simulated:")[1].split()[0])
    assert simulated > 0
    # (the frames concealed after its last packet are not losses once the stream has ended)
    snap = wait_for(engine, lambda s: s.link.datagrams_in == datagrams and not s.link.playing, 20)
    link = snap.link
    assert link.listening_on == f"127.0.0.1:{port}" and link.receive_chain == "opus"
    assert link.received + link.late == datagrams and link.rejected == 0
    assert 0 < link.lost <= simulated  # trailing losses end the stream, not counted
    assert link.delay_ms > 0.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_engine_sends_its_live_input_through_the_codec_to_a_receiver(engine, rig, tmp_path):
    # Given a `streamvox link receive` process and the engine sending its input (the codec)
    receiver = Receiver(tmp_path / "heard.wav", "--seconds", "6")
    engine.send(cmd.Start(SPEC, chain="dry"))
    wait_for(engine, lambda s: s.state == "running", timeout=60)
    engine.send(cmd.LinkSend(f"127.0.0.1:{receiver.port}", chain="codec"))
    wait_for(engine, lambda s: s.link is not None and s.link.sending_to, timeout=60)
    rig.wire()

    # When the engine's input plays a tone
    rig.play_record(tone(2.5, RATE), extra=0.2)
    stats = receiver.finish()

    # Then the receiver heard the tone through the codec (nothing simulated is lost; a busy
    # machine may still make the odd packet miss the receiver's one-frame starting delay)
    heard = sf.read(receiver.out, dtype="float32")[0]
    assert stats["received"] > 50 and stats["rejected"] == 0
    assert stats["lost"] <= 0.05 * stats["received"]
    loud = np.flatnonzero(np.abs(heard) > 0.05)
    assert loud.size > 16_000  # at least a second of it
    assert tone_share(heard[loud[0] : loud[-1]], 16_000) > 0.3
    snap = engine.snapshot()
    assert snap.link.sent >= stats["received"] and snap.link.send_chain == "codec"
    assert snap.link.payload_bps > 0


def test_engine_talks_to_itself_with_impairment_and_retunes_live(engine, rig):
    # Given the engine sending Opus to its own listening port, 20 % loss, link tap heard
    port = free_port()
    engine.send(cmd.AssignTap("B", "link"))
    engine.send(cmd.LinkListen(port, chain="opus"))
    engine.send(cmd.LinkSend(f"127.0.0.1:{port}", chain="opus", loss_pct=20, seed=1))
    engine.send(cmd.Start(SPEC, chain="dry"))
    wait_for(engine, lambda s: s.state == "running" and s.heard_tap == "link", timeout=60)
    snap = wait_for(engine, lambda s: s.link is not None and s.link.received > 20, timeout=60)
    assert snap.link.sending_to and snap.link.listening_on and snap.link.error is None
    rig.wire()

    # When a tone plays into it
    out = {}
    worker = threading.Thread(target=lambda: out.update(rec=rig.play_record(tone(2.0, RATE))))
    worker.start()
    worker.join(60)
    # Then it comes back through the link, and losses are counted on both ends
    rec = out["rec"]
    assert tone_share(rec, RATE) > 0.3 and np.sqrt(np.mean(rec**2)) > 0.02
    snap = wait_for(engine, lambda s: s.link.simulated_lost > 5 and s.link.lost > 5)
    sent_before = snap.link.sent
    assert snap.timings["link"].steps > 50  # its coding is timed like a stage's

    # When only the impairment changes, the stream goes on (no new stream, no more losses)
    engine.send(cmd.LinkSend(f"127.0.0.1:{port}", chain="opus", loss_pct=0, seed=1))
    lost = wait_for(engine, lambda s: s.link.sent > sent_before + 10).link.simulated_lost
    later = wait_for(engine, lambda s: s.link.sent > sent_before + 60).link
    assert later.simulated_lost == lost and later.sent > sent_before

    # When the link is stopped, the stats say so
    engine.send(cmd.LinkSend(None))
    engine.send(cmd.LinkListen(None))
    wait_for(engine, lambda s: s.link is None)


def test_the_automatic_margin_counts_the_links_coding_once_measured(engine):
    # Given the engine's link ends built (the codec to its own port) before a dry stream
    # with the automatic margin starts (sized for no stages: the floor)
    port = free_port()
    engine.send(cmd.LinkListen(port, chain="codec"))
    engine.send(cmd.LinkSend(f"127.0.0.1:{port}", chain="codec"))
    wait_for(engine, lambda s: s.link is not None and s.link.sending_to and s.link.listening_on)
    engine.send(cmd.Start(SPEC, chain="dry"))
    before = wait_for(engine, lambda s: s.state == "running" and s.status.margin_ms is not None)
    # When the link's coding time is measured (its first coding steps)
    while (snap := engine.snapshot()).link.coding_ms is None:
        before = snap  # the last look before it was known
        time.sleep(0.002)
    coding = snap.link.coding_ms
    options = EngineOptions()
    want = min(options.auto_margin_ceiling_ms, max(options.auto_margin_floor_ms, 3 * coding + 3))
    snap = wait_for(engine, lambda s: s.status.margin_ms >= want - 0.1, timeout=10)
    # Then the margin grew to what it is sized at with the link's cost counted, more than
    # the underruns meanwhile (a block or 5 ms each) would have grown it on their own
    per_underrun = max(256, 0.005 * RATE) * 1000 / RATE
    by_underruns = (snap.xruns.ring_underrun - before.xruns.ring_underrun) * per_underrun
    if before.status.margin_ms + by_underruns >= want:
        pytest.skip(f"{by_underruns:.0f} ms of underrun growth: too loaded to judge")
    assert snap.status.margin_ms > before.status.margin_ms + by_underruns
    assert coding > 0.0 and snap.link.error is None


def test_run_sends_to_itself_and_prints_link_stats(jack_server):
    from tests.live.test_cli_live import cli

    port = free_port()
    done = cli("run", "--input", "system", "--output", "system", "--chain", "dry",
               "--b", "link", "--link-listen", str(port), "--link-to", f"127.0.0.1:{port}",
               "--link-chain", "opus", "--loss", "20", "--seed", "2", "--seconds", "4",
               "--block", "256", timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"link listening on: 127.0.0.1:{port} (opus)" in done.stdout
    assert f"link sending to: 127.0.0.1:{port} (opus)" in done.stdout
    lines = [ln for ln in done.stdout.splitlines() if "[running]" in ln and "recv=" in ln]
    assert lines, done.stdout
    last = dict(w.split("=", 1) for w in lines[-1].split("link: ")[1].split() if "=" in w)
    assert int(last["sent"]) > 0 and int(last["recv"]) > 0 and int(last["lost"]) > 0
    assert last["rejected"] == "0" and "tap=link" in lines[-1]


def test_codec_and_opus_over_one_simulated_link_are_an_ab_pair(engine, rig):
    # Given A = the codec and B = Opus, each over the simulated link at 10 % loss
    engine.send(cmd.AssignTap("A", "simlink@codec"))
    engine.send(cmd.AssignTap("B", "simlink@opus"))
    engine.send(cmd.LinkSend(None, "opus", loss_pct=10, seed=1))  # sends nothing: sets the loss
    engine.send(cmd.Start(SPEC, chain="dry"))
    snap = wait_for(engine, lambda s: s.state == "running" and s.heard_tap == "simlink@opus", 90)
    assert set(snap.status.taps_running) >= {"simlink@codec", "simlink@opus"}
    assert snap.latency.chain_ms >= 100.0  # the fixed jitter-buffer delay, both taps
    rig.wire()
    # When a tone plays, each slot plays it back through its chain and the lossy link
    for slot, tap in (("B", "simlink@opus"), ("A", "simlink@codec")):
        engine.send(cmd.SelectSlot(slot))
        wait_for(engine, lambda s, tap=tap: s.heard_tap == tap, timeout=30)
        rec = rig.play_record(tone(2.0, RATE), extra=0.3)
        loud = np.flatnonzero(np.abs(rec) > 0.05)
        assert loud.size > RATE // 2, tap
        assert tone_share(rec[loud[0] : loud[-1]], RATE) > 0.3, tap
    # And the aligned latency did not move with the switch; both taps count their losses
    now = engine.snapshot()
    assert now.latency.chain_ms == snap.latency.chain_ms
    sims = {t.chain: t for t in now.link.simulated}
    assert set(sims) == {"codec", "opus"}
    assert all(t.frames > 100 and t.lost > 0 for t in sims.values())


def test_run_compares_codec_and_opus_over_a_simulated_link(jack_server):
    from tests.live.test_cli_live import cli

    done = cli("run", "--input", "system", "--output", "system", "--a", "simlink@codec",
               "--b", "simlink@opus", "--loss", "10", "--flip", "1", "--seconds", "3",
               "--block", "256", timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "A=simlink@codec B=simlink@opus" in done.stdout
    lines = [ln for ln in done.stdout.splitlines() if "[running]" in ln]
    assert {"tap=simlink@codec", "tap=simlink@opus"} <= {ln.split()[2] for ln in lines}, lines
    # nothing sent or listened: the metrics line counts what the simulated link lost
    last = lines[-1].split("link: sim ")[1]
    assert "codec lost=" in last and "opus lost=" in last and "sent=" not in lines[-1]
