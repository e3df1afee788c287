"""ISTFT head of Streaming Vocos: spectral frames -> audio by windowed overlap-add.

Frame ``t`` is an ``n_fft``-sample windowed inverse FFT placed at sample
``hop * t``; it *releases* output samples ``[hop*t, hop*t + hop)``, whose
value is complete once frame ``t`` is known (later frames start later). The
remaining ``n_fft - hop`` samples (704) are an overlap tail carried to the next
call. There is no window-envelope normalisation (as in the seed).

Overlap-add is summed oldest frame first, both offline and streaming, so the
streamed samples are bit-identical to the offline ones whatever the chunking.

State-dict note: the seed does overlap-add with a ``ConvTranspose1d(n_fft ->
1, kernel n_fft, stride hop, bias=False)`` whose weight ``(n_fft, 1, n_fft)``
is the identity (``w[c, 0, c] = 1``), stored as
``istft.overlap_add.deconv.weight``. We keep that tensor as a buffer so seed
files load (and check it is the identity), but sum directly: it is cheaper.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.dsp.mel import periodic_hann
from engine.dsp.mel_prior import log_prior, prior_matrix
from engine.models.vocos.config import VocosConfig
from engine.models.vocos.phase import FramePhase

MAG_CLIP = 100.0
LOG_MAG_CLIP = math.log(MAG_CLIP)


class IdentityKernel(nn.Module):
    """Holds the seed's fixed ``(n_fft, 1, n_fft)`` identity overlap-add kernel."""

    def __init__(self, n_fft: int) -> None:
        super().__init__()
        # zeros + a filled diagonal, not torch.eye: on the meta device (the size
        # check of engine.models.file_limits) eye goes through torch's Python
        # decompositions, which import torch._dynamo (not in the frozen app).
        weight = torch.zeros(n_fft, 1, n_fft)
        weight[:, 0, :].diagonal().fill_(1.0)
        self.register_buffer("weight", weight)


class OverlapAdd(nn.Module):
    """Overlap-add of ``(B, T, n_fft)`` frames at stride ``hop`` with a carried tail."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop
        self.context = n_fft - hop
        self.n_blocks = math.ceil(n_fft / hop)
        self.deconv = IdentityKernel(n_fft)

    def forward(self, frames: torch.Tensor, tail: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, n_fft)`` -> the ``(B, T*hop)`` released samples.

        ``tail: (B, n_fft - hop)`` (streaming) is added first and replaced in
        place by the new tail; without it the final tail is dropped.
        """
        b, t, _ = frames.shape
        hop = self.hop
        acc = frames.new_zeros(b, t + self.n_blocks - 1, hop)
        flat = acc.view(b, -1)
        if tail is not None:
            flat[:, : self.context] = tail
        for q in reversed(range(self.n_blocks)):  # oldest contribution first
            lo = q * hop
            width = min(hop, self.n_fft - lo)
            acc[:, q : q + t, :width] += frames[:, :, lo : lo + width]
        if tail is not None:
            tail.copy_(flat[:, t * hop : t * hop + self.context])
        return flat[:, : t * hop]


class StreamingISTFT(nn.Module):
    """Inverse real FFT per frame, periodic Hann window, overlap-add."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", periodic_hann(n_fft), persistent=False)
        self.overlap_add = OverlapAdd(n_fft, hop)

    def forward(self, spec: torch.Tensor, tail: torch.Tensor | None = None) -> torch.Tensor:
        """Complex ``(B, T, n_fft//2+1)`` -> ``(B, T*hop)``."""
        frames = torch.fft.irfft(spec, n=self.n_fft) * self.window
        return self.overlap_add(frames, tail)


class ISTFTHead(nn.Module):
    """``out`` Linear(dim -> n_fft+2): log-magnitude and phase, then ISTFT.

    With ``config.phase == "rtpghi"`` the phase rows are kept (the seed's
    tensor shapes) but unused: RTPGHI makes the phase from the magnitude.

    With ``config.mag_prior`` the log-magnitude is a correction added to the
    log of the mel's pseudo-inverse magnitude (:mod:`engine.dsp.mel_prior`);
    the matrix is derived from the config, not stored in weight files.
    """

    def __init__(self, config: VocosConfig) -> None:
        super().__init__()
        self.n_bins = config.n_bins
        self.n_fft, self.hop = config.n_fft, config.hop
        self.phase_source = config.phase
        self.out = nn.Linear(config.dim, config.n_fft + 2)
        self.istft = StreamingISTFT(config.n_fft, config.hop)
        self.use_prior = config.mag_prior
        if self.use_prior:
            matrix = prior_matrix(config.sample_rate, config.n_fft, config.hop, config.n_mels)
            self.register_buffer("prior", matrix.to(torch.get_default_device()), persistent=False)

    def spectrum(
        self, hidden: torch.Tensor, mel: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden ``(B, T, dim)`` (+ mel ``(B, n_mels, T)``) -> log-magnitude, phase."""
        x = self.out(hidden)
        log_mag = x[..., : self.n_bins]
        if self.use_prior:
            if mel is None:
                raise ValueError("a head with a magnitude prior needs the mel frames")
            log_mag = log_mag + log_prior(mel.transpose(1, 2), self.prior)
        return log_mag, x[..., self.n_bins :]

    def forward(
        self,
        hidden: torch.Tensor,
        tail: torch.Tensor | None = None,
        mel: torch.Tensor | None = None,
        phase_maker: FramePhase | None = None,
    ) -> torch.Tensor:
        """Hidden ``(B, T, dim)`` -> audio ``(B, T*hop)`` (see :class:`OverlapAdd`).

        An RTPGHI head (``config.phase == "rtpghi"``) takes its phase from
        ``phase_maker`` (a stream's :class:`~engine.models.vocos.phase.FramePhase`),
        or from a fresh one when the call is a whole signal; a look-ahead maker
        plays its frames one frame late.
        """
        log_mag, phase = self.spectrum(hidden, mel)
        if self.phase_source == "rtpghi":
            if phase_maker is None:
                phase_maker = FramePhase(self.n_fft, self.hop, hidden.shape[0])
            log_mag, phase = phase_maker.frames(log_mag.clamp(max=LOG_MAG_CLIP))
        return self.synthesize(log_mag, phase, tail)

    def synthesize(
        self, log_mag: torch.Tensor, phase: torch.Tensor, tail: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Log-magnitude and phase ``(B, T, n_bins)`` -> audio ``(B, T*hop)``."""
        mag = torch.exp(log_mag).clamp(max=MAG_CLIP)
        spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
        return self.istft(spec, tail)
