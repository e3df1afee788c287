"""The seed codec's weights format: ``tiny_transformer_best.pt``.

A ``torch.save``'d dict whose ``model_state_dict`` holds the training
model's state dict. It is read with ``torch.load(weights_only=True)``, so
nothing in the file can run. The training-only ``skip_convs.*`` and VQ EMA
buffers (``quantizers.{j}.ema_cluster_size`` / ``ema_w``, present in the
seed training script's state dict) are ignored. Encoder widths ``16 * 2**i``
or the older ``8 * 2**i`` are told apart from ``encoder_convs.0.conv.weight``.
:func:`read_seed_state` gives the state and the architecture; the strict
checks and the model are :func:`engine.models.codec.checkpoint.model_from_state_dict`'s.
"""

from __future__ import annotations

import dataclasses
import pickletools
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from engine.atomic_file import replacing
from engine.models.codec.model import CodecConfig, TinyTransformerCodec
from engine.models.errors import CheckpointError, UnsafeCheckpointError
from engine.models.file_limits import check_zip_sizes
from engine.models.weights import fmt_keys

SEED_ENC_BASES = (16, 8)

_SEED_TRAINING_ONLY = re.compile(r"skip_convs\..+|quantizers\.\d+\.(ema_cluster_size|ema_w)")


def read_seed_state(path: Path) -> tuple[dict[str, Any], CodecConfig]:
    """The model's state dict in a seed ``.pt`` file (training-only keys left out) and its sizes."""
    obj = _torch_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"holds a {type(obj).__name__}, not a checkpoint dict")
    if "model_state_dict" not in obj:
        found = fmt_keys(sorted(map(str, obj)))
        hint = (
            " (a PyTorch Lightning checkpoint, e.g. a vocoder, not a codec)"
            if "state_dict" in obj
            else ""
        )
        raise CheckpointError(path, f"no 'model_state_dict' key{hint}; found keys: {found}")
    state = obj["model_state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(path, "'model_state_dict' is not a dict of tensors")
    kept = {k: v for k, v in state.items() if not _SEED_TRAINING_ONLY.fullmatch(str(k))}
    return kept, seed_config_from_state(kept, path)


def seed_config_from_state(state: Mapping[str, Any], path: str | Path | None = None) -> CodecConfig:
    """The seed architecture a state dict was trained with (16*2**i or 8*2**i encoder)."""
    key = "encoder_convs.0.conv.weight"
    w = state.get(key)
    if not isinstance(w, torch.Tensor):
        return CodecConfig()  # the key check will then report what is missing
    for base in SEED_ENC_BASES:
        if tuple(w.shape) == (base, 1, 3):
            return CodecConfig(enc_base=base)
    raise CheckpointError(
        path,
        f"{key} has shape {tuple(w.shape)}; expected (16, 1, 3) (seed) or "
        "(8, 1, 3) (older seed variant): not a TinyTransformerCodec checkpoint",
    )


def _torch_load(path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers; errors name the problem."""
    check_zip_sizes(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure on untrusted bytes means a bad file
        text = str(exc)
        names = _pickle_globals(path) or re.findall(r"GLOBAL ([\w.]+)", text)
        if names:
            raise UnsafeCheckpointError(
                path,
                f"refused: the file asks to import or call code ({', '.join(names[:4])}); "
                "a codec checkpoint holds only tensors. Nothing from the file was run.",
            ) from None
        if isinstance(exc, RuntimeError) and "zip archive" in text:
            raise CheckpointError(path, "truncated or corrupt (unreadable zip archive)") from None
        if isinstance(exc, EOFError):
            raise CheckpointError(path, "truncated (ends in the middle of its data)") from None
        detail = _torch_error_detail(exc)
        raise CheckpointError(
            path, f"neither a PyTorch checkpoint nor a safetensors file ({detail})"
        ) from None


def _torch_error_detail(exc: BaseException) -> str:
    """The informative line of a ``torch.load`` error, without its boilerplate."""
    boiler = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [ln.strip() for ln in str(exc).splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith(boiler)]
    return f"{type(exc).__name__}: {useful[0] if useful else 'unreadable data'}"


def _pickle_globals(path: Path) -> list[str]:
    """Names of the Python objects a pickle would import, read without running it.

    Looks at the file itself and, for a zip-format ``torch.save``, at its
    ``data.pkl``. Torch's own rebuild helpers are not reported.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                member = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                data = zf.read(member) if member else b""
        else:
            data = path.read_bytes()
    except (OSError, zipfile.BadZipFile, EOFError):
        return []
    names: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if isinstance(arg, str):
                strings.append(arg)
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                names.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # a broken pickle stream simply ends the scan
        pass
    harmless = ("torch.", "collections.OrderedDict", "_codecs.encode")
    return [n for n in dict.fromkeys(names) if not n.startswith(harmless)]


def save_seed_checkpoint(
    model: TinyTransformerCodec,
    path: str | Path,
    *,
    skip_convs: bool = True,
    ema_buffers: bool = True,
    extra: dict | None = None,
) -> None:
    """Write the seed's ``torch.save`` format: ``{'model_state_dict': ..., **extra}``.

    The state dict is the seed *training* model's: with ``skip_convs`` the
    unused 1x1 ``skip_convs.{i}`` convs, with ``ema_buffers`` the VQ EMA
    buffers. Only seed architectures fit this format (ValueError otherwise).
    """
    cfg = model.config
    if dataclasses.replace(cfg, dropout=CodecConfig.dropout) != CodecConfig(enc_base=cfg.enc_base):
        raise ValueError(
            "the seed format only holds the seed architecture (enc_base 16 or 8, "
            f"no output padding); this model has {cfg}"
        )
    if cfg.enc_base not in SEED_ENC_BASES:
        raise ValueError(f"the seed format needs enc_base in {SEED_ENC_BASES}, got {cfg.enc_base}")
    extra = dict(extra or {})
    if "model_state_dict" in extra:
        raise ValueError("extra must not contain 'model_state_dict'")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(0)
    if skip_convs:
        for i, c in enumerate(cfg.decoder_channels[:-1]):
            state[f"skip_convs.{i}.weight"] = torch.randn(c, 2 * c, 1, generator=gen) * 0.1
            state[f"skip_convs.{i}.bias"] = torch.zeros(c)
    if ema_buffers:
        for j in range(cfg.n_codebooks):
            state[f"quantizers.{j}.ema_cluster_size"] = torch.ones(cfg.codebook_size)
            state[f"quantizers.{j}.ema_w"] = state[f"quantizers.{j}.embedding.weight"].clone()
    with replacing(path) as tmp:
        torch.save({"model_state_dict": state, **extra}, tmp)
