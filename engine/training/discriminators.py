"""Small multi-period and multi-resolution discriminators for vocoder training.

- Multi-period (HiFi-GAN): the waveform folded into ``(L / p, p)`` and seen by
  2-D convs along time, one sub-discriminator per period ``p``; catches
  errors in periodic structure (pitch harmonics).
- Multi-resolution (UnivNet): 2-D convs on linear STFT magnitudes at several
  FFT sizes; catches spectral smearing and noise between harmonics.

Channel widths are small (``channels`` = 16 by default) because this trains
on a CPU. Losses are least-squares GAN plus feature matching.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LRELU = 0.1


class PeriodDiscriminator(nn.Module):
    """Waveform ``(B, L)`` folded by ``period`` -> scores and feature maps."""

    def __init__(self, period: int, channels: int) -> None:
        super().__init__()
        if period < 1:
            raise ValueError(f"period must be >= 1, got {period}")
        self.period = period
        widths = [1, channels, 2 * channels, 4 * channels, 4 * channels]
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, (5, 1), (3, 1), padding=(2, 0))
            for i, o in zip(widths[:-1], widths[1:], strict=True)
        )
        self.out = nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Scores ``(B, N)`` and each layer's activation."""
        b, n = x.shape
        pad = -n % self.period
        if pad:
            x = F.pad(x, (0, pad), mode="reflect")
        h = x.view(b, 1, -1, self.period)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), LRELU)
            feats.append(h)
        return self.out(h).flatten(1), feats


class ResolutionDiscriminator(nn.Module):
    """Waveform ``(B, L)`` -> STFT magnitude ``(B, 1, T, F)`` -> scores and features."""

    def __init__(self, n_fft: int, channels: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        widths = [1, channels, channels, channels, channels]
        strides = [(1, 2), (1, 2), (1, 2), (1, 1)]
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, (3, 9), s, padding=(1, 4))
            for i, o, s in zip(widths[:-1], widths[1:], strides, strict=True)
        )
        self.out = nn.Conv2d(widths[-1], 1, (3, 3), padding=(1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Scores ``(B, N)`` and each layer's activation."""
        spec = torch.stft(
            x, self.n_fft, self.n_fft // 4, window=self.window, center=True, return_complex=True
        )
        h = spec.abs().transpose(1, 2).unsqueeze(1)
        feats = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), LRELU)
            feats.append(h)
        return self.out(h).flatten(1), feats


class Discriminators(nn.Module):
    """All sub-discriminators; ``forward`` returns one (scores, features) per member."""

    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        fft_sizes: Sequence[int] = (512, 1024, 256),
        channels: int = 16,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.members = nn.ModuleList(
            [PeriodDiscriminator(p, channels) for p in periods]
            + [ResolutionDiscriminator(n, channels) for n in fft_sizes]
        )

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        """Waveform ``(B, L)`` -> per member (scores, feature maps)."""
        return [m(x) for m in self.members]


def adversarial_losses(
    disc: Discriminators, fake: torch.Tensor, real: torch.Tensor, *, discriminator: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """LSGAN losses for ``(B, L)`` fake and real audio.

    ``discriminator=True``: ``(d_loss, 0)``, with ``fake`` detached by the
    caller. Otherwise ``(g_adv, feature_matching)`` for the generator.
    """
    fake_out = disc(fake)
    if discriminator:
        real_out = disc(real)
        loss = sum(
            torch.mean((1 - r) ** 2) + torch.mean(f**2)
            for (r, _), (f, _) in zip(real_out, fake_out, strict=True)
        )
        return loss / len(fake_out), fake.new_zeros(())
    with torch.no_grad():
        real_out = disc(real)
    g_adv = sum(torch.mean((1 - f) ** 2) for f, _ in fake_out) / len(fake_out)
    fm_terms = [
        F.l1_loss(ff, rf)
        for (_, f_feats), (_, r_feats) in zip(fake_out, real_out, strict=True)
        for ff, rf in zip(f_feats, r_feats, strict=True)
    ]
    return g_adv, sum(fm_terms) / len(fm_terms)


class AdversarialStage:
    """The discriminators, their optimiser and one LSGAN step, shared by the trainers.

    :meth:`generator_terms` first updates the discriminators on the detached
    output, then returns the generator's weighted adversarial + feature
    matching loss (a tensor to add to the reconstruction loss) and the parts
    to log. With ``adv_weight == 0`` nothing is built into the loss.
    """

    def __init__(self, cfg: dict, device: torch.device | str = "cpu") -> None:
        """Read ``disc``, ``disc_lr``, ``adv_weight``, ``fm_weight``, ``grad_clip`` of ``cfg``."""
        self.disc = Discriminators(**cfg["disc"]).to(device)
        self.optimizer = torch.optim.AdamW(
            self.disc.parameters(), lr=cfg["disc_lr"], betas=(0.8, 0.99)
        )
        self.adv_weight, self.fm_weight = cfg["adv_weight"], cfg["fm_weight"]
        self.grad_clip = cfg["grad_clip"]

    @property
    def enabled(self) -> bool:
        """Whether the adversarial terms take part in training."""
        return self.adv_weight > 0

    def generator_terms(
        self, fake: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """One discriminator step, then the generator's weighted loss and logged parts."""
        d_loss = adversarial_losses(self.disc, fake.detach(), real, discriminator=True)[0]
        self.optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.disc.parameters(), self.grad_clip)
        self.optimizer.step()
        g_adv, fm = adversarial_losses(self.disc, fake, real, discriminator=False)
        parts = {
            "d_loss": float(d_loss.detach()),
            "g_adv": float(g_adv.detach()),
            "fm": float(fm.detach()),
        }
        return self.adv_weight * g_adv + self.fm_weight * fm, parts

    def state_dict(self) -> dict:
        """Discriminator weights and optimiser state (keys kept from earlier runs)."""
        return {"disc": self.disc.state_dict(), "disc_optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.disc.load_state_dict(state["disc"])
        self.optimizer.load_state_dict(state["disc_optimizer"])
