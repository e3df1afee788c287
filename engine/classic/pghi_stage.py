"""The classical vocoder floor as a streaming stage: chain ``pghi`` (``pghi@N_FFT/HOP``).

:class:`~engine.classic.pghi_vocoder.PghiVocoder` returns, at step ``t``, the
samples ``n_fft - hop`` before the hop it was given. Step outputs come out
one hop later, so the latency is ``hop + (n_fft - hop) = n_fft``. Its first
``n_fft - hop`` output samples lie before the stream began (the first
frames' synthesis spreads over their whole window); a :class:`StartGate`
mutes them. The offline form runs a fresh vocoder over the whole signal,
followed by enough zeros for every frame that touches it, and drops those
first samples, so the stream equals it delayed by ``n_fft``, sample for
sample, whatever the block sizes.
"""

from __future__ import annotations

import math

import numpy as np

from engine.classic.pghi_vocoder import N_MELS, PghiVocoder
from engine.dsp.start_gate import StartGate
from engine.stage import HopStage

DEFAULT_N_FFT = 512
DEFAULT_HOP = 128


class PghiStage(HopStage):
    """Mel -> pinv magnitude -> RTPGHI -> overlap-add, one vocoder frame per hop."""

    def __init__(
        self, n_fft: int = DEFAULT_N_FFT, hop: int = DEFAULT_HOP, n_mels: int = N_MELS
    ) -> None:
        super().__init__(hop)
        self.n_fft, self.n_mels = n_fft, n_mels
        self.name = f"pghi@{n_fft}/{hop}"
        self.model_delay = n_fft - hop
        self.vocoder = PghiVocoder(n_fft, hop, n_mels)
        self._gate = StartGate(self.model_delay)

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """One mel frame in, one hop of finished overlap-add out."""
        return self._gate(self.vocoder.step(hop_in))

    def reset_state(self) -> None:
        """Fresh mel history, phase state and overlap buffer; mute the start again."""
        self.vocoder.reset()
        self._gate.reset()

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole-signal synthesis with a fresh vocoder, aligned with ``x``."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        n, delay = x.shape[0], self.model_delay
        steps = math.ceil((n + delay) / self.hop)
        padded = np.zeros(steps * self.hop, np.float32)
        padded[:n] = x
        vocoder = PghiVocoder(self.n_fft, self.hop, self.n_mels)
        hops = padded.reshape(steps, self.hop)
        out = np.concatenate([vocoder.step(h) for h in hops]) if steps else padded
        return out[delay : delay + n]
