"""The meta-device size check needs none of torch's compiler modules.

:func:`engine.models.file_limits.meta_state` builds a model on the ``meta``
device. Ops there without a native meta kernel (``torch.eye``,
``torch.hann_window``, ``normal_``, elementwise maths) go through torch's
Python decompositions, which import ``torch._dynamo``; the frozen app leaves
that out (``packaging/pyinstaller/streamvox.spec``), so every model load
failed there with ``No module named 'torch._dynamo'``.

The checks run in a fresh child: any other test that imported ``torch._dynamo``
(directly or through a decomposition) would otherwise hide the import.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.dsp.mel import periodic_hann
from engine.models.codec.checkpoint import save_codec, seeded_codec
from engine.models.codec.model import CodecConfig, TinyTransformerCodec
from engine.models.codec.seed import save_seed_checkpoint
from engine.models.file_limits import meta_state
from engine.models.vocos.checkpoint import save_vocos, seeded_vocos
from engine.models.vocos.generator import VocosConfig, VocosGenerator
from engine.models.vocos.head import IdentityKernel
from engine.models.vocos.seed import save_lightning_checkpoint
from tests.hostile_files import run_capped, safetensors_without_tensors

#: Left out of the frozen app (TORCH_UNUSED in the spec) and not imported by ``import torch``.
COMPILER_MODULES = ("torch._dynamo", "torch._inductor", "sympy")
#: Peak memory of the child: torch is about 250 MB; a real 8192x8192 identity is 256 MB more.
MAX_RSS_MB = 450

_CHILD_PRELUDE = f"""
import sys
NAMES = {COMPILER_MODULES!r}

def compiler_modules():
    return sorted(m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in NAMES))

import torch
from engine.models import file_limits
from engine.models.codec import checkpoint as codec_checkpoint
from engine.models.vocos import checkpoint as vocos_checkpoint
from engine.models.codec.model import CodecConfig, TinyTransformerCodec
from engine.models.vocos.generator import VocosConfig, VocosGenerator
already = compiler_modules()
"""


def _child(code: str) -> dict:
    result = run_capped(_CHILD_PRELUDE + code + "\nresult['imported'] = compiler_modules()")
    assert "error" not in result, result
    assert result["already"] == [], result  # the check below means something
    assert result["imported"] == [], result
    return result


def test_meta_state_of_both_model_kinds_imports_no_compiler_module():
    result = _child(
        """
        configs = [
            VocosConfig(),
            VocosConfig(mag_prior=True, layer_scale_init=0.125),
            # the largest n_fft and n_mels the bounds allow: the identity
            # overlap-add kernel alone would be 256 MB if it were real
            VocosConfig(n_fft=8192, hop=2048, n_mels=512, sample_rate=48000, mag_prior=True),
        ]
        sizes = []
        for c in configs:
            state = file_limits.meta_state(lambda: VocosGenerator(c))
            assert {t.device.type for t in state.values()} == {"meta"}, c
            sizes.append(sum(t.numel() for t in state.values()))
        wide = CodecConfig(latent_dim=128, d_model=256, ffn_dim=1024, n_transformer=6)
        for c in (CodecConfig(), wide):
            state = file_limits.meta_state(lambda: TinyTransformerCodec(c))
            assert {t.device.type for t in state.values()} == {"meta"}, c
            sizes.append(sum(t.numel() for t in state.values()))
        result = {"sizes": sizes, "already": already}
        """.replace("\n        ", "\n")
    )
    assert result["sizes"][2] > 8192 * 8192  # the identity kernel is counted, not allocated
    assert result["maxrss_mb"] < MAX_RSS_MB, result


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:
    """One file of every format the two loaders read, written here, not in the child."""
    d = tmp_path_factory.mktemp("models")
    vocos = seeded_vocos(VocosConfig(dim=64, intermediate_dim=128, n_layers=2), seed=1)
    prior = seeded_vocos(
        VocosConfig(dim=64, intermediate_dim=128, n_layers=2, mag_prior=True), seed=2
    )
    codec = seeded_codec(3)
    files = {
        "vocos": d / "v.safetensors",
        "vocos_prior": d / "vp.safetensors",
        "lightning": d / "v.ckpt",
        "codec": d / "c.safetensors",
        "codec_seed": d / "c.pt",
        "too_big": d / "big.safetensors",
    }
    save_vocos(vocos, files["vocos"])
    save_vocos(prior, files["vocos_prior"])
    save_lightning_checkpoint(vocos, files["lightning"])
    save_codec(codec, files["codec"])
    save_seed_checkpoint(codec, files["codec_seed"])
    big = {"dim": 4096, "intermediate_dim": 16384, "n_layers": 48}
    safetensors_without_tensors(
        files["too_big"], {"kind": "vocos", "format_version": 1, "config": big}
    )
    return files


def test_loading_both_model_kinds_imports_no_compiler_module(model_files):
    paths = {k: str(v) for k, v in model_files.items()}
    result = _child(
        f"""
        paths = {paths!r}
        loaded = {{}}
        for key in ("vocos", "vocos_prior", "lightning"):
            loaded[key] = type(vocos_checkpoint.load_vocos(paths[key])).__name__
        for key in ("codec", "codec_seed"):
            loaded[key] = type(codec_checkpoint.load_codec(paths[key])).__name__
        try:
            vocos_checkpoint.load_vocos(paths["too_big"])
        except Exception as exc:
            loaded["too_big"] = type(exc).__name__ + ": " + str(exc)
        result = {{"loaded": loaded, "already": already}}
        """.replace("\n        ", "\n")
    )
    loaded = result["loaded"]
    assert {loaded[k] for k in ("vocos", "vocos_prior", "lightning")} == {"VocosGenerator"}
    assert {loaded[k] for k in ("codec", "codec_seed")} == {"TinyTransformerCodec"}
    assert loaded["too_big"].startswith("CheckpointError") and "parameters" in loaded["too_big"]


def test_fixed_buffers_keep_their_values():
    """What replaced ``torch.eye`` / ``torch.hann_window`` gives the same tensors."""
    for n in (8, 512, 1024):
        assert torch.equal(IdentityKernel(n).weight, torch.eye(n).unsqueeze(1))
        hann = torch.hann_window(n, periodic=True, dtype=torch.float32)
        assert torch.equal(periodic_hann(n), hann)


def test_meta_state_matches_the_real_state_dict():
    """Same keys, shapes and dtypes as a real build, parameter initialisers skipped or not."""
    for build in (
        lambda: VocosGenerator(VocosConfig(dim=64, intermediate_dim=128, n_layers=2)),
        lambda: TinyTransformerCodec(CodecConfig()),
    ):
        meta = meta_state(build)
        real = build().state_dict()
        assert list(meta) == list(real)
        for key, tensor in real.items():
            assert meta[key].is_meta
            assert (meta[key].shape, meta[key].dtype) == (tensor.shape, tensor.dtype), key
