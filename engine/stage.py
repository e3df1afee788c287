"""The streaming-stage contract shared by every processing block.

A stage turns a mono float32 stream at ``sample_rate`` into another one of
the same length. Internally it works in fixed steps of ``hop`` samples; the
FIFO here adapts any block size to that hop. The price is a constant delay:

    stream_out[n] == offline_out[n - latency]        (zeros for n < latency)

whatever block sizes ``process`` is fed with. ``offline_out`` is what the
stage's offline form (``offline()``) gives on the whole signal. Tests prove
this identity for every stage, which is what makes live output, ``process``
output and A/B alignment agree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

SAMPLE_RATE = 16_000
#: Vocoder chunk: mel frames per vocoder step, the range every front end offers and checks.
MIN_CHUNK, MAX_CHUNK = 1, 10
#: The chunk everywhere unless asked otherwise: two frames (16 ms with the
#: default vocoder's 8 ms frames). One frame saves 8 ms but wakes the engine
#: every 8 ms: on a busy 2-core machine a busy window then cost dropouts (CI,
#: 2026-12-07); pick chunk 1 in the app for the lowest latency.
DEFAULT_CHUNK = 2
#: One precision vocabulary for both model stages: ``reference`` runs the plain
#: PyTorch model; ``fp32`` (both), ``fp16``, ``bf16``, ``int8`` (the vocoder)
#: run the inference-only fast paths (see ``engine.chain.PRECISIONS``).
REFERENCE = "reference"


def check_chunk(chunk: object, what: str = "chunk") -> int:
    """``chunk`` if it is an int in ``MIN_CHUNK..MAX_CHUNK``, else a ValueError naming ``what``."""
    if type(chunk) is not int or not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise ValueError(f"{what} must be an int in {MIN_CHUNK}..{MAX_CHUNK} frames, got {chunk!r}")
    return chunk


class HopStage(ABC):
    """Base class: fixed-hop processing behind a sample-exact FIFO.

    Subclasses implement :meth:`step` (exactly ``hop`` samples in, ``hop``
    out), :meth:`reset_state` and :meth:`offline`. ``model_delay`` is any
    extra delay the model itself adds on top of the hop (0 for our models:
    their output is aligned to their input).
    """

    name: str = "stage"
    sample_rate: int = SAMPLE_RATE
    model_delay: int = 0
    #: True for a stage that makes its whole tap from the input (a fused pair,
    #: :class:`engine.series_stage.SeriesStage`), not from a parent tap's output.
    whole_path: bool = False

    def __init__(self, hop: int) -> None:
        if hop <= 0:
            raise ValueError(f"hop must be positive, got {hop}")
        self.hop = hop
        self._in = np.zeros(hop, dtype=np.float32)
        self._out = np.zeros(hop, dtype=np.float32)
        self._fill = 0

    @property
    def latency(self) -> int:
        """Algorithmic latency in samples at ``sample_rate`` (hop + model delay)."""
        return self.hop + self.model_delay

    @abstractmethod
    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """Process exactly ``hop`` new samples; return ``hop`` output samples."""

    @abstractmethod
    def reset_state(self) -> None:
        """Forget all model state (called by :meth:`reset`)."""

    @abstractmethod
    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole-signal form: ``len(x)`` samples in, ``len(x)`` out, no delay."""

    def parts(self) -> tuple[HopStage, ...]:
        """The stages that step inside this one (itself; both halves of a fused pair)."""
        return (self,)

    def reset(self) -> None:
        """Return to the start-of-stream state."""
        self._in.fill(0.0)
        self._out.fill(0.0)
        self._fill = 0
        self.reset_state()

    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Push any number of samples; get as many back, delayed by ``latency``.

        ``out`` may be a preallocated array of ``len(block)`` to avoid allocation.
        """
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if out is None:
            out = np.empty_like(block)
        pos = 0
        n = block.shape[0]
        while pos < n:
            take = min(self.hop - self._fill, n - pos)
            sl = slice(self._fill, self._fill + take)
            out[pos : pos + take] = self._out[sl]
            self._in[sl] = block[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == self.hop:
                self._out[:] = self.step(self._in)
                self._fill = 0
        return out


class DryStage(HopStage):
    """Identity stage: useful as the dry reference and for testing the FIFO."""

    name = "dry"

    def __init__(self, hop: int = 1) -> None:
        super().__init__(hop)

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """Return the input unchanged."""
        return hop_in

    def reset_state(self) -> None:
        """Nothing to forget."""

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Return a float32 copy of ``x``."""
        return np.asarray(x, dtype=np.float32).copy()
