"""Loading and saving Streaming Vocos generators, strictly and safely.

Two formats are read, recognised by content (not by file name):

* the seed's Lightning checkpoint (a torch zip/pickle): generator weights
  under ``state_dict['decoder.*']``, sizes from ``hyper_parameters`` (see
  :mod:`engine.models.vocos.seed`), unpickled through
  :mod:`engine.models.safe_pickle` so no code from the file runs;
* ours: the ``.safetensors`` layout of :mod:`engine.models.weights` with
  ``kind`` ``"vocos"`` (older files, with their info next to ``kind``, read too).

Anything else (missing/unexpected generator keys, wrong shapes, non-finite
weights, truncated/random/empty files, another kind of model) raises one
:class:`CheckpointError` naming the file and the problem.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from engine.models.errors import CheckpointError
from engine.models.file_limits import check_model_size, meta_state
from engine.models.safe_pickle import safe_torch_load
from engine.models.vocos.conv import WeightNormConv1d
from engine.models.vocos.generator import SEED_PREFIXES, VocosConfig, VocosGenerator, map_seed_keys
from engine.models.vocos.seed import config_from_hparams
from engine.models.weights import WeightsInfo, compare_state, read_header, sniff, write_weights

__all__ = ["load_vocos", "save_vocos", "seeded_vocos"]

log = logging.getLogger(__name__)

KIND = "vocos"


def seeded_vocos(config: VocosConfig | None = None, seed: int = 0) -> VocosGenerator:
    """A deterministically initialised generator (until trained weights exist), eval mode.

    Conv ``weight_v`` and Linear weights ~ truncated normal (std 0.02) from a
    private generator (the global RNG is untouched), ``weight_g = ||v||``,
    biases 0, LayerNorms identity, every ``gamma`` = the layer scale.
    """
    with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG
        model = VocosGenerator(config)
    gen = torch.Generator().manual_seed(seed)
    layer_scale = model.config.layer_scale_init or 1.0 / model.config.n_layers
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, WeightNormConv1d):
                torch.nn.init.trunc_normal_(module.weight_v, std=0.02, generator=gen)
                module.weight_g.copy_(module.weight_v.norm(dim=(1, 2), keepdim=True))
                module.bias.zero_()
            elif isinstance(module, torch.nn.Linear):
                torch.nn.init.trunc_normal_(module.weight, std=0.02, generator=gen)
                module.bias.zero_()
            elif isinstance(module, torch.nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()
        for block in model.backbone.convnext:
            block.gamma.fill_(layer_scale)
    return _ready(model, WeightsInfo(KIND, "seeded", info={"seed": seed}))


OLA_KEY = "head.istft.overlap_add.deconv.weight"


def load_vocos(path: str | os.PathLike[str]) -> VocosGenerator:
    """Load a seed Lightning checkpoint or one of our ``.safetensors`` files.

    Returns the generator in eval mode with ``model.config`` and
    ``model.weights_info`` (format, notes on inferred sizes, what the file records).
    """
    path = Path(path)
    if sniff(path, "Vocos") == "safetensors":
        return _load_ours(path)
    return _load_lightning(path)


def save_vocos(
    model: VocosGenerator,
    path: str | os.PathLike[str],
    info: dict | None = None,
    dtype: torch.dtype = torch.float32,
) -> None:
    """Write ``model`` as our ``.safetensors`` format, atomically (temp file + rename).

    ``info`` (JSON-able) is stored in the metadata.
    ``dtype=torch.float16`` halves the file (weights are float32 again once
    loaded; the rounding is far below what int8 inference already adds),
    which is what lets a second bundled vocoder fit the size budget.
    """
    if dtype not in (torch.float32, torch.float16):
        raise ValueError(f"dtype must be float32 or float16, got {dtype}")
    tensors = {
        k: v.detach().cpu().to(dtype).contiguous()
        for k, v in model.state_dict().items()
        if k != OLA_KEY  # a fixed 4 MB identity: rebuilt on load, not stored
    }
    write_weights(path, tensors, KIND, model.config.to_dict(), info)


# ----- reading -----------------------------------------------------------------


def _load_ours(path: Path) -> VocosGenerator:
    header = read_header(path, KIND, "vocoder", VocosConfig.from_dict)
    config, declared = header.config, header.declared
    expected = _expected_state(config, path)
    declared.setdefault(OLA_KEY, expected[OLA_KEY])
    _check_strict(expected, declared, path, str, config)  # before reading or allocating
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(path, f"not a readable .safetensors file ({exc})") from None
    model = VocosGenerator(config)
    tensors.setdefault(OLA_KEY, model.state_dict()[OLA_KEY])
    _load_strict(model, tensors, path, display=str)
    return _ready(model, header.info)


def _expected_state(config: VocosConfig, path: Path) -> dict[str, torch.Tensor]:
    """The generator's state for ``config`` on the meta device; refused if too large."""
    expected = meta_state(lambda: VocosGenerator(config))
    check_model_size(path, expected)
    return expected


