"""Codec-decoded training input for the vocoder.

In the ``codec+vocoder`` chain the vocoder never hears clean speech: it
gets the mel of what the codec decoded. A vocoder trained only on clean
mel reproduces the codec's artefacts and adds its own, so the chain scored
below the codec alone (PESQ-WB 1.40 vs 1.47 on the held-out speakers).
Feeding part of each batch through the codec, while the target stays the
clean input, teaches the vocoder to undo some of those artefacts.

The round trip is the aligned offline form of
:class:`engine.models.codec.stage.CodecStage` (same windows, same kept
halves and seam fade, the codec's own recorded delay removed), batched over all windows
of all crops: batched kernels round differently from the stage's
one-window steps (~1e-6), which does not matter for training. Removing the
codec's delay matters: in a chain the codec stage declares it, so the
vocoder must learn the same output delay for codec input as for clean input.
"""

from __future__ import annotations

import torch

from engine.models.codec.checkpoint import load_codec
from engine.models.codec.model import TinyTransformerCodec
from engine.models.codec.seam import stitch_windows
from engine.models.codec.stage import output_delay, reuse_windows, silence_frames


class CodecRoundTrip:
    """``(B, L)`` clean crops -> ``(B, L)`` codec output, aligned with the input."""

    def __init__(self, model: TinyTransformerCodec) -> None:
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.window = model.config.window
        self.hop = model.config.hop
        self.context = self.window - self.hop
        cfg = model.config
        self.delay = output_delay(model)
        self.seam = cfg.seam_fade
        self.reuse = cfg.stream == "reuse"
        self.sent = cfg.frames_per_hop if self.reuse else cfg.frames_per_window
        self.start = silence_frames(model) if self.reuse else None

    @classmethod
    def from_file(cls, path: str) -> CodecRoundTrip:
        """Load the codec weights at ``path`` (any format :func:`load_codec` reads)."""
        return cls(load_codec(path))

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The stage's offline form (OaS or reuse) of every crop; shape and alignment kept."""
        batch, length = x.shape
        d = self.delay
        # the seam's samples need the window after them, as in the stage
        steps = -(-(length + d + self.seam) // self.hop)
        xp = x.new_zeros(batch, self.context + steps * self.hop)
        xp[:, self.context : self.context + length] = x
        windows = xp.unfold(1, self.window, self.hop).reshape(-1, self.window)
        codes = self.model.encode(windows)
        if self.reuse:  # each hop decodes the frames received so far (the stage's reuse mode)
            sent = codes[..., -self.sent :].reshape(batch, steps, codes.shape[1], self.sent)
            codes = reuse_windows(sent, self.start).reshape(batch * steps, codes.shape[1], -1)
        decoded = self.model.decode(codes).reshape(batch, steps, self.window)
        return stitch_windows(decoded, self.hop, self.seam)[:, d : d + length].clone()
