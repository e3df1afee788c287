"""Causal log-mel front end of Streaming Vocos (50 Hz frames at 16 kHz).

Frame ``t`` covers input samples ``[hop*t - (n_fft-hop), hop*t + hop)``: the
stream is preceded by ``n_fft - hop`` zeros (704 for the seed's 1024/320), so
a frame only needs samples that have already arrived when its last hop ends.
That is what lets the streaming form (:class:`MelStreamer`) produce exactly
the offline frames, hop by hop.

Per frame: periodic Hann window, real FFT, magnitude
``sqrt(re^2 + im^2 + 1e-6)``, Slaney mel filterbank, ``log(clamp(min=1e-5))``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

_MAG_EPS = 1e-6
_LOG_FLOOR = 1e-5

# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = math.log(6.4) / 27.0


def periodic_hann(n_fft: int) -> torch.Tensor:
    """``torch.hann_window(n_fft, periodic=True)`` (float32), on the default device.

    It is computed on the CPU and then moved: on the ``meta`` device (the size
    check of :mod:`engine.models.file_limits`) torch would build it through its
    Python decompositions, which import ``torch._dynamo``, left out of the
    frozen app. Moving to ``meta`` keeps the shape and drops the values.
    """
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float32, device="cpu")
    return window.to(torch.get_default_device())


def hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney (Auditory Toolbox) mel value of each frequency in Hz."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    high = hz >= _MIN_LOG_HZ
    mel = np.where(
        high, _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP, mel
    )
    return mel


def mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    """Inverse of :func:`hz_to_mel_slaney`."""
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * _F_SP
    high = mel >= _MIN_LOG_MEL
    return np.where(high, _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL)), hz)


def slaney_mel_filterbank(
    sample_rate: int = 16000,
    n_fft: int = 1024,
    n_mels: int = 80,
    f_min: float = 0.0,
    f_max: float = 8000.0,
) -> np.ndarray:
    """Triangular mel filters with Slaney area normalisation: ``(n_mels, n_fft//2+1)``.

    Computed in float64 and returned as float32. Each filter rises linearly
    from the previous band edge to its centre and falls to the next edge
    (edges evenly spaced in Slaney mel), scaled by ``2 / bandwidth_hz`` so that
    every filter has the same area.
    """
    if sample_rate <= 0 or n_fft <= 0 or n_mels <= 0:
        raise ValueError("sample_rate, n_fft and n_mels must be positive")
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min}, f_max={f_max}"
        )
    fft_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_edges = np.linspace(hz_to_mel_slaney(f_min), hz_to_mel_slaney(f_max), n_mels + 2)
    edges_hz = mel_to_hz_slaney(mel_edges)
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


class CausalLogMel(nn.Module):
    """Causal log-mel spectrogram; its buffers are not part of any state dict.

    Offline: ``forward(x: (B, L))`` with ``L`` a multiple of ``hop`` gives
    ``(B, n_mels, L // hop)``. Streaming: :meth:`step` with an explicit
    ``(B, n_fft - hop)`` history tensor, or the :class:`MelStreamer` wrapper.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop: int = 320,
        n_mels: int = 80,
        f_min: float = 0.0,
        f_max: float | None = None,
    ) -> None:
        super().__init__()
        if not 0 < hop <= n_fft:
            raise ValueError(f"need 0 < hop <= n_fft, got hop={hop}, n_fft={n_fft}")
        self.n_fft = n_fft
        self.hop = hop
        self.n_mels = n_mels
        self.context = n_fft - hop
        f_max = sample_rate / 2 if f_max is None else f_max
        fb = slaney_mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
        fb_t = torch.from_numpy(fb).t().contiguous().to(torch.get_default_device())
        self.register_buffer("fb_t", fb_t, persistent=False)
        self.register_buffer("window", periodic_hann(n_fft), persistent=False)

    def frames_to_mel(self, padded: torch.Tensor) -> torch.Tensor:
        """Log-mel of every full frame of ``padded: (B, L_p)`` -> ``(B, n_mels, T)``.

        ``T = (L_p - n_fft) // hop + 1``; the caller supplies the left context.
        """
        frames = padded.unfold(-1, self.n_fft, self.hop) * self.window
        spec = torch.fft.rfft(frames, n=self.n_fft)
        mag = torch.sqrt(spec.real.square() + spec.imag.square() + _MAG_EPS)
        mel = torch.matmul(mag, self.fb_t)
        return torch.log(torch.clamp(mel, min=_LOG_FLOOR)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Offline causal log-mel: ``(B, L)`` -> ``(B, n_mels, L // hop)``."""
        self._check_length(x)
        if x.shape[-1] == 0:
            return x.new_zeros(x.shape[0], self.n_mels, 0)
        padded = torch.nn.functional.pad(x, (self.context, 0))
        return self.frames_to_mel(padded)

    def step(self, x_new: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """Streaming: ``hop*N`` new samples ``(B, hop*N)`` -> ``(B, n_mels, N)``.

        ``history: (B, n_fft - hop)`` holds the previous input samples (zeros
        at stream start) and is updated in place.
        """
        self._check_length(x_new)
        if x_new.shape[-1] == 0:
            return x_new.new_zeros(x_new.shape[0], self.n_mels, 0)
        padded = torch.cat((history, x_new), dim=-1)
        mel = self.frames_to_mel(padded)
        history.copy_(padded[:, -self.context :])
        return mel

    def new_history(self, batch_size: int = 1) -> torch.Tensor:
        """Start-of-stream history: ``(batch_size, n_fft - hop)`` zeros."""
        return self.window.new_zeros(batch_size, self.context)

    def _check_length(self, x: torch.Tensor) -> None:
        if x.dim() != 2:
            raise ValueError(f"expected audio of shape (B, L), got {tuple(x.shape)}")
        if x.shape[-1] % self.hop:
            raise ValueError(f"length {x.shape[-1]} is not a multiple of hop {self.hop}")


class MelStreamer:
    """Small streaming wrapper: keeps the last ``n_fft - hop`` samples as state."""

    def __init__(self, mel: CausalLogMel, batch_size: int = 1) -> None:
        self.mel = mel
        self.history = mel.new_history(batch_size)

    def reset(self) -> None:
        """Back to the start of a stream (zero history)."""
        self.history.zero_()

    def __call__(self, x_new: torch.Tensor) -> torch.Tensor:
        """``(B, hop*N)`` -> ``(B, n_mels, N)``, identical to the offline frames."""
        return self.mel.step(x_new, self.history)