def _load_lightning(path: Path) -> VocosGenerator:
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(path, f"not a Lightning checkpoint (holds a {type(ckpt).__name__})")
    state = ckpt.get("state_dict")
    if not isinstance(state, Mapping):
        hint = " (looks like a codec checkpoint)" if "model_state_dict" in ckpt else ""
        raise CheckpointError(path, f"no 'state_dict' in the checkpoint{hint}")
    generator = {k: v for k, v in state.items() if isinstance(k, str) and k.startswith("decoder.")}
    if not generator:
        raise CheckpointError(path, "no Vocos generator weights ('decoder.*') in state_dict")
    ours = map_seed_keys(generator)
    config, notes = config_from_hparams(ckpt.get("hyper_parameters"), ours, path)
    for note in notes:
        log.warning("%s: %s", path, note)
    _check_strict(_expected_state(config, path), ours, path, _seed_name, config)
    model = VocosGenerator(config)
    _load_strict(model, ours, path, display=_seed_name)
    info = WeightsInfo(KIND, "lightning", notes=tuple(notes), info={"epoch": ckpt.get("epoch")})
    return _ready(model, info)


def _seed_name(key: str) -> str:
    for seed, ours in SEED_PREFIXES.items():
        if key.startswith(ours):
            return seed + key[len(ours) :]
    return key


def _load_strict(
    model: VocosGenerator,
    state: Mapping[str, Any],
    path: Path,
    display: Callable[[str], str],
) -> None:
    """Exactly the model's keys, shapes and finite float values, or a CheckpointError."""
    expected = model.state_dict()
    _check_strict(expected, state, path, display, model.config)
    if not torch.equal(state[OLA_KEY].float(), expected[OLA_KEY]):
        raise CheckpointError(path, "the overlap-add kernel is not the identity")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


def _check_strict(
    expected: Mapping[str, torch.Tensor],
    state: Mapping[str, Any],
    path: Path,
    display: Callable[[str], str],
    config: VocosConfig,
) -> None:
    """Keys, shapes and float dtypes; values too unless ``state`` holds meta tensors."""
    report = compare_state(expected, state)
    if report.missing or report.unexpected:
        missing = [display(k) for k in report.missing]
        unexpected = [display(k) for k in report.unexpected]
        raise CheckpointError(
            path, "does not match the Vocos generator: " + _key_report(missing, unexpected)
        )
    if report.tensors:
        p = report.tensors[0]
        problem = {
            "dtype": "is not a float tensor",
            "shape": f"has shape {p.found}, expected {p.expected} for {config}",
            "values": "contains NaN or Inf",
        }[p.what]
        raise CheckpointError(path, f"{display(p.key)} {problem}")


def _key_report(missing: list[str], unexpected: list[str], show: int = 4) -> str:
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected)):
        if keys:
            more = f" (+{len(keys) - show} more)" if len(keys) > show else ""
            parts.append(f"{label} key(s) {', '.join(keys[:show])}{more}")
    return "; ".join(parts)


def _ready(model: VocosGenerator, info: WeightsInfo) -> VocosGenerator:
    model.eval()
    model.fold_weight_norm()
    model.weights_info = info
    return model
