"""What the codec sends, counted: codebook usage and entropy over a sliding window.

The live codec stage hands every hop's tokens (what its decoder receives)
to a :class:`TokenCounter` on the engine thread. The counter keeps the last
``window_s`` seconds of tokens in a preallocated ring and a per-codebook
histogram that is updated in place (the hop that falls out of the window is
subtracted, the new one added), so counting allocates nothing and costs
the same every hop. :meth:`TokenCounter.summary` turns the histogram into
an immutable :class:`TokenStats` for the engine's snapshot: entries used,
order-0 entropy per codebook, and the bitrate an entropy coder of those
statistics would need against the fixed ``bits_per_token`` actually sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Seconds of audio the usage and entropy figures cover.
WINDOW_S = 10.0


@dataclass(frozen=True)
class CodebookUsage:
    """One codebook over the window. ``counts`` is read-only, one count per entry."""

    counts: np.ndarray
    used: int  # entries sent at least once
    entropy_bits: float  # empirical entropy of the entries sent, bits per token

    @property
    def size(self) -> int:
        """Entries in the codebook (128 for the seed)."""
        return int(self.counts.shape[0])


@dataclass(frozen=True)
class TokenStats:
    """The codec's token stream now: fixed-rate figures and window statistics."""

    codebooks: tuple[CodebookUsage, ...]
    window_s: float  # audio the statistics cover (grows to the window after a start)
    window_hops: int
    tokens_total: int  # tokens sent since the stage started or was reset
    tokens_per_hop: int
    tokens_per_s: float
    bits_per_token: int
    bitrate_bps: float  # what the decoder receives per second
    entropy_bitrate_bps: float  # what an order-0 entropy coder would need for the same tokens

    @property
    def saving(self) -> float:
        """Fraction of the bitrate an entropy coder could save (0 before any token)."""
        if self.bitrate_bps <= 0 or self.window_hops == 0:
            return 0.0
        return 1.0 - self.entropy_bitrate_bps / self.bitrate_bps


def entropy_bits(counts: np.ndarray) -> float:
    """Empirical entropy in bits of a histogram (0 for an empty one)."""
    total = float(counts.sum())
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return max(0.0, float(-(p * np.log2(p)).sum()))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class TokenCounter:
    """Sliding-window histogram of the tokens of each hop, per codebook.

    Single-threaded (the engine thread adds and summarises); steady-state
    :meth:`add` writes only into arrays made here.
    """

    def __init__(
        self,
        n_codebooks: int,
        codebook_size: int,
        frames_per_hop: int,
        hop_s: float,
        bits_per_token: int,
        window_s: float = WINDOW_S,
    ) -> None:
        self.n_codebooks, self.codebook_size = n_codebooks, codebook_size
        self.frames_per_hop, self.hop_s = frames_per_hop, hop_s
        self.bits_per_token = bits_per_token
        self.capacity = max(1, math.ceil(window_s / hop_s - 1e-9))
        # ring of flat histogram indices (codebook * size + entry), one row per hop
        self._ring = np.zeros((self.capacity, n_codebooks, frames_per_hop), np.int64)
        self._offsets = (np.arange(n_codebooks, dtype=np.int64) * codebook_size)[:, None]
        self._hist = np.zeros(n_codebooks * codebook_size, np.int64)
        self._pos = self._hops = self._total = self._version = 0
        self._cached: tuple[int, TokenStats] | None = None

    @property
    def tokens_per_hop(self) -> int:
        """Tokens counted per :meth:`add`."""
        return self.n_codebooks * self.frames_per_hop

    def add(self, codes: np.ndarray) -> None:
        """Count one hop's tokens ``(n_codebooks, frames_per_hop)``."""
        row = self._ring[self._pos]
        if self._hops == self.capacity:  # the oldest hop leaves the window
            np.subtract.at(self._hist, row.reshape(-1), 1)
        else:
            self._hops += 1
        np.add(codes, self._offsets, out=row)
        np.add.at(self._hist, row.reshape(-1), 1)
        self._pos = (self._pos + 1) % self.capacity
        self._total += self.tokens_per_hop
        self._version += 1

    def reset(self) -> None:
        """Empty the window (a new stream starts)."""
        self._hist.fill(0)
        self._pos = self._hops = self._total = 0
        self._version += 1

    def summary(self) -> TokenStats:
        """Immutable statistics of the window (the same object while nothing was added)."""
        if self._cached is not None and self._cached[0] == self._version:
            return self._cached[1]
        hist = self._hist.reshape(self.n_codebooks, self.codebook_size)
        books = tuple(self._usage(h) for h in hist)
        per_s = self.tokens_per_hop / self.hop_s
        per_book = per_s / self.n_codebooks
        stats = TokenStats(
            codebooks=books,
            window_s=self._hops * self.hop_s,
            window_hops=self._hops,
            tokens_total=self._total,
            tokens_per_hop=self.tokens_per_hop,
            tokens_per_s=per_s,
            bits_per_token=self.bits_per_token,
            bitrate_bps=per_s * self.bits_per_token,
            entropy_bitrate_bps=sum(per_book * b.entropy_bits for b in books),
        )
        self._cached = (self._version, stats)
        return stats

    @staticmethod
    def _usage(hist: np.ndarray) -> CodebookUsage:
        counts = _frozen(hist.copy())
        return CodebookUsage(counts, int(np.count_nonzero(counts)), entropy_bits(counts))
