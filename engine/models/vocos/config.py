"""Sizes of a Streaming Vocos generator (the seed's defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

#: Where the head's phase comes from: the network's own phase rows (the seed's
#: design), or RTPGHI from the network's magnitude (ours: the network only
#: corrects the amplitude prior, a classical phase retrieval makes the phase).
PHASE_SOURCES = ("network", "rtpghi")
_INT_FIELDS = ("n_mels", "dim", "intermediate_dim", "n_layers", "kernel", "n_fft", "hop")
#: Largest value each size may take. Far beyond any vocoder of this kind (the
#: seed is dim 512 x 8 layers, n_fft 1024), yet small enough that a few bytes of
#: hostile metadata cannot ask for gigabytes field by field; the whole model is
#: also capped (see :mod:`engine.models.file_limits`).
MAX_SIZES = {
    "n_mels": 512,
    "dim": 4096,
    "intermediate_dim": 16384,
    "n_layers": 48,
    "kernel": 63,
    "n_fft": 8192,
    "hop": 8192,
    "sample_rate": 192000,
}


@dataclass(frozen=True)
class VocosConfig:
    """Architecture options; the defaults are the seed's (dim 512, 8 layers).

    ``layer_scale_init`` only matters for fresh initialisation: the initial
    value of every ConvNeXt ``gamma`` (``None`` means ``1 / n_layers``, as the
    seed does for a zero/absent value).

    ``mag_prior`` (ours, not the seed's): the head's log-magnitude is a
    correction added to the log of the mel's pseudo-inverse magnitude
    (FreeV's amplitude prior), so the network need not learn what a fixed
    matrix already recovers. Off for every seed checkpoint.

    ``phase`` (ours): ``"network"`` synthesises with the head's phase rows,
    as the seed does; ``"rtpghi"`` ignores them and makes each frame's phase
    by real-time phase-gradient heap integration (:class:`engine.dsp.pghi.RTPGHI`,
    no look-ahead) from the head's magnitude. The second is trained with
    magnitude losses only: on two CPU cores a network learns magnitude far
    sooner than phase (see ``engine/training/README.md``).
    """

    n_mels: int = 80
    dim: int = 512
    intermediate_dim: int = 1536
    n_layers: int = 8
    kernel: int = 7
    n_fft: int = 1024
    hop: int = 320
    sample_rate: int = 16000
    layer_scale_init: float | None = 1e-6
    mag_prior: bool = False
    phase: str = "network"

    def __post_init__(self) -> None:
        for name in (*_INT_FIELDS, "sample_rate"):
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                raise ValueError(f"VocosConfig.{name} must be a positive int, got {value!r}")
            if value > MAX_SIZES[name]:
                raise ValueError(f"VocosConfig.{name} must be <= {MAX_SIZES[name]}, got {value}")
        if self.n_fft % 2:
            raise ValueError(f"VocosConfig.n_fft must be even, got {self.n_fft}")
        if self.hop > self.n_fft:
            raise ValueError(f"VocosConfig.hop ({self.hop}) must be <= n_fft ({self.n_fft})")
        if not isinstance(self.mag_prior, bool):
            raise ValueError(f"VocosConfig.mag_prior must be a bool, got {self.mag_prior!r}")
        if self.phase not in PHASE_SOURCES:
            raise ValueError(
                f"VocosConfig.phase must be one of {', '.join(PHASE_SOURCES)}, got {self.phase!r}"
            )
        ls = self.layer_scale_init
        if ls is not None and (isinstance(ls, bool) or not isinstance(ls, (int, float)) or ls <= 0):
            raise ValueError(f"VocosConfig.layer_scale_init must be > 0 or None, got {ls!r}")

    @property
    def context(self) -> int:
        """Samples of history one frame needs beyond its own hop (704 for the seed)."""
        return self.n_fft - self.hop

    @property
    def n_bins(self) -> int:
        """Frequency bins of the STFT (n_fft // 2 + 1)."""
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; :meth:`from_dict` inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VocosConfig:
        """Build from a dict; unknown keys or bad values raise ``ValueError``."""
        if not isinstance(data, Mapping):
            raise ValueError(f"VocosConfig needs a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown VocosConfig option(s): {', '.join(map(str, unknown))}")
        return cls(**dict(data))
