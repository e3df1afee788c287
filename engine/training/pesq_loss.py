"""A differentiable loss shaped like PESQ's disturbance (ITU-T P.862), for fine-tuning.

The mel and STFT losses compare log magnitudes, which weigh an error 60 dB
below the speech as much as one in a formant. PESQ does not: it compares
*loudness* (band power compressed by Zwicker's law, exponent 0.23, zero
below the hearing threshold), forgives a difference smaller than a quarter
of the quieter loudness (masking), weighs added energy more than missing
energy (the asymmetry factor), and sums bands with an L2 norm and frames
with a high power, so that the worst moments count most. This module does
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
"""

from __future__ import annotations

import torch
from torch import nn

from engine.training.losses import mel_filterbank, stft_magnitude

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
