"""Amplitude prior: the STFT magnitude a fixed matrix recovers from a mel frame.

The pseudo-inverse of the Slaney filterbank maps a mel magnitude frame back
to linear-frequency bins. With the signal's own phase that magnitude alone
scores PESQ-WB 3.9-4.5 (``shared/docs/vocoder-diagnosis.md``), so a vocoder
head that only *corrects* it (FreeV, 2024) has far less to learn than one
that predicts the magnitude from scratch.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.dsp.mel import slaney_mel_filterbank

PRIOR_FLOOR = 1e-5


def synthesis_gain(n_fft: int, hop: int) -> float:
    """Factor from an analysis STFT magnitude to what the head's ISTFT needs.

    The head overlap-adds Hann-windowed frames without normalising by the
    window envelope; analysis and synthesis windows together sum to about
    ``sum(w^2) / hop`` (1.5 at 75% overlap), which this undoes.
    """
    window = np.hanning(n_fft + 1)[:-1]  # periodic Hann, as the head's
    return float(hop / np.sum(window**2))


def prior_matrix(sample_rate: int, n_fft: int, hop: int, n_mels: int) -> torch.Tensor:
    """``(n_mels, n_fft//2+1)``: ``mel_magnitude @ M`` is the head's prior magnitude."""
    fb = slaney_mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float64)
    pinv = np.linalg.pinv(fb)  # (n_bins, n_mels)
    return torch.from_numpy((pinv.T * synthesis_gain(n_fft, hop)).astype(np.float32))


def log_prior(log_mel: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Time-major log-mel ``(..., n_mels)`` -> log prior magnitude ``(..., n_bins)``."""
    return torch.log(torch.clamp(torch.matmul(torch.exp(log_mel), matrix), min=PRIOR_FLOOR))
