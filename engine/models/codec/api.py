"""``TinyCodec``: the seed package's public API, so that its users can switch.

    codec = TinyCodec(model_path="tiny_transformer_best.pt")
    indices = codec.encode_audio(chunk)            # 480 samples -> [(B, 20), (B, 20)]
    audio = codec.decode_audio(indices, original_length=480)   # tensor (480,)

Same shapes and semantics as the seed; the file is loaded strictly and
safely by :func:`engine.models.codec.checkpoint.load_codec`, which also reads
our safetensors files.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from engine.models.codec.checkpoint import load_codec, seeded_codec
from engine.models.codec.model import TinyTransformerCodec

SEEDED_WARNING = (
    "TinyCodec: no model_path given; using a deterministic SEEDED RANDOM codec, "
    "not trained weights. Its output is not meaningful audio."
)


class TinyCodec:
    """Encode 16 kHz audio chunks to integer tokens and back (seed-compatible)."""

    def __init__(
        self, model_path: str | Path | None = None, device: str | torch.device | None = None
    ) -> None:
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if model_path is None:
            warnings.warn(SEEDED_WARNING, UserWarning, stacklevel=2)
            print(f"WARNING: {SEEDED_WARNING}", file=sys.stderr)
            model = seeded_codec(seed=0)
        else:
            model = load_codec(model_path)
        self.model: TinyTransformerCodec = model.to(self.device).eval()

    @property
    def n_codebooks(self) -> int:
        """Number of index arrays per chunk (2 for the seed)."""
        return self.model.config.n_codebooks

    def encode_audio(self, chunk: torch.Tensor | np.ndarray | Sequence[float]) -> list[np.ndarray]:
        """Audio (L,), (B, L) or (B, 1, L) -> ``n_codebooks`` int64 arrays of shape (B, T).

        T = 20 for the 480-sample chunks the model was trained on.
        """
        x = torch.as_tensor(np.asarray(chunk) if not torch.is_tensor(chunk) else chunk)
        if x.dim() == 3 and x.shape[1] == 1:
            x = x[:, 0]
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if x.dim() != 2 or x.shape[-1] == 0:
            raise ValueError(f"expected audio of shape (L,) or (B, L), got {tuple(x.shape)}")
        with torch.inference_mode():
            codes = self.model.encode(x.to(self.device, torch.float32))
        codes = codes.cpu().numpy()
        return [codes[:, j].copy() for j in range(codes.shape[1])]

    def decode_audio(
        self, indices_list: Sequence[np.ndarray | torch.Tensor], original_length: int = 480
    ) -> torch.Tensor:
        """Indices from :meth:`encode_audio` -> audio trimmed or zero-padded to ``original_length``.

        Returns a tensor (original_length,) for a batch of one, else
        (B, original_length), on :attr:`device`.
        """
        codes = self._codes_tensor(indices_list)
        if original_length <= 0:
            raise ValueError(f"original_length must be positive, got {original_length}")
        with torch.inference_mode():
            y = self.model.decode(codes)
        if y.shape[-1] >= original_length:
            y = y[:, :original_length]
        else:
            y = torch.nn.functional.pad(y, (0, original_length - y.shape[-1]))
        return y[0] if y.shape[0] == 1 else y

    def _codes_tensor(self, indices_list: Sequence[np.ndarray | torch.Tensor]) -> torch.Tensor:
        """List of (B, T) or (T,) index arrays -> (B, n_codebooks, T) int64, range-checked."""
        if len(indices_list) != self.n_codebooks:
            raise ValueError(f"expected {self.n_codebooks} index arrays, got {len(indices_list)}")
        parts = [
            torch.as_tensor(np.asarray(i) if not torch.is_tensor(i) else i) for i in indices_list
        ]
        parts = [p.reshape(1, -1) if p.dim() == 1 else p for p in parts]
        if any(p.dim() != 2 or p.shape != parts[0].shape for p in parts):
            raise ValueError(
                f"index arrays must share one (B, T) shape, got {[tuple(p.shape) for p in parts]}"
            )
        codes = torch.stack(parts, dim=1)
        if codes.is_floating_point() or codes.dtype == torch.bool:
            raise ValueError(f"indices must be integers, got {codes.dtype}")
        size = self.model.config.codebook_size
        if codes.numel() and (codes.min() < 0 or codes.max() >= size):
            raise ValueError(f"indices must lie in [0, {size})")
        return codes.to(self.device, torch.int64)
