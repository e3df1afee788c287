"""RTPGHI phase for a vocoder head that predicts only magnitude (``phase == "rtpghi"``).

One :class:`~engine.dsp.pghi.RTPGHI` per stream in the batch, stepped frame
by frame, so a stream's phase depends only on the frames before it: the same
causal, look-ahead-free phase the ``pghi`` chain makes from the bare prior,
now made from the network's corrected magnitude.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.dsp.pghi import RTPGHI


class FramePhase:
    """Streaming phase maker: log-magnitude frames ``(B, T, F)`` -> phase ``(B, T, F)``."""

    def __init__(self, n_fft: int, hop: int, batch_size: int = 1) -> None:
        self.n_fft, self.hop = n_fft, hop
        self._rows = [RTPGHI(n_fft, hop) for _ in range(batch_size)]

    @property
    def batch_size(self) -> int:
        """Number of parallel streams."""
        return len(self._rows)

    def reset(self) -> None:
        """Start every stream afresh (first frame taken as stationary, RNG reseeded)."""
        for row in self._rows:
            row.reset()

    def __call__(self, log_mag: torch.Tensor) -> torch.Tensor:
        """Phase of each frame, in order; float32 on ``log_mag``'s device.

        ``log_mag`` is what the ISTFT will use (already clipped by the head).
        """
        b, t, _ = log_mag.shape
        if b != self.batch_size:
            raise ValueError(f"expected {self.batch_size} streams, got {b}")
        mag = np.exp(log_mag.detach().double().cpu().numpy())
        phase = np.empty(mag.shape, dtype=np.float32)
        for i, row in enumerate(self._rows):
            for k in range(t):
                phase[i, k] = row.step(mag[i, k])
        return torch.from_numpy(phase).to(log_mag.device)
