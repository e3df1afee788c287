"""Our weights files, one format for both models, and what a loaded model knows of its file.

A file's first bytes, not its suffix, say what it is (:func:`sniff`): a
``.safetensors`` file (ours), or a torch zip/pickle (the seed formats, read
by :mod:`engine.models.codec.seed` and :mod:`engine.models.vocos.seed`).

Ours is one ``.safetensors`` file whose metadata key ``"streamvox"`` holds
JSON, the same layout for both models::

    {"kind": "tiny_codec" | "vocos", "format_version": 1, "config": {...},
     "info": {...free-form: training summary, output_delay_samples, ...},
     "saved_at": "2026-12-06T07:26:21+00:00"}

Vocos files written before the layouts were one put their free-form info
next to ``kind`` and ``config`` instead of under ``info``; they still read
(any key outside the layout's is taken as info). :func:`write_weights` writes
through :func:`engine.atomic_file.replacing`, so readers never see half a
file. Every loaded model carries a :class:`WeightsInfo` (``model.weights_info``),
among it the output delay its weights were trained with.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from engine.atomic_file import replacing
from engine.models.errors import CheckpointError
from engine.models.file_limits import declared_tensors

METADATA_KEY = "streamvox"
FORMAT_VERSION = 1
#: The keys of the layout; a file with others is an older Vocos file (flat info).
LAYOUT_KEYS = frozenset({"kind", "format_version", "config", "info", "saved_at"})
#: The info key that records the output delay (samples) the weights were trained with.
DELAY_KEY = "output_delay_samples"

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80
_MAX_LISTED = 8

C = TypeVar("C")


@dataclass(frozen=True)
class WeightsInfo:
    """What a model's weights file says about them (``model.weights_info``).

    ``format``: ``"streamvox"`` (ours), ``"seed"`` (the seed codec's ``.pt``),
    ``"lightning"`` (the seed vocoder's checkpoint) or ``"seeded"`` (no file:
    a deterministic initialisation). ``output_delay``: samples by which the
    model's output lags its input, as recorded at training (0 if not
    recorded). ``notes``: what the loader had to infer. ``info``: the
    free-form info the file records.
    """

    kind: str
    format: str = "seeded"
    output_delay: int = 0
    notes: tuple[str, ...] = ()
    saved_at: str | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int | None:
        """Training steps, where the file records them."""
        steps = self.info.get("steps")
        return steps if isinstance(steps, int) and not isinstance(steps, bool) else None


def recorded_delay(model: torch.nn.Module) -> int:
    """The output delay ``model``'s weights record (0 for a model not loaded from a file)."""
    info = getattr(model, "weights_info", None)
    return info.output_delay if isinstance(info, WeightsInfo) else 0


# -- reading ---------------------------------------------------------------------------------
def looks_like_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length, then a JSON object."""
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 2 <= n < 100_000_000


def sniff(path: Path, label: str) -> str:
    """``"safetensors"`` or ``"torch"`` from the file's first bytes, else a CheckpointError."""
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
    # safetensors first: its little-endian header size may well start with 0x80
    if looks_like_safetensors(head):
        return "safetensors"
    if head.startswith(_ZIP_MAGIC) or head[0] == _PICKLE_PROTO:
        return "torch"
    raise CheckpointError(
        path, f"not a {label} checkpoint: neither a PyTorch checkpoint nor a safetensors file"
    )


@dataclass(frozen=True)
class Header:
    """What the safetensors header of one of our files says, before any tensor is read."""

    config: Any
    info: WeightsInfo
    declared: dict[str, torch.Tensor]


