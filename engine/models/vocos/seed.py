"""The seed's PyTorch Lightning checkpoint format (``epoch=3.ckpt``): read and write.

Reading: sizes come from ``hyper_parameters`` (the training module's
constructor arguments ``vocoder_feature_args`` / ``vocoder_args`` /
``istft_head_args``, often pickled instances of the training code's own
dataclasses, which arrive here as inert placeholders) and, where those are
missing or unreadable, from the tensor shapes (recorded in ``notes``).

Writing (:func:`save_lightning_checkpoint`, over
:func:`write_lightning_checkpoint`) reproduces the format, foreign class
paths included, so that tests prove the reader on the real thing.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from engine.atomic_file import replacing
from engine.models.errors import CheckpointError
from engine.models.safe_pickle import to_plain
from engine.models.vocos.config import VocosConfig

if TYPE_CHECKING:
    from engine.models.vocos.generator import VocosGenerator

# Where the seed's training code keeps its argument dataclasses and Lightning
# its AttributeDict: neither exists here, which is the point.
FOREIGN_ARGS_MODULE = "src.models.utils.data_classes"
FOREIGN_DICT_MODULE = "lightning_fabric.utilities.data"
SEED_DEFAULT_HOP = 320
SEED_DEFAULT_SAMPLE_RATE = 16000


def _section(hp: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = hp.get(name)
    return dict(value) if isinstance(value, Mapping) else {}


def _check_supported(path: Path, feat: dict, voc: dict, n_fft: int | None, sr: int) -> None:
    """Refuse hyper-parameters whose model this implementation would compute differently."""
    wanted = {
        ("vocoder_args", "causal"): (voc, True),
        ("vocoder_args", "dilation"): (voc, 1),
        ("vocoder_args", "norm"): (voc, "weight_norm"),
        ("vocoder_args", "pad_mode"): (voc, "constant"),
        ("vocoder_feature_args", "causal"): (feat, True),
        ("vocoder_feature_args", "pad_mode"): (feat, "constant"),
        ("vocoder_feature_args", "f_min"): (feat, 0.0),
    }
    for (section, key), (values, expected) in wanted.items():
        if key in values and values[key] != expected:
            raise CheckpointError(
                path, f"unsupported {section}.{key}={values[key]!r} (only {expected!r} works)"
            )
    if feat.get("win_length") not in (None, n_fft):
        raise CheckpointError(path, f"unsupported win_length {feat['win_length']} != n_fft {n_fft}")
    if feat.get("f_max") not in (None, sr / 2):
        raise CheckpointError(path, f"unsupported f_max {feat['f_max']} (only sample_rate/2)")


def _agree(path: Path, name: str, *values: Any) -> Any:
    """The one value that all given (non-None) hyper-parameters state for ``name``."""
    found: list[Any] = []
    for value in values:
        if value is not None and value not in found:
            found.append(value)
    if len(found) > 1:
        raise CheckpointError(path, f"hyper_parameters disagree on {name}: {found}")
    return found[0] if found else None


def infer_sizes(state: Mapping[str, torch.Tensor], path: Path) -> dict[str, int]:
    """Sizes readable from generator tensor shapes (our key names)."""
    try:
        embed = state["backbone.embed.conv.conv.weight_v"]
        pw1 = state["backbone.convnext.0.pwconv1.weight"]
        out = state["head.out.weight"]
    except KeyError as exc:
        raise CheckpointError(path, f"cannot read the model sizes: missing {exc.args[0]}") from None
    blocks = {k.split(".")[2] for k in state if k.startswith("backbone.convnext.")}
    return {
        "dim": int(embed.shape[0]),
        "n_mels": int(embed.shape[1]),
        "kernel": int(embed.shape[2]),
        "intermediate_dim": int(pw1.shape[0]),
        "n_layers": len(blocks),
        "n_fft": int(out.shape[0]) - 2,
    }


def config_from_hparams(
    hparams: Any, state: Mapping[str, torch.Tensor], path: Path
) -> tuple[VocosConfig, list[str]]:
    """Config from ``hyper_parameters`` (any shape of it), completed from tensor shapes.

    Returns the config and human-readable notes on everything that was not
    read from the hyper-parameters.
    """
    notes: list[str] = []
    try:
        hp = to_plain(hparams)
    except (ValueError, RecursionError):
        hp = None
    if not isinstance(hp, Mapping) or not hp:
        hp = {}
        notes.append("no readable hyper_parameters: sizes inferred from tensor shapes")
    feat = _section(hp, "vocoder_feature_args")
    voc = _section(hp, "vocoder_args")
    head = _section(hp, "istft_head_args")
    try:
        stated = _stated_sizes(path, hp, feat, voc, head)
        sr = stated["sample_rate"]
        sr = SEED_DEFAULT_SAMPLE_RATE if sr is None else sr
        _check_supported(path, feat, voc, stated["n_fft"], sr)
    except CheckpointError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(path, f"unreadable hyper_parameters: {exc}") from None
    inferred = infer_sizes(state, path)
    inferred.update(hop=SEED_DEFAULT_HOP, sample_rate=SEED_DEFAULT_SAMPLE_RATE)
    values: dict[str, Any] = {}
    for key, value in stated.items():
        if value is None:
            values[key] = inferred[key]
            how = "tensor shapes" if key not in ("hop", "sample_rate") else "the seed's default"
            notes.append(f"{key}={inferred[key]} not in hyper_parameters: taken from {how}")
        else:
            values[key] = value
    ls = voc.get("layer_scale_init_value")
    values["layer_scale_init"] = float(ls) if isinstance(ls, (int, float)) and ls > 0 else None
    try:
        return VocosConfig.from_dict(values), notes
    except (ValueError, TypeError) as exc:
        raise CheckpointError(path, f"bad hyper_parameters: {exc}") from None


def _stated_sizes(
    path: Path, hp: Mapping[str, Any], feat: dict, voc: dict, head: dict
) -> dict[str, Any]:
    """Every config size the hyper-parameters state (``None`` where they do not)."""
    dim = _agree(path, "dim", voc.get("dim"), head.get("dim"))
    ratio = voc.get("mlp_ratio")
    return {
        "n_mels": _agree(path, "n_mels", feat.get("n_mels"), voc.get("input_channels")),
        "dim": dim,
        "intermediate_dim": int(ratio * dim) if ratio is not None and dim is not None else None,
        "n_layers": voc.get("num_layers"),
        "kernel": voc.get("kernel_size"),
        "n_fft": _agree(path, "n_fft", feat.get("n_fft"), head.get("n_fft")),
        "hop": _agree(path, "hop", feat.get("hop_length"), head.get("hop_length")),
        "sample_rate": _agree(path, "sample_rate", hp.get("sample_rate"), feat.get("sample_rate")),
    }


# ----- writing the seed's format ------------------------------------------------


def _foreign_classes() -> dict[str, type]:
    """Dataclasses shaped like the seed's, claiming to live in :data:`FOREIGN_ARGS_MODULE`."""
    specs = {
        "VocoderFeatureArgs": [
            ("sample_rate", int), ("n_fft", int), ("win_length", int), ("hop_length", int),
            ("n_mels", int), ("f_min", float), ("f_max", Any), ("causal", bool),
            ("pad_mode", str),
        ],
        "VocosVocoderArgs": [
            ("input_channels", int), ("dim", int), ("mlp_ratio", float), ("kernel_size", int),
            ("dilation", int), ("norm", str), ("causal", bool), ("pad_mode", str),
            ("num_layers", int), ("layer_scale_init_value", float),
        ],
        "ISTFTHeadArgs": [("dim", int), ("n_fft", int), ("hop_length", int)],
        "Lambdas": [("mel_loss", float), ("adv_feat_loss", float), ("adv_gen_loss", float)],
    }  # fmt: skip
    classes: dict[str, type] = {}
    for name, fields in specs.items():
        cls = dataclasses.make_dataclass(name, fields)
        cls.__module__ = FOREIGN_ARGS_MODULE
        classes[name] = cls
    attribute_dict = type("AttributeDict", (dict,), {"__module__": FOREIGN_DICT_MODULE})
    classes["AttributeDict"] = attribute_dict
    return classes


