"""Encoder-side token search (analysis by synthesis): better tokens for the same decoder.

The greedy encoder sends, for each latent frame, the codeword nearest to
the encoder's latent. That minimises the latent's error, not the error a
listener hears after the decoder. The search keeps the decoder, the
bitstream and the bitrate exactly as they are and only chooses tokens
better: for each new frame and codebook in turn it tries the ``candidates``
codewords nearest to the latent, decodes each trial window as the receiver
will (the frames the receiver holds from the previous hop, then the new
ones) and keeps the one whose output is closest to the input. The closeness
is a multi-resolution spectral distance on compressed magnitudes (|X|^0.8)
over the hop's output and the ``context`` (128) samples before it. The
exponent and context were chosen on 6 validation utterances (PESQ-WB of the
bundled codec: 0.46, Zwicker's loudness exponent on power 0.23, 2.05; 0.6
2.09; 0.8 2.10; 1.0 2.06; context 64 / 128 / 200: 2.08 / 2.10 / 2.06; the
nearest tokens 1.93; engine/training/README.md).

It costs ``2 x frames_per_hop`` batched decodes per hop (20 for the seed's
frames), several times the greedy encoder: an encoder effort, like Opus's
complexity setting, for files (``streamvox encode --search K``) and
offline chains (``codec@searchK``); ``streamvox bench`` measures whether a
machine can afford it live. The receiver needs nothing new: any decoder
decodes the searched tokens. Only the token-reuse stream has it (an
overlap-save window's tokens are all re-sent, each hop, from scratch).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.models.codec.fast import FastCodec
from engine.models.codec.model import TinyTransformerCodec

#: The search's spectral resolutions (FFT sizes at 16 kHz, hop a quarter of each).
FFT_SIZES = (64, 128, 256)
#: Magnitude compression (|X|^0.8; 0.46 would be Zwicker's loudness law, power^0.23).
MAGNITUDE_POWER = 0.8
#: Output samples before the hop (and its held seam) that the distance also compares.
DEFAULT_CONTEXT = 128
#: The most candidates per token a search may try (the codebook's size bounds it too).
MAX_CANDIDATES = 32


def check_candidates(model: TinyTransformerCodec, candidates: object) -> None:
    """ValueError unless ``candidates`` is an int in [0, min(codebook size, 32)] (0: no search)."""
    most = min(model.config.codebook_size, MAX_CANDIDATES)
    if isinstance(candidates, bool) or not isinstance(candidates, int):
        raise ValueError(f"search candidates must be an int, got {candidates!r}")
    if not 0 <= candidates <= most:
        raise ValueError(f"search candidates must be in [0, {most}], got {candidates}")


def spectral_distance(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B, n)`` trials against ``(n,)`` -> ``(B,)``: compressed-magnitude L1, relative."""
    total = y.new_zeros(y.shape[0])
    both = torch.cat([target[None], y])
    for n_fft in FFT_SIZES:
        window = torch.hann_window(n_fft, dtype=y.dtype)
        stft = torch.stft(both, n_fft, n_fft // 4, window=window, center=False, return_complex=True)
        spec = stft.abs() ** MAGNITUDE_POWER
        ref = spec[:1]
        total = total + (spec[1:] - ref).abs().mean((1, 2)) / (ref.mean() + 1e-5)
    return total


class TokenSearch:
    """Refines one hop's greedy tokens by decoding trials (see the module docstring).

    Trials decode on the stage's own path (``fast``: the fp32 fast decoder,
    else the model itself), so a stream and its offline form search with the
    same arithmetic and choose the same tokens. ``delay``: the samples by
    which the decoded output lags the input (the weights' recorded delay).
    """

    def __init__(
        self,
        model: TinyTransformerCodec,
        candidates: int,
        seam: int,
        delay: int,
        fast: bool,
        context: int = DEFAULT_CONTEXT,
    ) -> None:
        check_candidates(model, candidates)
        cfg = model.config
        self.model, self.candidates, self.delay = model, candidates, delay
        # the target is the input ``delay`` samples earlier: it must lie within the window
        self.context = max(0, min(context, cfg.window - cfg.hop - seam - delay))
        self.span = cfg.hop + seam + self.context
        self.new_frames = cfg.frames_per_hop
        self.books = [q.embedding.weight.detach() for q in model.quantizers]
        self.decode = self._fast_decoder() if fast else self._model_decode

    def _fast_decoder(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The fp32 fast path keeping the last :attr:`span` samples of each window."""
        fast = FastCodec.from_model(self.model, keep=self.span)
        fast.warmup(1)
        return fast.decode

    def _model_decode(self, codes: torch.Tensor) -> torch.Tensor:
        """The model itself: the last :attr:`span` samples of each decoded window."""
        with torch.inference_mode():
            return self.model.decode(codes)[:, -self.span :]

    def refine(
        self, window: torch.Tensor, history: torch.Tensor, codes: torch.Tensor
    ) -> torch.Tensor:
        """Better ``codes (n_codebooks, new frames)`` for ``window (1, window)``.

        ``history (n_codebooks, m)``: the frames the receiver holds before
        these. Each token is replaced by the candidate whose decoded window
        is closest to the input, in frame order (the decoder is causal).
        """
        w = window.shape[-1]
        target = window[0, w - self.span - self.delay : w - self.delay]
        options = self._options(window)
        codes = codes.clone()
        with torch.inference_mode():
            for f in range(self.new_frames):
                for j, tried in enumerate(options[f]):
                    tried = _with_current(tried, codes[j, f])
                    trials = torch.cat([history, codes], 1).repeat(len(tried), 1, 1)
                    trials[:, j, history.shape[1] + f] = tried
                    best = spectral_distance(self.decode(trials), target).argmin()
                    codes[j, f] = tried[best]
        return codes

    def _options(self, window: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per new frame, per codebook: the ``candidates`` codewords nearest the latent."""
        with torch.inference_mode():
            z = self.model.encode_latent(window)[0, :, -self.new_frames :]  # (d_model, n)
        parts = z.t().reshape(self.new_frames, len(self.books), -1)
        return [
            [torch.cdist(parts[f, j][None], book)[0].topk(self.candidates, largest=False).indices
             for j, book in enumerate(self.books)]
            for f in range(self.new_frames)
        ]  # fmt: skip


def _with_current(tried: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """The candidates, the current token among them (it replaces the farthest if missing)."""
    if bool((tried == current).any()):
        return tried
    return torch.cat([tried[:-1], current.view(1)])
