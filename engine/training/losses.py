"""Reconstruction losses that track perceived quality of speech.

- Multi-resolution STFT loss (spectral convergence + log magnitude): short
  FFTs see transients and hop-boundary clicks, long ones see harmonics.
- Multi-scale log-mel L1: weights frequencies the way hearing does.
- Waveform L1: a weak anchor on phase and level.

All take ``(B, L)`` float tensors (prediction, target) and return a scalar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16_000


def stft_magnitude(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """Magnitude STFT of ``x`` ``(B, L)`` -> ``(B, n_fft // 2 + 1, frames)``.

    Centred frames with zero padding (reflect padding fails on crops shorter
    than the FFT). A small floor keeps the gradient of sqrt finite at 0.
    """
    spec = torch.stft(
        x,
        n_fft,
        hop_length=hop,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return torch.sqrt(spec.real.square() + spec.imag.square() + 1e-7)


class MultiResolutionSTFTLoss(nn.Module):
    """Sum over resolutions of spectral convergence + L1 of log magnitudes."""

    def __init__(self, fft_sizes: Sequence[int] = (128, 256, 512, 1024)) -> None:
        super().__init__()
        if not fft_sizes or any(n < 8 for n in fft_sizes):
            raise ValueError(f"fft_sizes must be a non-empty list of sizes >= 8, got {fft_sizes}")
        self.fft_sizes = tuple(int(n) for n in fft_sizes)
        for n in self.fft_sizes:
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over resolutions of (spectral convergence + log-magnitude L1)."""
        total = pred.new_zeros(())
        for n in self.fft_sizes:
            window = getattr(self, f"window_{n}")
            p = stft_magnitude(pred, n, n // 4, window)
            t = stft_magnitude(target, n, n // 4, window)
            sc = torch.linalg.norm(t - p) / (torch.linalg.norm(t) + 1e-7)
            log_mag = F.l1_loss(torch.log(p), torch.log(t))
            total = total + sc + log_mag
        return total / len(self.fft_sizes)


def _hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = math.log(6.4) / 27.0
    lin = f / f_sp
    log = min_log_hz / f_sp + torch.log(torch.clamp(f, min=min_log_hz) / min_log_hz) / logstep
    return torch.where(f >= min_log_hz, log, lin)


def _mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return torch.where(
        m >= min_log_mel, min_log_hz * torch.exp(logstep * (m - min_log_mel)), f_sp * m
    )


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Triangular Slaney-scale filters with area normalisation, ``(n_mels, n_fft//2+1)``."""
    if n_mels < 1 or n_fft < 2 * n_mels:
        raise ValueError(f"need n_mels >= 1 and n_fft >= 2 * n_mels, got {n_fft}, {n_mels}")
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = _mel_to_hz(
        torch.linspace(
            float(_hz_to_mel(torch.tensor(0.0))),
            float(_hz_to_mel(torch.tensor(sample_rate / 2))),
            n_mels + 2,
            dtype=torch.float64,
        )
    )
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rise = (freqs[None] - lower) / (centre - lower)
    fall = (upper - freqs[None]) / (upper - centre)
    fb = torch.clamp(torch.minimum(rise, fall), min=0.0)
    fb = fb * (2.0 / (upper - lower))
    return fb.float()


class MultiScaleMelLoss(nn.Module):
    """L1 between log-mel spectrograms at several (n_fft, n_mels) scales."""

    def __init__(
        self,
        scales: Sequence[tuple[int, int]] = ((256, 32), (512, 64), (1024, 80), (2048, 128)),
    ) -> None:
        super().__init__()
        if not scales:
            raise ValueError("scales must not be empty")
        self.scales = tuple((int(n), int(m)) for n, m in scales)
        for n, m in self.scales:
            self.register_buffer(f"fb_{n}", mel_filterbank(n, m), persistent=False)
            self.register_buffer(f"window_{n}", torch.hann_window(n), persistent=False)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over scales of L1 between log10 mel magnitudes."""
        total = pred.new_zeros(())
        for n, _ in self.scales:
            fb, window = getattr(self, f"fb_{n}"), getattr(self, f"window_{n}")
            p = torch.matmul(fb, stft_magnitude(pred, n, n // 4, window))
            t = torch.matmul(fb, stft_magnitude(target, n, n // 4, window))
            total = total + F.l1_loss(
                torch.log10(p.clamp(min=1e-5)), torch.log10(t.clamp(min=1e-5))
            )
        return total / len(self.scales)


def waveform_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute sample error."""
    return F.l1_loss(pred, target)


class ReconstructionLoss(nn.Module):
    """Weighted sum of mel, multi-resolution STFT and waveform losses (and PESQ's shape).

    ``pesq_weight`` > 0 adds :class:`~engine.training.pesq_loss.PesqShapedLoss`.

    ``forward`` returns ``(total, parts)`` where ``parts`` maps each term's
    name to its unweighted detached value (for logging).
    """

    def __init__(
        self,
        mel_weight: float = 15.0,
        stft_weight: float = 1.0,
        wave_weight: float = 1.0,
        pesq_weight: float = 0.0,
        fft_sizes: Sequence[int] = (128, 256, 512, 1024),
        mel_scales: Sequence[tuple[int, int]] = ((256, 32), (512, 64), (1024, 80), (2048, 128)),
    ) -> None:
        super().__init__()
        if min(mel_weight, stft_weight, wave_weight, pesq_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        self.weights = {"mel": mel_weight, "stft": stft_weight, "wave": wave_weight}
        self.mel = MultiScaleMelLoss(mel_scales)
        self.stft = MultiResolutionSTFTLoss(fft_sizes)
        self.pesq: nn.Module | None = None
        if pesq_weight > 0:  # off by default: the logs and losses of older runs stay as they were
            from engine.training.pesq_loss import PesqShapedLoss

            self.weights["pesq"] = pesq_weight
            self.pesq = PesqShapedLoss()

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total weighted loss and its parts, for ``(B, L)`` inputs."""
        parts = {
            "mel": self.mel(pred, target),
            "stft": self.stft(pred, target),
            "wave": waveform_l1(pred, target),
        }
        if self.pesq is not None:
            parts["pesq"] = self.pesq(pred, target)
        total = sum(self.weights[k] * v for k, v in parts.items())
        return total, {k: float(v.detach()) for k, v in parts.items()}