def read_header(
    path: Path, kind: str, label: str, config_from_dict: Callable[[Any], C]
) -> Header:
    """The config, info and declared tensor shapes of one of our ``kind`` files, or an error."""
    meta, declared = declared_tensors(path)
    header = _metadata(path, meta)
    found = header.get("kind")
    if found is None:
        raise CheckpointError(
            path, f"its '{METADATA_KEY}' metadata does not say which model it holds"
        )
    if found != kind:
        raise CheckpointError(path, f"holds a {found!r} model, not a {kind!r} ({label}) model")
    version = header.get("format_version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise CheckpointError(
            path, f"format_version {version!r} is not supported (this build reads {FORMAT_VERSION})"
        )
    try:
        config = config_from_dict(header.get("config"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"invalid {label} config: {exc}") from None
    return Header(config, _info(path, kind, header), declared)


def read_info(path: str | Path) -> WeightsInfo | None:
    """The info one of our files records, from its header alone; None for any other file."""
    path = Path(path)
    try:
        if sniff(path, "model") != "safetensors":
            return None
        meta, _ = declared_tensors(path)
        header = _metadata(path, meta)
        return _info(path, str(header.get("kind")), header)
    except CheckpointError:  # unreadable, or not one of ours: nothing recorded
        return None


def _metadata(path: Path, meta: Mapping[str, str]) -> dict[str, Any]:
    if METADATA_KEY not in meta:
        raise CheckpointError(
            path, f"a safetensors file without '{METADATA_KEY}' metadata: not a streamvox model"
        )
    try:
        header = json.loads(meta[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(path, f"'{METADATA_KEY}' metadata is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise CheckpointError(path, f"'{METADATA_KEY}' metadata must be a JSON object")
    return header


def _info(path: Path, kind: str, header: Mapping[str, Any]) -> WeightsInfo:
    flat = {k: v for k, v in header.items() if k not in LAYOUT_KEYS}
    if flat:  # an older Vocos file: its info next to kind and config
        info = flat
    else:
        nested = header.get("info")
        info = nested if isinstance(nested, dict) else {}
    try:
        delay = int(info.get(DELAY_KEY, 0))
    except (TypeError, ValueError):
        raise CheckpointError(path, f"{DELAY_KEY} {info[DELAY_KEY]!r} is not a number") from None
    saved = header.get("saved_at")
    saved_at = saved if isinstance(saved, str) else None
    return WeightsInfo(kind, "streamvox", delay, saved_at=saved_at, info=info)


# -- writing ---------------------------------------------------------------------------------
def write_weights(
    path: str | Path,
    tensors: Mapping[str, torch.Tensor],
    kind: str,
    config: Mapping[str, Any],
    info: Mapping[str, Any] | None = None,
) -> None:
    """Write ``tensors`` as one of our files, atomically; a UTC ``saved_at`` is added.

    ``info`` is free-form JSON (training summary, commit, the output delay under
    :data:`DELAY_KEY`, ...) without the layout's own keys.
    """
    from safetensors.torch import save_file

    clash = LAYOUT_KEYS & set(info or {})
    if clash:
        raise ValueError(f"info must not set {sorted(clash)}: the layout's own keys")
    meta = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "config": dict(config),
        "info": dict(info or {}),
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        meta_json = json.dumps(meta)
    except TypeError as exc:
        raise ValueError(f"info must be JSON-serialisable: {exc}") from None
    with replacing(path) as tmp:
        save_file(dict(tensors), str(tmp), metadata={METADATA_KEY: meta_json})


# -- the strict checks -----------------------------------------------------------------------
@dataclass(frozen=True)
class TensorProblem:
    """What is wrong with one tensor: ``what`` is ``dtype``, ``shape`` or ``values``."""

    key: str
    what: str
    found: str = ""  # the type or dtype, or the shape
    expected: tuple[int, ...] = ()


@dataclass(frozen=True)
class StateReport:
    """How a state dict differs from the one a model expects (each model words it)."""

    missing: tuple[str, ...]  # in the model's order
    unexpected: tuple[str, ...]  # in the state's order
    tensors: tuple[TensorProblem, ...]  # the first problem of each tensor, model's order

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.tensors)


def compare_state(expected: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> StateReport:
    """Keys, float dtypes, shapes, and finite values (not of meta tensors: they have none)."""
    problems = []
    for key, want in expected.items():
        if key not in state:
            continue
        got = state[key]
        if not isinstance(got, torch.Tensor) or not got.is_floating_point():
            found = str(got.dtype) if isinstance(got, torch.Tensor) else type(got).__name__
            problems.append(TensorProblem(key, "dtype", found))
        elif got.shape != want.shape:
            problems.append(TensorProblem(key, "shape", str(tuple(got.shape)), tuple(want.shape)))
        elif not got.is_meta and not torch.isfinite(got).all():
            problems.append(TensorProblem(key, "values"))
    return StateReport(
        tuple(k for k in expected if k not in state),
        tuple(str(k) for k in state if k not in expected),
        tuple(problems),
    )


# -- error text ------------------------------------------------------------------------------
def fmt_keys(keys: Sequence[str], most: int = _MAX_LISTED) -> str:
    """``a, b, ... (+N more)``, or ``(none)``."""
    if not keys:
        return "(none)"
    more = len(keys) - most
    return ", ".join(keys[:most]) + (f", ... (+{more} more)" if more > 0 else "")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
