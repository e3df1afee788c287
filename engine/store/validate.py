"""Check that a file really is a model we can run, by loading it with the safe loaders.

Nothing here parses weights itself: the loaders in ``engine.models`` read
seed ``.pt`` files with ``torch.load(weights_only=True)``, Lightning
checkpoints through a restricted unpickler and our own files as
safetensors, and they check every key and shape against the architecture.
So a file that passes here loads later, and no file ever runs code. The
loaders (and torch) are imported lazily to keep ``streamvox models list``
quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.models.errors import CheckpointError, UnsafeCheckpointError
from engine.store.registry import (
    FORMAT_LIGHTNING_VOCOS,
    FORMAT_SEED_CODEC,
    FORMAT_STREAMVOX,
    KINDS,
)


@dataclass(frozen=True)
class Validated:
    """What a file turned out to be."""

    kind: str
    format: str
    parameters: int


def load_model(path: str | Path, kind: str) -> Any:
    """Load ``path`` as a ``kind`` model ("codec" or "vocoder"), eval mode, on the CPU."""
    if kind == "codec":
        from engine.models.codec.checkpoint import load_codec

        return load_codec(path)
    if kind == "vocoder":
        from engine.models.vocos.checkpoint import load_vocos

        return load_vocos(path)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def file_format(path: str | Path, kind: str) -> str:
    """The on-disk format of a file that loaded as ``kind`` (from its first bytes)."""
    from engine.models.weights import looks_like_safetensors

    with Path(path).open("rb") as f:
        head = f.read(9)
    if looks_like_safetensors(head):
        return FORMAT_STREAMVOX
    return FORMAT_SEED_CODEC if kind == "codec" else FORMAT_LIGHTNING_VOCOS


def validate_model_file(
    path: str | Path, kind: str | None = None, expected_format: str | None = None
) -> Validated:
    """Load ``path`` as ``kind`` (or as whichever kind it is); raise CheckpointError if it fails.

    With ``expected_format`` the file must also be in that format (a
    registry entry announces one; anything else is not the file it names).
    """
    path = Path(path)
    kinds = KINDS if kind is None else (kind,)
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    errors: dict[str, CheckpointError] = {}
    for k in kinds:
        try:
            model = load_model(path, k)
        except CheckpointError as exc:
            # Both loaders are safe to try: neither runs code. The codec loader
            # calls a Lightning file's foreign classes "unsafe"; the vocoder's
            # restricted unpickler may still read it, so keep going.
            errors[k] = exc
            continue
        fmt = file_format(path, k)
        if expected_format is not None and fmt != expected_format:
            raise CheckpointError(
                path, f"is a {fmt} {k} file, expected the {expected_format} format"
            )
        return Validated(k, fmt, sum(p.numel() for p in model.parameters()))
    if kind is not None:
        _refuse_other_kind(path, kind)
    raise _combined(path, errors)


def _refuse_other_kind(path: Path, kind: str) -> None:
    """A file of the other kind gets a message saying so, not the loader's puzzlement."""
    other = next(k for k in KINDS if k != kind)
    try:
        load_model(path, other)
    except CheckpointError:
        return
    fmt = file_format(path, other)
    raise CheckpointError(path, f"is a {other} model ({fmt}), not a {kind}: wrong architecture")


def _combined(path: Path, errors: dict[str, CheckpointError]) -> CheckpointError:
    """One error for a file no loader accepted; "unsafe" only if every loader said so."""
    if len(errors) == 1:
        return next(iter(errors.values()))
    if all(isinstance(e, UnsafeCheckpointError) for e in errors.values()):
        return errors[KINDS[-1]]
    detail = "; ".join(f"as a {k}: {e.problem}" for k, e in errors.items())
    return CheckpointError(path, f"not a codec nor a vocoder model ({detail})")