@contextmanager
def _foreign_modules(classes: dict[str, type]) -> Iterator[None]:
    """Make the foreign modules importable for pickling only, then remove them again."""
    added: list[str] = []
    try:
        for cls in classes.values():
            parts = cls.__module__.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if name not in sys.modules:
                    sys.modules[name] = types.ModuleType(name)
                    added.append(name)
                elif name not in added:
                    raise RuntimeError(f"module {name} exists here; cannot fake it")
            setattr(sys.modules[cls.__module__], cls.__qualname__, cls)
        yield
    finally:
        for name in reversed(added):
            sys.modules.pop(name, None)


def _hparams(config: VocosConfig, classes: dict[str, type] | None) -> Any:
    c = config
    ratio = c.intermediate_dim / c.dim
    if int(ratio * c.dim) != c.intermediate_dim:
        raise ValueError(f"intermediate_dim {c.intermediate_dim} is not int(mlp_ratio * dim)")
    sections = {
        "vocoder_feature_args": dict(
            sample_rate=c.sample_rate, n_fft=c.n_fft, win_length=c.n_fft, hop_length=c.hop,
            n_mels=c.n_mels, f_min=0.0, f_max=None, causal=True, pad_mode="constant",
        ),
        "vocoder_args": dict(
            input_channels=c.n_mels, dim=c.dim, mlp_ratio=ratio, kernel_size=c.kernel,
            dilation=1, norm="weight_norm", causal=True, pad_mode="constant",
            num_layers=c.n_layers, layer_scale_init_value=c.layer_scale_init or 0.0,
        ),
        "istft_head_args": dict(dim=c.dim, n_fft=c.n_fft, hop_length=c.hop),
        "lambdas": dict(mel_loss=15.0, adv_feat_loss=2.0, adv_gen_loss=1.0),
    }  # fmt: skip
    names = {
        "vocoder_feature_args": "VocoderFeatureArgs",
        "vocoder_args": "VocosVocoderArgs",
        "istft_head_args": "ISTFTHeadArgs",
        "lambdas": "Lambdas",
    }
    hp: dict[str, Any] = {"sample_rate": c.sample_rate, "encoder_dim": c.dim}
    for key, values in sections.items():
        hp[key] = classes[names[key]](**values) if classes else values
    hp.update(learning_rate=1e-4, lr_betas=[0.8, 0.99], lr_sch_gamma=0.999996)
    hp.update(decoder_pretrained=False, decoder_path=None)
    return classes["AttributeDict"](hp) if classes else hp


