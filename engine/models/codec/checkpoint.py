"""Load and save TinyTransformerCodec weights, strictly and safely.

Two formats are read; the file's first bytes decide which, not its suffix:

* the seed's ``tiny_transformer_best.pt``: a ``torch.save``'d dict whose
  ``model_state_dict`` holds the training model's state dict. It is read
  with ``torch.load(weights_only=True)``, so nothing in the file can run.
  The training-only ``skip_convs.*`` and VQ EMA buffers
  (``quantizers.{j}.ema_cluster_size`` / ``ema_w``, present in the seed
  training script's state dict) are ignored. Encoder widths ``16 * 2**i`` or
  the older ``8 * 2**i`` are told apart from ``encoder_convs.0.conv.weight``.
* ours: one ``.safetensors`` file whose metadata key ``"streamvox"`` holds
  JSON ``{"kind": "tiny_codec", "format_version": 1, "config": {...},
  "info": {...}, "saved_at": ...}``; the config records options such as
  ``output_padding`` that the seed format cannot.

Every other case raises :class:`CheckpointError` naming the file and what
is wrong with it (missing / unexpected keys, expected vs found shapes, ...).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import pickletools
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from engine.atomic_file import replacing
from engine.models.codec.model import CodecConfig, TinyTransformerCodec
from engine.models.errors import CheckpointError, UnsafeCheckpointError
from engine.models.file_limits import (
    check_model_size,
    check_zip_sizes,
    declared_tensors,
    meta_state,
)

KIND = "tiny_codec"
FORMAT_VERSION = 1
METADATA_KEY = "streamvox"
SEED_ENC_BASES = (16, 8)

_SEED_TRAINING_ONLY = re.compile(r"skip_convs\..+|quantizers\.\d+\.(ema_cluster_size|ema_w)")
_MAX_LISTED = 8


# -- loading ------------------------------------------------------------------
def load_codec(path: str | Path) -> TinyTransformerCodec:
    """Load a seed ``.pt`` or a streamvox ``.safetensors`` codec file, in eval mode.

    The architecture is on ``model.config``. Raises :class:`CheckpointError`
    (or :class:`UnsafeCheckpointError`) for anything that is not a complete,
    well-formed codec checkpoint.
    """
    path = Path(path)
    head = _read_head(path)
    if _looks_like_safetensors(head):
        return _load_safetensors(path)
    return _load_seed(path)


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
        raise CheckpointError(path, f"cannot load the weights: {_first_line(exc)}") from None
    return model.eval()


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


def _read_head(path: Path) -> bytes:
    if not path.exists():
        raise CheckpointError(path, "file not found")
    if not path.is_file():
        raise CheckpointError(path, "not a regular file")
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise CheckpointError(path, f"cannot read the file: {exc.strerror or exc}") from None
    if not head:
        raise CheckpointError(path, "the file is empty")
    return head


def _looks_like_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length, then a JSON object."""
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 2 <= n < 100_000_000


def _load_seed(path: Path) -> TinyTransformerCodec:
    obj = _torch_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"holds a {type(obj).__name__}, not a checkpoint dict")
    if "model_state_dict" not in obj:
        found = _fmt_keys(sorted(map(str, obj)))
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
    return model_from_state_dict(kept, seed_config_from_state(kept, path), path)


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


def _load_safetensors(path: Path) -> TinyTransformerCodec:
    from safetensors import safe_open

    meta, declared = declared_tensors(path)
    config = _config_from_metadata(path, meta)
    planned = meta_state(lambda: TinyTransformerCodec(config))
    check_model_size(path, planned)
    _check_state(path, declared, planned, config)  # before reading or allocating
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # SafetensorError and I/O errors alike
        msg = f"truncated or corrupt safetensors file: {_first_line(exc)}"
        raise CheckpointError(path, msg) from None
    model = model_from_state_dict(tensors, config, path)
    info = json.loads(meta[METADATA_KEY]).get("info")
    model.checkpoint_info = info if isinstance(info, dict) else {}
    return model


