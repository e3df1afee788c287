import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audio.ring import RingBuffer


def test_fifo_order_across_wraparound():
    ring = RingBuffer(8, 2)
    out = np.empty((5, 2), np.float32)
    seen = []
    for k in range(10):
        block = np.arange(10 * k, 10 * k + 5, dtype=np.float32)[:, None].repeat(2, axis=1)
        assert ring.write(block) == 5
        assert ring.read(out) == 5
        seen.append(out[:, 0].copy())
    np.testing.assert_array_equal(
        np.concatenate(seen), np.concatenate([np.arange(10 * k, 10 * k + 5) for k in range(10)])
    )
    assert ring.overruns == 0 and ring.underruns == 0


@settings(max_examples=50, deadline=None)
@given(
    cap=st.integers(1, 40), ops=st.lists(st.tuples(st.booleans(), st.integers(0, 50)), max_size=40)
)
def test_matches_a_reference_queue(cap, ops):
    ring = RingBuffer(cap, 1)
    queue: list[float] = []
    counter = 0.0
    for is_write, n in ops:
        if is_write:
            data = np.arange(counter, counter + n, dtype=np.float32)
            counter += n
            stored = ring.write(data)
            expected = min(n, cap - len(queue))
            assert stored == expected
            queue.extend(data[:stored].tolist())
        else:
            out = np.full(n, -1.0, np.float32)
            got = ring.read(out)
            assert got == min(n, len(queue))
            np.testing.assert_array_equal(out[:got], queue[:got])
            del queue[:got]
        assert ring.readable() == len(queue)


def test_overrun_drops_newest_and_counts():
    ring = RingBuffer(4, 1)
    assert ring.write(np.arange(6, dtype=np.float32)) == 4
    assert ring.overruns == 1 and ring.overrun_frames == 2
    out = np.empty(4, np.float32)
    ring.read(out)
    np.testing.assert_array_equal(out, [0, 1, 2, 3])


def test_timed_read_plays_silence_and_late_frames_are_dropped():
    ring = RingBuffer(16, 1)
    ring.write(np.ones(3, np.float32))
    out = np.full(5, 9.0, np.float32)
    assert ring.read_timed(out) == 3
    np.testing.assert_array_equal(out, [1, 1, 1, 0, 0])
    assert ring.underruns == 1 and ring.underrun_frames == 2
    assert ring.fill() == -2
    # The two frames that were due during the underrun arrive late: skipped.
    ring.write(np.array([7, 8, 10, 11], np.float32))
    assert ring.stale_frames == 2
    assert ring.read(out) == 2
    np.testing.assert_array_equal(out[:2], [10, 11])


def test_timeline_is_kept_through_an_underrun():
    """Sample k written always comes out at read position k (latency constant)."""
    ring = RingBuffer(64, 1)
    ring.write_silence(8)  # prefill = latency
    produced = 0
    played = []
    for cycle in range(20):
        if cycle != 7:  # the producer misses one cycle, then catches up
            n = 4 if cycle != 8 else 8
            ring.write(np.arange(produced, produced + n, dtype=np.float32))
            produced += n
        out = np.empty(4, np.float32)
        ring.read_timed(out)
        played.append(out)
    played = np.concatenate(played)
    idx = np.arange(len(played))
    valid = played != 0
    np.testing.assert_array_equal(played[valid], idx[valid] - 8)


def test_shared_buffer_is_seen_by_a_second_view():
    buf = bytearray(RingBuffer.nbytes(32, 2) + 64)
    producer = RingBuffer(32, 2, buffer=buf, offset=64)
    consumer = RingBuffer(32, 2, buffer=buf, offset=64)
    producer.write(np.full((10, 2), 0.5, np.float32))
    out = np.empty((10, 2), np.float32)
    assert consumer.read(out) == 10
    assert np.all(out == 0.5)
    assert producer.readable() == 0


def test_invalid_sizes_raise():
    with pytest.raises(ValueError):
        RingBuffer(0)
    with pytest.raises(ValueError):
        RingBuffer(4, 0)
