"""Feed a signal through a streaming processor in a repeating pattern of block sizes."""

from collections.abc import Sequence

import numpy as np


def stream(processor, x: np.ndarray, blocks: Sequence[int]) -> np.ndarray:
    """``processor.process`` over ``x`` cut into ``blocks[0], blocks[1], ...`` (cycled)."""
    out, pos, i = [], 0, 0
    while pos < len(x):
        b = blocks[i % len(blocks)]
        out.append(processor.process(x[pos : pos + b]))
        pos += b
        i += 1
    return np.concatenate(out)


def tone_in_noise(n: int, seed: int = 0, hz: float = 180.0) -> np.ndarray:
    """A 0.3-amplitude tone plus 0.05 white noise (float32): codec test input."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * hz * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
