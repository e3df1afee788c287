"""Size checks made before a model file may allocate memory.

A few hundred bytes of metadata can describe a model of many gigabytes, and
a 2 MB zip-compressed ``.pt`` can inflate to gigabytes. So before anything
large is allocated: the configs bound each field (``MAX_SIZES`` in
:mod:`engine.models.vocos.config` and :mod:`engine.models.codec.model`), the
model a config describes is sized on torch's ``meta`` device (no memory) and
capped at :data:`MAX_PARAMETERS`, a safetensors file's declared shapes are
read from its header alone and compared with that model, and a zip's
declared uncompressed sizes are capped at :data:`MAX_ZIP_BYTES` before any
entry is inflated.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from engine.models.errors import CheckpointError

#: Largest model accepted: 150 M parameters (600 MB as float32), over ten times
#: the seed vocoder (13.5 M) and two hundred times the seed codec (0.6 M).
MAX_PARAMETERS = 150_000_000
#: Largest total uncompressed size of a torch ``.pt`` zip: a Lightning
#: checkpoint also carries discriminators and optimiser moments (about 4x).
MAX_ZIP_BYTES = 4 * 4 * MAX_PARAMETERS
#: Most entries a ``.pt`` zip may list (one per tensor storage, plus a few).
MAX_ZIP_ENTRIES = 100_000

_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def meta_state(build: Callable[[], nn.Module]) -> dict[str, torch.Tensor]:
    """The state dict ``build()`` would have, on the meta device: shapes, no memory.

    Only ops with native meta kernels may run here. Others (``torch.eye``,
    ``torch.hann_window``, elementwise maths, ``normal_``) fall back to torch's
    Python decompositions, which import ``torch._dynamo`` -- left out of the
    frozen app, where they fail. So the modules build their fixed buffers
    without them (:func:`engine.dsp.mel.periodic_hann`, ``IdentityKernel``),
    and parameter initialisers, which only draw values that meta tensors do
    not have, are skipped (:class:`_NoInitOnMeta`).
    """
    with torch.device("meta"), _NoInitOnMeta():
        return build().state_dict()


#: In-place random fills a module constructor may call directly on a parameter.
_RANDOM_FILLS = frozenset(
    {
        torch.Tensor.normal_,
        torch.Tensor.uniform_,
        torch.Tensor.bernoulli_,
        torch.Tensor.cauchy_,
        torch.Tensor.exponential_,
        torch.Tensor.geometric_,
        torch.Tensor.log_normal_,
        torch.Tensor.random_,
    }
)


class _NoInitOnMeta(TorchFunctionMode):
    """``torch.nn.init.*`` and random fills leave a meta tensor as it is.

    A meta tensor has a shape and no values, so there is nothing to draw; on
    the meta device some initialisers (``normal_``, ``trunc_normal_``) would
    otherwise go through torch's Python decompositions (see :func:`meta_state`).
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor")  # nn.init passes it by keyword
        if (
            isinstance(target, torch.Tensor)
            and target.is_meta
            and (getattr(func, "__module__", None) == "torch.nn.init" or func in _RANDOM_FILLS)
        ):
            return target
        return func(*args, **kwargs)


def check_model_size(path: str | Path | None, state: Mapping[str, torch.Tensor]) -> None:
    """Refuse a model (as described by ``state``) over :data:`MAX_PARAMETERS`."""
    count = sum(t.numel() for t in state.values())
    if count > MAX_PARAMETERS:
        raise CheckpointError(
            path,
            f"describes a model of {count / 1e6:,.0f} M parameters, more than this build "
            f"accepts ({MAX_PARAMETERS / 1e6:,.0f} M): refused before allocating it",
        )


def declared_tensors(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """A safetensors file's metadata and its tensors as meta tensors (header only, no data)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            shapes = {k: _meta_tensor(f.get_slice(k)) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # SafetensorError and I/O errors alike  # noqa: BLE001
        text = str(exc).strip().splitlines()
        detail = text[0] if text else type(exc).__name__
        raise CheckpointError(path, f"truncated or corrupt safetensors file: {detail}") from None
    return meta, shapes


def _meta_tensor(view: object) -> torch.Tensor:
    dtype = _SAFETENSORS_DTYPES.get(view.get_dtype(), torch.uint8)  # type: ignore[attr-defined]
    return torch.empty(view.get_shape(), dtype=dtype, device="meta")  # type: ignore[attr-defined]


def check_zip_sizes(path: Path) -> None:
    """Refuse a zip whose entries would inflate past :data:`MAX_ZIP_BYTES`, before inflating.

    Sizes come from the central directory, which is what torch's reader
    allocates by. Files that are not zips are left to the loader.
    """
    try:
        if not zipfile.is_zipfile(path):
            return
        with zipfile.ZipFile(path) as zf:
            entries = zf.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return  # the loader reports the unreadable file in its own words
    if len(entries) > MAX_ZIP_ENTRIES:
        raise CheckpointError(path, f"lists {len(entries):,} zip entries: not a model checkpoint")
    total = sum(e.file_size for e in entries)
    if total > MAX_ZIP_BYTES:
        raise CheckpointError(
            path,
            f"would inflate to {total / 2**30:,.1f} GiB, more than a checkpoint of the largest "
            f"accepted model ({MAX_ZIP_BYTES / 2**30:,.1f} GiB): refused before reading it",
        )