def _config_from_metadata(path: Path, meta: Mapping[str, str]) -> CodecConfig:
    if METADATA_KEY not in meta:
        raise CheckpointError(
            path, f"a safetensors file without '{METADATA_KEY}' metadata: not a streamvox model"
        )
    try:
        info = json.loads(meta[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(path, f"'{METADATA_KEY}' metadata is not valid JSON: {exc}") from None
    if not isinstance(info, dict):
        raise CheckpointError(path, f"'{METADATA_KEY}' metadata must be a JSON object")
    kind = info.get("kind")
    if kind is None:
        raise CheckpointError(
            path, f"its '{METADATA_KEY}' metadata does not say which model it holds"
        )
    if kind != KIND:
        raise CheckpointError(path, f"holds a {kind!r} model, not a {KIND!r} (codec) model")
    version = info.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise CheckpointError(
            path, f"format_version {version!r} is not supported (this build reads {FORMAT_VERSION})"
        )
    try:
        return CodecConfig.from_dict(info.get("config", {}))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"invalid codec config: {exc}") from None


def _check_state(
    path: str | Path | None,
    state: Mapping[str, Any],
    expected: Mapping[str, torch.Tensor],
    config: CodecConfig,
) -> None:
    """Raise one CheckpointError listing every missing/unexpected/misshapen/bad key."""
    missing = [k for k in expected if k not in state]
    unexpected = sorted(str(k) for k in state if k not in expected)
    problems = []
    if missing and len(missing) == len(expected):
        problems.append("none of the TinyTransformerCodec keys are present")
    elif missing:
        problems.append(f"missing keys: {_fmt_keys(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_fmt_keys(unexpected)}")
    shapes, bad = [], []
    for k, ref in expected.items():
        v = state.get(k)
        if v is None:
            continue
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            bad.append(f"{k} ({type(v).__name__ if not isinstance(v, torch.Tensor) else v.dtype})")
        elif v.shape != ref.shape:
            shapes.append(f"{k} expected {tuple(ref.shape)}, found {tuple(v.shape)}")
        elif not v.is_meta and not torch.isfinite(v).all():
            bad.append(f"{k} (NaN/Inf values)")
    if shapes:
        problems.append(f"wrong shapes: {'; '.join(shapes)}")
    if bad:
        problems.append(f"not finite float tensors: {_fmt_keys(bad)}")
    if problems:
        variant = f"enc_base={config.enc_base}, output_padding={config.output_padding}"
        raise CheckpointError(
            path, f"not a valid codec state dict ({variant}): " + "; ".join(problems)
        )


def _fmt_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f", ... (+{more} more)" if more > 0 else "") if keys else "(none)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# -- saving -------------------------------------------------------------------
def save_codec(model: TinyTransformerCodec, path: str | Path, info: dict | None = None) -> None:
    """Write ``model`` in our safetensors format, atomically (temp file + rename).

    ``info`` is free-form JSON (training summary, commit, ...); a UTC
    ``saved_at`` time is added next to it.
    """
    from safetensors.torch import save_file

    meta = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "info": info or {},
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        meta_json = json.dumps(meta)
    except TypeError as exc:
        raise ValueError(f"info must be JSON-serialisable: {exc}") from None
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in _state(model)}
    _atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), {METADATA_KEY: meta_json}))


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
    state = {k: v.detach().cpu().clone() for k, v in _state(model)}
    gen = torch.Generator().manual_seed(0)
    if skip_convs:
        for i, c in enumerate(cfg.decoder_channels[:-1]):
            state[f"skip_convs.{i}.weight"] = torch.randn(c, 2 * c, 1, generator=gen) * 0.1
            state[f"skip_convs.{i}.bias"] = torch.zeros(c)
    if ema_buffers:
        for j in range(cfg.n_codebooks):
            state[f"quantizers.{j}.ema_cluster_size"] = torch.ones(cfg.codebook_size)
            state[f"quantizers.{j}.ema_w"] = state[f"quantizers.{j}.embedding.weight"].clone()
    _atomic_write(Path(path), lambda tmp: torch.save({"model_state_dict": state, **extra}, tmp))


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


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, then rename over ``path``."""
    with replacing(path) as tmp:
        write(tmp)
