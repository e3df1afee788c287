"""The live engine's link ends (engine.link.live) on real UDP sockets, driven block by block."""

import time

import numpy as np
import pytest

from engine.chain import build_stages
from engine.link.live import TAP_HOP, LinkPort
from engine.live import control as cmd
from engine.live.taps import check_tap, needed_taps
from engine.stage import SAMPLE_RATE

pytest.importorskip("opuslib_next")
BLOCK = 80  # 5 ms at 16 kHz, as a 256-frame block at 48 kHz gives about


def ready(port: LinkPort, timeout: float = 60.0):
    """Poll until the port's ends are built; its stats."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = port.stats()
        if stats is not None and (stats.listening_on or stats.sending_to or stats.error):
            return stats
        time.sleep(0.01)
    raise AssertionError("the link's end was never built")


def run_pair(tx: LinkPort, rx: LinkPort, x: np.ndarray) -> np.ndarray:
    """Feed ``x`` to the sender and silence to the receiver, in real time; the link tap's output."""
    stage = rx.tap_stage()
    stage.reset()
    out = []
    t0 = time.monotonic()
    for k, i in enumerate(range(0, len(x), BLOCK)):
        tx.feed(x[i : i + BLOCK])
        time.sleep(max(0.0, t0 + (k + 1) * BLOCK / SAMPLE_RATE - time.monotonic()))
        rx.feed(np.zeros(BLOCK, np.float32))
        out.append(stage.process(np.zeros(BLOCK, np.float32)))
    return np.concatenate(out)


def test_two_ports_carry_a_tone_and_count_the_simulated_losses():
    rx, tx = LinkPort(), LinkPort()
    try:
        rx.apply("listen", cmd.LinkListen(0, chain="opus"))
        port = int(ready(rx).listening_on.rsplit(":", 1)[1])
        tx.apply("send", cmd.LinkSend(f"127.0.0.1:{port}", "opus", loss_pct=10, seed=4))
        assert ready(tx).sending_to == f"127.0.0.1:{port}"
        t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
        x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        y = run_pair(tx, rx, x)
        sent, heard = tx.stats(), rx.stats()
    finally:
        rx.close()
        tx.close()
    assert sent.sent == 150 and sent.simulated_lost > 5  # 3 s of 20 ms frames
    assert heard.datagrams_in == sent.datagrams_out == 150 - sent.simulated_lost
    assert heard.received == heard.datagrams_in and heard.rejected == 0 and heard.lost > 0
    assert np.sqrt(np.mean(y[-SAMPLE_RATE:] ** 2)) > 0.1  # the tone, through Opus and the ring


def test_the_link_tap_reads_the_ring_from_the_engine_clock_at_its_reset():
    port = LinkPort()
    port.feed(np.zeros(1000, np.float32))  # nothing listens: the ring plays silence
    stage = port.tap_stage()
    stage.reset()
    port._write(np.arange(1, 301, dtype=np.float32))  # as a tick would, past the clock
    port.feed(np.zeros(TAP_HOP, np.float32))
    first = stage.step(np.zeros(TAP_HOP, np.float32))
    assert first.tolist() == list(range(1, TAP_HOP + 1))  # from the clock at its reset on
    assert port.read(port.produced + 1, 4).tolist() == [0.0] * 4  # not played yet: silence


def test_bad_link_commands_fail_in_the_caller_and_a_taken_port_in_the_stats():
    with pytest.raises(ValueError, match="HOST:PORT"):
        cmd.LinkSend("nowhere")
    with pytest.raises(ValueError, match="loss"):
        cmd.LinkSend("127.0.0.1:5004", loss_pct=100)
    with pytest.raises(ValueError, match="sends one of"):
        cmd.LinkSend("127.0.0.1:5004", chain="codec+vocoder")
    with pytest.raises(ValueError, match="port"):
        cmd.LinkListen(70000)
    a, b = LinkPort(), LinkPort()
    try:
        a.apply("listen", cmd.LinkListen(0, chain="opus"))
        taken = int(ready(a).listening_on.rsplit(":", 1)[1])
        b.apply("listen", cmd.LinkListen(taken, chain="opus"))
        stats = ready(b)
        assert stats.listening_on is None and "cannot listen on 127.0.0.1" in stats.error
        assert "error: cannot listen" in stats.line()
    finally:
        a.close()
        b.close()


def test_link_is_a_live_tap_that_feeds_the_vocoder_but_has_no_offline_form():
    assert check_tap("link") == "link" and check_tap("link,vocoder") == "link+vocoder"
    assert needed_taps(["link+vocoder"]) == ("link", "link+vocoder")
    with pytest.raises(ValueError, match="only live"):
        build_stages("link")


def test_datagrams_that_waited_while_the_engine_was_stopped_are_dropped_as_stale():
    from engine.link.live import STALE_S

    rx, tx = LinkPort(), LinkPort()
    try:
        rx.apply("listen", cmd.LinkListen(0, chain="opus"))
        port = int(ready(rx).listening_on.rsplit(":", 1)[1])
        rx.feed(np.zeros(BLOCK, np.float32))  # a stream runs ...
        tx.apply("send", cmd.LinkSend(f"127.0.0.1:{port}", "opus"))
        ready(tx)
        for _ in range(10):  # ... then stops, while the peer sends 10 frames
            tx.feed(np.zeros(320, np.float32))
        time.sleep(STALE_S + 0.2)
        rx.feed(np.zeros(BLOCK, np.float32))  # the next stream's first block
        stats = rx.stats()
    finally:
        rx.close()
        tx.close()
    assert stats.datagrams_in == stats.rejected == 10 and stats.received == 0


def test_sliders_moved_while_the_sending_end_is_built_start_no_second_build():
    import threading

    port = LinkPort()
    try:
        port.apply("send", cmd.LinkSend("127.0.0.1:9", "codec"))  # loads the codec: takes a while
        port.apply("send", cmd.LinkSend("127.0.0.1:9", "codec", loss_pct=10))
        port.apply("send", cmd.LinkSend("127.0.0.1:9", "codec", loss_pct=20, seed=3))
        builds = [t for t in threading.enumerate() if t.name == "streamvox-link-send"]
        assert len(builds) <= 1
        assert ready(port).sending_to == "127.0.0.1:9"
        assert port._sender.sim.config == cmd.LinkSend(None, loss_pct=20, seed=3).impairment()
    finally:
        port.close()
