"""RTPGHI phase for a vocoder head that predicts only magnitude (``phase == "rtpghi"``).

One :class:`~engine.dsp.pghi.RTPGHI` per stream in the batch, stepped frame
by frame, so a stream's phase depends only on the frames before it: the same
causal, look-ahead-free phase the ``pghi`` chain makes from the bare prior,
now made from the network's corrected magnitude.

With ``lookahead`` each frame waits for the next one (RTPGHI's centred time
difference): the frames played are one frame late, the stream's first
played frame is silence, and its output is one hop later than without.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.dsp.pghi import RTPGHI

#: The log-magnitude of the silent frame a look-ahead stream starts with (~1e-13).
SILENT_LOG_MAG = -30.0


class FramePhase:
    """Streaming phase maker: log-magnitude frames ``(B, T, F)`` -> phase ``(B, T, F)``."""

    def __init__(self, n_fft: int, hop: int, batch_size: int = 1, lookahead: bool = False) -> None:
        self.n_fft, self.hop = n_fft, hop
        self.lookahead = lookahead
        self._rows = [RTPGHI(n_fft, hop) for _ in range(batch_size)]
        self._held: list[np.ndarray | None] = [None] * batch_size

    @property
    def batch_size(self) -> int:
        """Number of parallel streams."""
        return len(self._rows)

    def reset(self) -> None:
        """Start every stream afresh (first frame taken as stationary, RNG reseeded)."""
        for row in self._rows:
            row.reset()
        self._held = [None] * self.batch_size

    def __call__(self, log_mag: torch.Tensor) -> torch.Tensor:
        """Phase of each frame, in order; float32 on ``log_mag``'s device (no look-ahead).

        ``log_mag`` is what the ISTFT will use (already clipped by the head).
        """
        if self.lookahead:
            raise ValueError("a look-ahead phase maker plays other frames: use frames()")
        b, t, _ = self._check(log_mag)
        mag = np.exp(log_mag.detach().double().cpu().numpy())
        phase = np.empty(mag.shape, dtype=np.float32)
        for i, row in enumerate(self._rows):
            for k in range(t):
                phase[i, k] = row.step(mag[i, k])
        return torch.from_numpy(phase).to(log_mag.device)

    def frames(self, log_mag: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The log-magnitude and phase frames to play now, as many as came in.

        Without look-ahead: ``log_mag`` itself and its phase. With: each
        stream's held frame and all but the last new one (the first call
        starts with a silent frame instead), each phased with its successor.
        """
        if not self.lookahead:
            return log_mag, self(log_mag)
        b, t, f = self._check(log_mag)
        new = log_mag.detach().cpu().numpy()
        played = np.empty((b, t, f), dtype=np.float32)
        phase = np.zeros((b, t, f), dtype=np.float32)
        for i, row in enumerate(self._rows):
            held = self._held[i]
            seq = new[i] if held is None else np.concatenate([held[None], new[i]])
            lead = t + 1 - len(seq)  # 1 at a stream's start: its silent frame
            played[i, :lead] = SILENT_LOG_MAG
            played[i, lead:] = seq[:-1]
            mag = np.exp(seq.astype(np.float64))
            for k in range(len(seq) - 1):
                phase[i, lead + k] = row.step(mag[k], mag[k + 1])
            self._held[i] = seq[-1].copy()
        device = log_mag.device
        return torch.from_numpy(played).to(device), torch.from_numpy(phase).to(device)

    def _check(self, log_mag: torch.Tensor) -> tuple[int, int, int]:
        b, t, f = log_mag.shape
        if b != self.batch_size:
            raise ValueError(f"expected {self.batch_size} streams, got {b}")
        return b, t, f