def _training_entries(generator_keys: int, seed: int = 0) -> dict[str, Any]:
    """Discriminator / loss weights and trainer state that a reader must ignore."""
    g = torch.Generator().manual_seed(seed)
    state = {
        "discriminator.discriminators.0.convs.0.weight_v": torch.randn(32, 1, 5, 1, generator=g),
        "discriminator.discriminators.0.convs.0.weight_g": torch.rand(32, 1, 1, 1, generator=g),
        "discriminator.discriminators.0.convs.0.bias": torch.zeros(32),
        "discriminator.discriminators.1.conv_post.weight": torch.randn(1, 32, 3, 1, generator=g),
        "melspec_loss.mel_basis": torch.rand(80, 513, generator=g),
        "gan_loss.discriminator.discriminators.0.convs.0.bias": torch.zeros(32),
    }
    optim = {
        "state": {0: {"step": torch.tensor(1000.0), "exp_avg": torch.zeros(4)}},
        "param_groups": [{"lr": 1e-4, "betas": (0.8, 0.99), "params": list(range(generator_keys))}],
    }
    return {
        "train_state": state,
        "epoch": 3,
        "global_step": 120000,
        "pytorch-lightning_version": "2.1.3",
        "loops": {"fit_loop": {"state_dict": {}, "epoch_progress": {"current": {"completed": 3}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val/mel/loss'}": {"best_model_score": None}},
        "optimizer_states": [optim, {"state": {}, "param_groups": []}],
        "lr_schedulers": [{"gamma": 0.999996, "last_epoch": 3}],
        "hparams_name": "kwargs",
    }


def save_lightning_checkpoint(
    model: VocosGenerator, path: str | os.PathLike[str], *, foreign_hparams: bool = True
) -> None:
    """Write ``model`` in the seed's Lightning format (for tests and interchange).

    With ``foreign_hparams`` the hyper-parameters are instances of classes
    from modules that exist only while saving (``src.models.utils...``,
    ``lightning_fabric...``); otherwise plain dicts. Also writes fake
    discriminator / loss weights and trainer state that readers must ignore.
    """
    state = model.state_dict()
    with replacing(path) as tmp:
        write_lightning_checkpoint(state, model.config, tmp, foreign=foreign_hparams)


def write_lightning_checkpoint(
    state: Mapping[str, torch.Tensor], config: VocosConfig, path: Path, *, foreign: bool
) -> None:
    """``torch.save`` a seed-format checkpoint; ``state`` uses our ``backbone.``/``head.`` keys."""
    inverse = {"backbone.": "decoder.0.", "head.": "decoder.1."}
    sd: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        prefix = next(p for p in inverse if key.startswith(p))
        sd[inverse[prefix] + key[len(prefix) :]] = value.detach().cpu().clone()
    extra = _training_entries(len(sd))
    sd.update(extra.pop("train_state"))
    classes = _foreign_classes() if foreign else None
    ckpt = {"state_dict": sd, **extra, "hyper_parameters": _hparams(config, classes)}
    if classes is None:
        torch.save(ckpt, path)
        return
    with _foreign_modules(classes):
        torch.save(ckpt, path)
