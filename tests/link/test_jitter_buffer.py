"""The jitter buffer driven by made-up arrivals: order, duplicates, late packets, adaptation."""

import numpy as np

from engine.link.jitter_buffer import (
    ACCEPTED,
    DUPLICATE,
    IDLE,
    INSERTED,
    LATE,
    MISSING,
    OVERFLOW,
    PACKET,
    JitterBuffer,
)

F = 0.015


def _ticks(jb, start, n):
    return [jb.pop(start + k * F) for k in range(n)]


def test_reordered_packets_play_in_order():
    jb = JitterBuffer(F, min_delay_s=3 * F)
    for seq in (10, 12, 11, 13):
        assert jb.push(seq, f"p{seq}", 0.001 * seq) == ACCEPTED
    assert jb.pop(0.0).kind == IDLE  # before the starting delay
    played = _ticks(jb, 3 * F + 0.02, 4)
    assert [(p.kind, p.seq, p.item) for p in played] == [
        (PACKET, s, f"p{s}") for s in (10, 11, 12, 13)
    ]
    assert jb.stats.reordered == 1 and jb.stats.played == 4 and jb.stats.lost == 0


def test_duplicates_counted_once_played_once():
    jb = JitterBuffer(F, min_delay_s=F)
    assert jb.push(0, "a", 0.0) == ACCEPTED
    assert jb.push(0, "a", 0.001) == DUPLICATE
    jb.push(1, "b", F)
    assert jb.pop(F).item == "a"
    assert jb.push(0, "a", F + 0.001) == DUPLICATE  # already played
    assert jb.pop(2 * F).item == "b"
    assert jb.stats.duplicates == 2 and jb.stats.played == 2 and jb.stats.late == 0


def test_late_packet_counted_not_lost_and_not_played():
    jb = JitterBuffer(F, min_delay_s=F, adaptive=False)
    jb.push(0, "a", 0.0)
    jb.push(2, "c", 2 * F)
    out = _ticks(jb, F, 3)
    assert [p.kind for p in out] == [PACKET, MISSING, PACKET]
    assert jb.stats.lost == 1
    assert jb.push(1, "b", 3 * F) == LATE
    assert jb.stats.late == 1 and jb.stats.lost == 0 and jb.buffered == 0


def test_missing_frame_lets_concealment_peek_ahead():
    jb = JitterBuffer(F, min_delay_s=2 * F, adaptive=False)
    for seq in (0, 2, 3):
        jb.push(seq, seq, seq * F)
    _ticks(jb, 2 * F, 1)
    miss = jb.pop(3 * F)
    assert miss.kind == MISSING and miss.seq == 1 and jb.peek(2) == 2


def test_target_delay_follows_jitter():
    rng = np.random.default_rng(0)
    delays = {}
    for jitter in (0.0, 0.06):
        jb = JitterBuffer(F, min_delay_s=F)
        late = 0
        for k in range(600):  # 9 s: a packet sent every frame, held 0..jitter
            if jb.push(k, k, k * F + rng.random() * jitter) == LATE:
                late += 1
            jb.pop(k * F + 0.0001)  # the playout clock ticks too
        delays[jitter] = jb.stats.delay_s
        if jitter:
            assert jb.stats.inserted > 0
            assert late < 30  # only while it learnt the jitter
            assert jb.stats.late == late
    assert delays[0.0] < 2 * F
    assert 0.05 < delays[0.06] < 0.06 + 3 * F


def test_delay_shrinks_when_jitter_goes():
    jb = JitterBuffer(F, min_delay_s=F, window=50, settle_s=0.1)
    rng = np.random.default_rng(1)
    for k in range(300):
        jb.push(k, k, k * F + rng.random() * 0.1)
        jb.pop(k * F)
    high = jb.stats.delay_s
    for k in range(300, 700):
        jb.push(k, k, k * F)  # no jitter any more
        jb.pop(k * F + 0.1)
    assert jb.stats.skipped > 0 and jb.stats.delay_s < high - 2 * F
    assert jb.stats.late == 0


def test_inserted_frames_do_not_consume_packets():
    jb = JitterBuffer(F, min_delay_s=F)
    jb.push(0, 0, 0.0)
    assert jb.pop(F).kind == PACKET
    assert jb.pop(2 * F).kind == MISSING
    assert jb.push(1, 1, 2 * F + 0.05) == LATE  # 50 ms late: the target grows
    jb.push(2, 2, 2 * F + 0.051)
    jb.push(3, 3, 3 * F + 0.05)
    out = [jb.pop(3 * F + 0.06 + k * F) for k in range(5)]
    assert [p.kind for p in out[:3]] == [INSERTED] * 3  # the delay grows by three frames
    assert [p.item for p in out if p.kind == PACKET] == [2, 3]
    assert jb.stats.late == 1 and jb.stats.lost == 0


def test_overflow_bounded():
    jb = JitterBuffer(F, max_delay_s=0.1)
    results = [jb.push(k, k, 0.0) for k in range(1000)]
    assert results.count(ACCEPTED) == jb.capacity == jb.buffered
    assert results.count(OVERFLOW) == 1000 - jb.capacity
    assert jb.push(10**9, 0, 0.0) == OVERFLOW


def test_stream_end_is_not_loss_and_restarts():
    jb = JitterBuffer(F, min_delay_s=F, idle_s=0.2)
    for k in range(5):
        jb.push(k, k, k * F)
    _ticks(jb, F, 20)  # 5 packets, then 15 ticks with nothing
    assert jb.stats.lost == 0 and jb.stats.played == 5
    jb.push(1000, "new", 2.0)
    assert jb.pop(2.0).kind == IDLE
    p = jb.pop(2.0 + F)
    assert (p.kind, p.item) == (PACKET, "new") and jb.stats.streams == 2
