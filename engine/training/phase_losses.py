"""Anti-wrapping phase losses (APNet / APNet2): learn the phase directly.

Magnitude losses leave the phase free up to what the overlap-add of
neighbouring frames constrains, which is where today's vocoders lose quality
(``shared/docs/vocoder-diagnosis.md``). These losses compare the head's
phase with the target's STFT phase at the same frames and bins:

- instantaneous phase (IP): the phase itself;
- group delay (GD): its difference across neighbouring frequency bins;
- instantaneous angular frequency (IAF): its difference across frames.

Each error goes through the anti-wrapping function
``|e - 2 pi round(e / 2 pi)|``, so a 2 pi wrap costs nothing. Unlike APNet,
errors are weighted by the target magnitude (normalised to mean 1): the
phase of a near-silent bin is noise and says nothing about the signal.
"""

from __future__ import annotations

import math

import torch

TWO_PI = 2.0 * math.pi


def anti_wrap(error: torch.Tensor) -> torch.Tensor:
    """Distance of a phase difference to the nearest multiple of 2 pi, in ``[0, pi]``."""
    return torch.abs(error - TWO_PI * torch.round(error / TWO_PI))


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return (values * weight).sum() / weight.sum().clamp(min=1e-12)


def phase_losses(
    pred: torch.Tensor, target: torch.Tensor, magnitude: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """IP, GD and IAF losses of phases ``(B, T, F)``; ``magnitude`` weights the bins."""
    if pred.shape != target.shape:
        raise ValueError(f"phase shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    weight = torch.ones_like(target) if magnitude is None else magnitude.detach()
    gd_weight = torch.minimum(weight[..., 1:], weight[..., :-1])
    iaf_weight = torch.minimum(weight[:, 1:], weight[:, :-1])
    return {
        "ip": _weighted_mean(anti_wrap(pred - target), weight),
        "gd": _weighted_mean(anti_wrap(pred.diff(dim=-1) - target.diff(dim=-1)), gd_weight),
        "iaf": _weighted_mean(anti_wrap(pred.diff(dim=1) - target.diff(dim=1)), iaf_weight),
    }


def frame_spectrum(
    signal: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor, frames: int
) -> torch.Tensor:
    """Complex STFT ``(B, frames, n_fft//2+1)`` of frames at ``hop * t``, uncentred.

    Frame ``t`` covers ``signal[:, hop t : hop t + n_fft]``: the span the
    Vocos head's ISTFT frame ``t`` is overlap-added onto.
    """
    needed = (frames - 1) * hop + n_fft
    if signal.shape[-1] < needed:
        raise ValueError(f"need {needed} samples for {frames} frames, got {signal.shape[-1]}")
    chunks = signal[:, :needed].unfold(-1, n_fft, hop)
    return torch.fft.rfft(chunks * window)
