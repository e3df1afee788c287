"""Mute the first samples a delayed stage produces, before its input exists.

A stage whose causal output ``r[n]`` approximates ``x[n - d]`` (a codec's
lookahead, a linear-phase filter's group delay) may still emit something in
``r[0:d]``: filter pre-ringing or codec start-up transients that belong to
no input sample. The aligned offline form ``r[d:]`` has no room for them, so
the stream mutes them; then ``process()`` equals ``offline()`` delayed by
the latency, as the stage contract requires.
"""

from __future__ import annotations

import numpy as np


class StartGate:
    """Zero the first ``delay`` samples that pass through it after a reset."""

    def __init__(self, delay: int) -> None:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self.delay = delay
        self._seen = 0

    def reset(self) -> None:
        """Start muting again from the next sample."""
        self._seen = 0

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """Pass ``(n,)`` samples, zeroing those still inside the first ``delay`` (in place)."""
        if self._seen < self.delay:
            y[: self.delay - self._seen] = 0.0
        self._seen += len(y)
        return y
