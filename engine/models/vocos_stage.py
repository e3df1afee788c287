"""Streaming Vocos as a :class:`HopStage`: audio in, vocoded audio out, one chunk late."""

from __future__ import annotations

import numpy as np
import torch

from engine.models.vocos import VocosGenerator
from engine.stage import HopStage

MAX_CHUNK_FRAMES = 10


class VocosStage(HopStage):
    """Resynthesise the stream through log-mel + Vocos in chunks of ``chunk_frames`` frames.

    ``hop = 320 * chunk_frames`` samples (20 ms per frame at 16 kHz); the
    algorithmic latency is that one chunk. Output equals :meth:`offline` on
    the whole signal, delayed by ``latency``, for any block sizes.
    """

    name = "vocoder"

    def __init__(self, model: VocosGenerator, chunk_frames: int = 5) -> None:
        if type(chunk_frames) is not int or not 1 <= chunk_frames <= MAX_CHUNK_FRAMES:
            raise ValueError(
                f"chunk_frames must be an int in 1..{MAX_CHUNK_FRAMES}, got {chunk_frames!r}"
            )
        super().__init__(hop=model.config.hop * chunk_frames)
        self.sample_rate = model.config.sample_rate
        self.model = model.eval()
        self.chunk_frames = chunk_frames
        self._state = model.new_stream_state(batch_size=1)

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """``hop`` samples in -> the ``hop`` samples their frames release."""
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(hop_in, dtype=np.float32)).view(1, -1)
            return self.model.stream_step(x, self._state)[0].numpy()

    def reset_state(self) -> None:
        """Forget mel history, conv caches and the overlap-add tail."""
        self._state.reset()

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole signal ``(L,)`` -> ``(L,)`` via :meth:`VocosGenerator.audio_offline`."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        with torch.inference_mode():
            y = self.model.audio_offline(torch.from_numpy(x.copy()).view(1, -1))
        return y[0].numpy().astype(np.float32, copy=True)
