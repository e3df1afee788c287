"""Load and save TinyTransformerCodec weights, strictly and safely.

Two formats are read; the file's first bytes decide which, not its suffix
(:func:`engine.models.weights.sniff`): the seed's ``tiny_transformer_best.pt``
(:mod:`engine.models.codec.seed`), and ours, the ``.safetensors`` layout of
:mod:`engine.models.weights` with ``kind`` ``"tiny_codec"``, whose config
records options such as ``output_padding`` that the seed format cannot.

Every other case raises :class:`CheckpointError` naming the file and what
is wrong with it (missing / unexpected keys, expected vs found shapes, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engine.models.codec.model import CodecConfig, TinyTransformerCodec
from engine.models.codec.seed import read_seed_state
from engine.models.errors import CheckpointError
from engine.models.file_limits import check_model_size, meta_state
from engine.models.weights import (
    WeightsInfo,
    compare_state,
    first_line,
    fmt_keys,
    read_header,
    sniff,
    write_weights,
)

KIND = "tiny_codec"


# -- loading ------------------------------------------------------------------
def load_codec(path: str | Path) -> TinyTransformerCodec:
    """Load a seed ``.pt`` or a streamvox ``.safetensors`` codec file, in eval mode.

    The architecture is on ``model.config``. Raises :class:`CheckpointError`
    (or :class:`UnsafeCheckpointError`) for anything that is not a complete,
    well-formed codec checkpoint.
    """
    path = Path(path)
    if sniff(path, "codec") == "safetensors":
        return _load_safetensors(path)
    state, config = read_seed_state(path)
    model = model_from_state_dict(state, config, path)
    model.weights_info = WeightsInfo(KIND, "seed")
    return model


def model_from_state_dict(
    state: Mapping[str, Any], config: CodecConfig, path: str | Path | None = None
) -> TinyTransformerCodec:
    """Build an eval-mode model from an exact state dict; ``path`` only names it in errors.

    Keys and shapes are checked on the meta device first, so a state dict
    that does not fit ``config`` never makes it allocate the model.
    """
    planned = meta_state(lambda: TinyTransformerCodec(config))
    check_model_size(path, planned)
    _check_state(path, state, planned, config)
    model = TinyTransformerCodec(config)
    expected = model.state_dict()
    _check_state(path, state, expected, config)
    tensors = {k: state[k].to(torch.float32) for k in expected}
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:  # should be unreachable after _check_state
        raise CheckpointError(path, f"cannot load the weights: {first_line(exc)}") from None
    return model.eval()


def _load_safetensors(path: Path) -> TinyTransformerCodec:
    from safetensors import safe_open

    header = read_header(path, KIND, "codec", _config_from_dict)
    config, declared = header.config, header.declared
    planned = meta_state(lambda: TinyTransformerCodec(config))
    check_model_size(path, planned)
    _check_state(path, declared, planned, config)  # before reading or allocating
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # SafetensorError and I/O errors alike
        msg = f"truncated or corrupt safetensors file: {first_line(exc)}"
        raise CheckpointError(path, msg) from None
    model = model_from_state_dict(tensors, config, path)
    model.weights_info = header.info
    return model


def _config_from_dict(d: Any) -> CodecConfig:
    return CodecConfig.from_dict({} if d is None else d)


def _check_state(
    path: str | Path | None,
    state: Mapping[str, Any],
    expected: Mapping[str, torch.Tensor],
    config: CodecConfig,
) -> None:
    """Raise one CheckpointError listing every missing/unexpected/misshapen/bad key."""
    report = compare_state(expected, state)
    missing, unexpected = report.missing, sorted(report.unexpected)
    problems = []
    if missing and len(missing) == len(expected):
        problems.append("none of the TinyTransformerCodec keys are present")
    elif missing:
        problems.append(f"missing keys: {fmt_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {fmt_keys(unexpected)}")
    shapes, bad = [], []
    for p in report.tensors:
        if p.what == "shape":
            shapes.append(f"{p.key} expected {p.expected}, found {p.found}")
        elif p.what == "values":
            bad.append(f"{p.key} (NaN/Inf values)")
        elif p.found != "NoneType":  # a None value is left to the key check
            bad.append(f"{p.key} ({p.found})")
    if shapes:
        problems.append(f"wrong shapes: {'; '.join(shapes)}")
    if bad:
        problems.append(f"not finite float tensors: {fmt_keys(bad)}")
    if problems:
        variant = f"enc_base={config.enc_base}, output_padding={config.output_padding}"
        raise CheckpointError(
            path, f"not a valid codec state dict ({variant}): " + "; ".join(problems)
        )


# -- saving -------------------------------------------------------------------
def save_codec(model: TinyTransformerCodec, path: str | Path, info: dict | None = None) -> None:
    """Write ``model`` in our safetensors format, atomically (temp file + rename).

    ``info`` is free-form JSON (training summary, commit, ...); a UTC
    ``saved_at`` time is added next to it.
    """
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in _state(model)}
    write_weights(path, tensors, KIND, model.config.to_dict(), info)


def seeded_codec(seed: int = 0, config: CodecConfig | None = None) -> TinyTransformerCodec:
    """Deterministic random initialisation (eval mode), until trained weights exist.

    The global torch RNG is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyTransformerCodec(config)
    return model.eval()


def _state(model: TinyTransformerCodec) -> list[tuple[str, torch.Tensor]]:
    return list(model.state_dict().items())
