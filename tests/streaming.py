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
