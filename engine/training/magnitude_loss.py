"""Magnitude-only loss for a vocoder whose phase is made by RTPGHI, not learned.

With ``VocosConfig.phase == "rtpghi"`` the head's phase rows are never heard,
so the waveform losses (which judge magnitude and phase together) would
spend the network's capacity on phase it does not need. This loss compares
the head's magnitude frames with the target's STFT on exactly the frames the
head synthesises (:func:`engine.training.phase_losses.frame_spectrum`),
scaled by the ISTFT's synthesis gain as the amplitude prior is.

* spectral convergence: the relative Frobenius error of the linear
  magnitudes, dominated by the loud bins that RTPGHI integrates first;
* log-magnitude L1 above a floor: the shape of the quiet bins, whose
  gradients (in log) set RTPGHI's phase advance.
"""

from __future__ import annotations

import math

import torch

from engine.dsp.mel_prior import PRIOR_FLOOR
from engine.models.vocos.head import MAG_CLIP

LOG_FLOOR = math.log(PRIOR_FLOOR)


def magnitude_loss(
    log_mag: torch.Tensor, target_mag: torch.Tensor, log_weight: float = 1.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """Head log-magnitude ``(B, T, F)`` vs target magnitude ``(B, T, F)`` -> loss, parts."""
    if log_mag.shape != target_mag.shape:
        raise ValueError(f"shapes differ: {tuple(log_mag.shape)} vs {tuple(target_mag.shape)}")
    pred = torch.exp(log_mag.clamp(max=math.log(MAG_CLIP)))
    err = torch.linalg.vector_norm(pred - target_mag, dim=(1, 2))
    ref = torch.linalg.vector_norm(target_mag, dim=(1, 2)).clamp(min=1e-8)
    sc = (err / ref).mean()
    log_target = torch.log(target_mag.clamp(min=PRIOR_FLOOR))
    log_l1 = (log_mag.clamp(min=LOG_FLOOR) - log_target).abs().mean()
    total = sc + log_weight * log_l1
    return total, {"sc": float(sc.detach()), "log_l1": float(log_l1.detach())}
