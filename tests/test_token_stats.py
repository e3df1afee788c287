"""Token statistics are exact for known token sequences and cost nothing to keep."""

import math
import pickle
import tracemalloc

import numpy as np
import pytest

from engine.models.codec.checkpoint import seeded_codec
from engine.models.codec.stage import CodecStage
from engine.token_stats import TokenCounter, entropy_bits

HOP_S = 0.015


def counter(window_s=10.0, frames=20, size=128, books=2):
    return TokenCounter(books, size, frames, HOP_S, 7, window_s=window_s)


def hops_cycling(k, hops, frames=20, books=2, step=1):
    """Hops whose tokens cycle through entries 0..k-1 (each codebook shifted by ``step``)."""
    seq = np.arange(hops * frames) % k
    rows = [
        [(seq[h * frames : (h + 1) * frames] + b * step) % 128 for b in range(books)]
        for h in range(hops)
    ]
    return [np.stack(r) for r in rows]


@pytest.mark.parametrize("k", [1, 2, 5, 20, 128])
def test_uniform_tokens_over_k_entries_have_entropy_log2_k(k):
    c = counter()
    for codes in hops_cycling(k, hops=k * 4, step=0):  # k * 80 tokens: each entry 80 times
        c.add(codes)
    s = c.summary()
    for book in s.codebooks:
        assert book.used == k
        assert book.entropy_bits == pytest.approx(math.log2(k), abs=1e-12)
        assert book.counts.sum() == k * 80
        assert set(np.flatnonzero(book.counts)) == set(range(k))
        assert book.size == 128
    assert s.entropy_bitrate_bps == pytest.approx(s.tokens_per_s * math.log2(k))
    assert s.saving == pytest.approx(1 - math.log2(k) / 7)


def test_fixed_rate_figures_follow_the_geometry():
    s = counter().summary()
    assert s.tokens_per_hop == 40
    assert s.tokens_per_s == pytest.approx(40 / HOP_S)
    assert s.bitrate_bps == pytest.approx(40 * 7 / HOP_S)  # 18.67 kbit/s
    assert s.window_hops == 0 and s.tokens_total == 0 and s.saving == 0.0
    assert all(b.used == 0 and b.entropy_bits == 0.0 for b in s.codebooks)


def test_codebooks_are_counted_apart():
    c = counter(frames=4)
    c.add(np.array([[1, 1, 2, 2], [7, 7, 7, 7]]))
    first, second = c.summary().codebooks
    assert first.counts[1] == 2 and first.counts[2] == 2 and first.used == 2
    assert second.counts[7] == 4 and second.used == 1
    assert first.entropy_bits == pytest.approx(1.0) and second.entropy_bits == 0.0


def test_only_the_last_window_counts():
    c = counter(window_s=10 * HOP_S, frames=4)  # ten hops
    assert c.capacity == 10
    for _ in range(10):
        c.add(np.zeros((2, 4), np.int64))
    for _ in range(6):  # six hops of entry 3 push six hops of entry 0 out
        c.add(np.full((2, 4), 3))
    s = c.summary()
    assert s.window_hops == 10 and s.tokens_total == 16 * 8
    assert s.window_s == pytest.approx(10 * HOP_S)
    for book in s.codebooks:
        assert book.counts[0] == 16 and book.counts[3] == 24 and book.used == 2
        assert book.entropy_bits == pytest.approx(entropy_bits(np.array([0.4, 0.6])))
    for _ in range(10):
        c.add(np.full((2, 4), 3))
    assert [b.used for b in c.summary().codebooks] == [1, 1]


def test_reset_empties_the_window():
    c = counter(frames=4)
    c.add(np.ones((2, 4), np.int64))
    c.reset()
    s = c.summary()
    assert s.window_hops == 0 and s.tokens_total == 0
    assert all(b.counts.sum() == 0 for b in s.codebooks)


def test_summary_is_immutable_cached_and_picklable():
    c = counter(frames=4)
    c.add(np.ones((2, 4), np.int64))
    s = c.summary()
    assert c.summary() is s  # nothing new: the same object
    with pytest.raises(ValueError):
        s.codebooks[0].counts[0] = 5
    c.add(np.ones((2, 4), np.int64))
    assert c.summary() is not s and s.codebooks[0].counts[1] == 4  # the old one unchanged
    back = pickle.loads(pickle.dumps(c.summary()))
    np.testing.assert_array_equal(back.codebooks[0].counts, c.summary().codebooks[0].counts)


def test_counting_allocates_nothing_in_steady_state():
    c = counter()
    hops = hops_cycling(128, hops=50, step=3) * 20
    for codes in hops:  # fill the window, then keep evicting
        c.add(codes)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for codes in hops:
            c.add(codes)
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert now - base < 1024  # nothing kept
    # numpy's transient iterator state (a few kB) at most, never a copy of the ring (213 kB)
    assert peak - base < 16384


def test_the_codec_stage_counts_what_its_decoder_receives():
    stage = CodecStage(seeded_codec(0))
    rng = np.random.default_rng(0)
    sent = []
    for _ in range(12):
        hop = (0.1 * rng.standard_normal(stage.hop)).astype(np.float32)
        window_before = stage._buf.copy()
        stage.step(hop)
        stage._buf[:] = window_before  # replay the hop through encode_hop alone
        sent.append(stage.encode_hop(hop))
    s = stage.token_counter.summary()
    assert s.window_hops == 12 and s.tokens_total == 12 * stage.tokens_per_hop
    assert s.bitrate_bps == pytest.approx(stage.bitrate_bps)
    assert s.tokens_per_s == pytest.approx(stage.tokens_per_second)
    for b, book in enumerate(s.codebooks):
        want = np.bincount(np.concatenate([c[b] for c in sent]), minlength=128)
        np.testing.assert_array_equal(book.counts, want)
    stage.reset()
    assert stage.token_counter.summary().tokens_total == 0
