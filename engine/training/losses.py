"""Reconstruction losses that track perceived quality of speech.

- Multi-resolution STFT loss (spectral convergence + log magnitude): short
  FFTs see transients and hop-boundary clicks, long ones see harmonics.
- Multi-scale log-mel L1: weights frequencies the way hearing does.
- Waveform L1: a weak anchor on phase and level.
- PESQ-shaped loudness disturbance (:class:`PesqShapedLoss`, off unless weighted).

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


# --- the PESQ-shaped loss ------------------------------------------------------
#: Zwicker's loudness exponent, as in P.862.
ZWICKER_POWER = 0.23
#: Hearing threshold per band, relative to the reference's mean band power
#: (speech at a comfortable level sits ~60-70 dB above the threshold).
THRESHOLD_DB = -60.0
#: Fraction of the smaller loudness within which a difference is masked.
MASK_FRACTION = 0.25
#: The asymmetry factor's exponent and its floor / ceiling (P.862: 1.2, 3, 12).
ASYM_POWER, ASYM_FLOOR, ASYM_CEIL = 1.2, 3.0, 12.0
#: Asymmetry's additive constant, relative to the reference's mean band power.
ASYM_OFFSET_DB = -40.0
#: The power over frames (P.862 takes L6 within ~320 ms, then L2 across them).
FRAME_POWER = 4.0
#: The weights PESQ's MOS mapping gives the two disturbances (4.5 - 0.1 d - 0.0309 a).
SYM_WEIGHT, ASYM_WEIGHT = 0.1, 0.0309


class PesqShapedLoss(nn.Module):
    """``(pred, target)`` ``(B, L)`` -> scalar: 0.1 d_sym + 0.0309 d_asym, PESQ's shape.

    The mel and STFT losses compare log magnitudes, which weigh an error 60 dB
    below the speech as much as one in a formant. PESQ does not: it compares
    *loudness* (band power compressed by Zwicker's law, exponent 0.23, zero
    below the hearing threshold), forgives a difference smaller than a quarter
    of the quieter loudness (masking), weighs added energy more than missing
    energy (the asymmetry factor), and sums bands with an L2 norm and frames
    with a high power, so that the worst moments count most. This class does
    the same in a few lines, written from the standard's description (not a
    port of it), to test whether training towards that shape moves the
    measured PESQ-WB of a codec (``engine/training/README.md`` has the
    equal-CPU-time comparison).

    What it leaves out of P.862: the IRS input filter, time alignment (the
    codec's output is aligned by construction), the frequency-response and
    per-frame gain compensation (approximated by normalising each signal to
    its own mean power, which makes a global gain error free, as in PESQ), and
    the exact Bark bands and thresholds (a mel filterbank and one threshold
    relative to the reference's mean band power stand in for them).

    ``n_fft`` 512 at 16 kHz is PESQ's 32 ms frame; ``n_bands`` 49 is the
    count of P.862.2's Bark bands.
    """

    def __init__(self, n_fft: int = 512, n_bands: int = 49) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("fb", mel_filterbank(n_fft, n_bands), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        # a band's share of the spectrum: wide bands count more when summing
        width = (self.fb > 0).sum(dim=1).float()
        self.register_buffer("band_weight", width / width.sum(), persistent=False)

    def band_power(self, x: torch.Tensor) -> torch.Tensor:
        """Band power ``(B, bands, frames)``, each signal scaled to mean power 1."""
        mag = stft_magnitude(x, self.n_fft, self.n_fft // 4, self.window)
        power = torch.matmul(self.fb, mag.square())
        return power / power.mean(dim=(1, 2), keepdim=True).clamp(min=1e-10)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The weighted sum of the symmetric and asymmetric disturbances."""
        p_deg, p_ref = self.band_power(pred), self.band_power(target)
        threshold = 10.0 ** (THRESHOLD_DB / 10.0)
        l_deg, l_ref = _loudness(p_deg, threshold), _loudness(p_ref, threshold)
        diff = l_deg - l_ref
        masked = torch.relu(diff.abs() - MASK_FRACTION * torch.minimum(l_deg, l_ref))
        offset = 10.0 ** (ASYM_OFFSET_DB / 10.0)
        ratio = ((p_deg + offset) / (p_ref + offset)).detach() ** ASYM_POWER
        asym = torch.where(ratio < ASYM_FLOOR, torch.zeros_like(ratio), ratio.clamp(max=ASYM_CEIL))
        w = self.band_weight[None, :, None]
        d_sym = torch.sqrt((w * masked.square()).sum(dim=1) + 1e-12)  # L2 over bands
        d_asym = (w * masked * asym).sum(dim=1)  # L1 over bands
        return SYM_WEIGHT * _frame_norm(d_sym) + ASYM_WEIGHT * _frame_norm(d_asym)


def _loudness(power: torch.Tensor, threshold: float) -> torch.Tensor:
    """Zwicker loudness above a hearing threshold (P.862's formula, one threshold)."""
    gamma = ZWICKER_POWER
    level = (threshold / 0.5) ** gamma * ((0.5 + 0.5 * power / threshold) ** gamma - 1.0)
    return torch.relu(level)


def _frame_norm(d: torch.Tensor) -> torch.Tensor:
    """``(B, frames)`` -> scalar: the L-``FRAME_POWER`` mean over frames, averaged over B."""
    return d.pow(FRAME_POWER).mean(dim=1).pow(1.0 / FRAME_POWER).mean()


class ReconstructionLoss(nn.Module):
    """Weighted sum of mel, multi-resolution STFT and waveform losses (and PESQ's shape).

    ``pesq_weight`` > 0 adds :class:`PesqShapedLoss`.

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
