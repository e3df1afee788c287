"""Streaming Vocos generator: causal log-mel -> ConvNeXt backbone -> ISTFT head.

Offline and streaming run the same layers on the same samples; streaming just
keeps, as explicit state (:class:`VocosStreamState`), what the offline form
would find to its left: the last ``n_fft - hop`` input samples for the mel
front end, ``kernel - 1`` frames for every causal conv, and the ``n_fft - hop``
sample overlap-add tail. Hence ``stream_step`` over any chunking equals
``audio_offline`` on the whole signal (tests prove it to 1e-5).

State-dict keys are the seed's under ``backbone.`` / ``head.`` (the seed's
Lightning module calls them ``decoder.0.`` / ``decoder.1.``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.dsp.mel import CausalLogMel
from engine.models.vocos.backbone import VocosBackbone
from engine.models.vocos.config import VocosConfig
from engine.models.vocos.head import ISTFTHead
from engine.models.vocos.phase import FramePhase
from engine.models.weights import WeightsInfo

__all__ = ["VocosConfig", "VocosGenerator", "VocosStreamState", "SEED_PREFIXES"]

# Seed (Lightning ``decoder`` Sequential) prefix -> our submodule prefix.
SEED_PREFIXES = {"decoder.0.": "backbone.", "decoder.1.": "head."}


@dataclass
class VocosStreamState:
    """Everything a stream remembers between steps (preallocated, updated in place)."""

    mel_history: torch.Tensor  # (B, n_fft - hop) previous input samples
    conv_caches: list[torch.Tensor]  # embed (B, n_mels, k-1), then (B, dim, k-1) per block
    ola_tail: torch.Tensor  # (B, n_fft - hop) overlap-add tail not yet released
    phase: FramePhase | None = None  # RTPGHI state of a ``phase == "rtpghi"`` head

    @property
    def batch_size(self) -> int:
        """Number of parallel streams."""
        return self.mel_history.shape[0]

    def reset(self) -> None:
        """Back to the start of a stream: everything to the left is silence."""
        self.mel_history.zero_()
        for cache in self.conv_caches:
            cache.zero_()
        self.ola_tail.zero_()
        if self.phase is not None:
            self.phase.reset()


class VocosGenerator(nn.Module):
    """Mel -> 16 kHz audio, offline (``forward``/``audio_offline``) or streaming."""

    #: What its weights file says (set by the loaders; None for a model made in memory).
    weights_info: WeightsInfo | None = None

    def __init__(self, config: VocosConfig | None = None) -> None:
        super().__init__()
        self.config = config or VocosConfig()
        c = self.config
        self.mel = CausalLogMel(c.sample_rate, c.n_fft, c.hop, c.n_mels)
        self.backbone = VocosBackbone(c)
        self.head = ISTFTHead(c)
        self._stream: VocosStreamState | None = None

    # ----- offline -------------------------------------------------------
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, T)`` -> ``(B, T*hop)``; the tail past the last frame is dropped."""
        return self.head(self.backbone(mel), mel=mel)

    def audio_offline(self, x: torch.Tensor) -> torch.Tensor:
        """Whole signal ``(B, L)`` -> ``(B, L)``: pad to a hop multiple, mel, generate, trim."""
        if x.dim() != 2:
            raise ValueError(f"expected audio of shape (B, L), got {tuple(x.shape)}")
        length = x.shape[-1]
        if length == 0:
            return x.new_zeros(x.shape)
        pad = -length % self.config.hop
        y = self(self.mel(F.pad(x, (0, pad))))
        return y[:, :length]

    # ----- streaming -----------------------------------------------------
    def new_stream_state(self, batch_size: int = 1, lookahead: bool = False) -> VocosStreamState:
        """Zeroed state for ``batch_size`` streams on the model's device and dtype.

        ``lookahead``: an RTPGHI head's phase sees the next frame (one hop later).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        like = self.head.out.weight
        convs = self.backbone.causal_convs()
        return VocosStreamState(
            mel_history=like.new_zeros(batch_size, self.config.context),
            conv_caches=[conv.new_cache(batch_size, like) for conv in convs],
            ola_tail=like.new_zeros(batch_size, self.config.context),
            phase=new_phase(self.config, batch_size, lookahead),
        )

    def decode_step(self, mel: torch.Tensor, state: VocosStreamState) -> torch.Tensor:
        """Streaming from mel: ``(B, n_mels, N)`` -> the ``(B, N*hop)`` released samples."""
        hidden = self.backbone(mel, state.conv_caches)
        return self.head(hidden, state.ola_tail, mel, state.phase)

    def stream_step(
        self, x_new: torch.Tensor, state: VocosStreamState | None = None
    ) -> torch.Tensor:
        """Streaming from audio: ``(B, hop*N)`` new samples -> ``(B, hop*N)``, any ``N >= 1``.

        Uses ``state`` or else the model's own stream (see :meth:`streaming`),
        started on first use. Output sample ``n`` of the concatenated stream
        equals ``audio_offline`` of the concatenated input at ``n``.
        """
        if state is None:
            if self._stream is None:
                self._stream = self.new_stream_state(x_new.shape[0])
            state = self._stream
        if x_new.dim() != 2 or x_new.shape[0] != state.batch_size:
            raise ValueError(
                f"expected (B={state.batch_size}, hop*N) audio, got {tuple(x_new.shape)}"
            )
        if x_new.shape[-1] == 0 or x_new.shape[-1] % self.config.hop:
            raise ValueError(
                f"stream_step needs a positive multiple of {self.config.hop} samples, "
                f"got {x_new.shape[-1]}"
            )
        return self.decode_step(self.mel.step(x_new, state.mel_history), state)

    def reset_stream(self) -> None:
        """Forget the model's own stream state (next ``stream_step`` starts afresh)."""
        self._stream = None

    @contextmanager
    def streaming(self, batch_size: int = 1) -> Iterator[VocosStreamState]:
        """``with model.streaming(B) as state:`` a fresh own stream, cleared afterwards."""
        self._stream = self.new_stream_state(batch_size)
        try:
            yield self._stream
        finally:
            self._stream = None

    # ----- weights -------------------------------------------------------
    def fold_weight_norm(self) -> VocosGenerator:
        """Precompute every weight-normed conv's plain weight (done lazily otherwise)."""
        for conv in self.backbone.causal_convs():
            conv.conv.conv.fold()
        return self

    def load_seed_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Strictly load ``decoder.0.*`` / ``decoder.1.*`` keys (other keys are errors)."""
        self.load_state_dict(map_seed_keys(state), strict=True)


def new_phase(config: VocosConfig, batch_size: int, lookahead: bool = False) -> FramePhase | None:
    """A stream's RTPGHI state when the head makes no phase of its own, else None."""
    if config.phase != "rtpghi":
        if lookahead:
            raise ValueError("phase look-ahead needs an RTPGHI-phase vocoder (phase 'rtpghi')")
        return None
    return FramePhase(config.n_fft, config.hop, batch_size, lookahead)


def stream_in_chunks(
    step_fn: Callable[[torch.Tensor, VocosStreamState], torch.Tensor],
    state: VocosStreamState,
    x: torch.Tensor,
    step: int,
) -> torch.Tensor:
    """``x (B, L)`` through ``step_fn(chunk, state)`` in ``step``-sample chunks, ``(B, L)`` out.

    The last chunk is zero-padded and the output cut back to ``L``: the offline
    form of a path whose output depends on its chunking (quantised fast paths,
    RTPGHI's heap order) is this, the stream itself.
    """
    length = x.shape[-1]
    padded = F.pad(x, (0, -length % step))
    parts = [step_fn(chunk, state) for chunk in padded.split(step, dim=1)]
    if not parts:
        return x.new_zeros(x.shape)
    return torch.cat(parts, dim=1)[:, :length]


def map_seed_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``decoder.0.`` -> ``backbone.`` and ``decoder.1.`` -> ``head.``; keep others."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for seed, ours in SEED_PREFIXES.items():
            if key.startswith(seed):
                key = ours + key[len(seed) :]
                break
        out[key] = value
    return out
