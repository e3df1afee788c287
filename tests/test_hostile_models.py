"""Tiny hostile model files are refused before they allocate (issue 15, item 1).

Each case runs in a child process whose address space is capped at 3 GiB
(enough for torch); the files ask for far more.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.hostile_files import (
    CHILD_LIMIT,
    ROOT,
    run_capped,
    safetensors_without_tensors,
    zip_bomb_pt,
)

#: Peak memory a refused file may cost (torch alone is about 250 MB).
MAX_RSS_MB = 500


def _vocos_meta(**config: object) -> dict:
    return {"kind": "vocos", "format_version": 1, "config": config}


def _load(loader: str, path: Path) -> dict:
    module, func = {
        "vocos": ("engine.models.vocos.checkpoint", "load_vocos"),
        "codec": ("engine.models.codec.checkpoint", "load_codec"),
        "any": ("engine.store.validate", "validate_model_file"),
    }[loader]
    return run_capped(
        f"""
        from {module} import {func}
        {func}({str(path)!r})
        result = {{"loaded": True}}
        """
    )


def _refused(result: dict, *words: str) -> None:
    assert result.get("error", "").startswith("CheckpointError"), result
    for word in words:
        assert word in result["error"], result
    assert result["maxrss_mb"] < MAX_RSS_MB, result


def test_vocoder_metadata_alone_does_not_build_the_model(tmp_path):
    """A few hundred bytes asking for 145 M parameters: refused on the header, not built."""
    path = safetensors_without_tensors(
        tmp_path / "v.safetensors", _vocos_meta(dim=1280, intermediate_dim=5120, n_layers=11)
    )
    _refused(_load("vocos", path), "missing key")


def test_vocoder_config_beyond_the_bounds(tmp_path):
    path = safetensors_without_tensors(
        tmp_path / "v.safetensors", _vocos_meta(dim=8192, intermediate_dim=24576, n_layers=64)
    )
    _refused(_load("vocos", path), "dim must be <= 4096")


def test_vocoder_within_field_bounds_but_too_many_parameters(tmp_path):
    path = safetensors_without_tensors(
        tmp_path / "v.safetensors", _vocos_meta(dim=4096, intermediate_dim=16384, n_layers=48)
    )
    _refused(_load("any", path), "parameters")


def test_codec_metadata_asking_for_a_huge_model(tmp_path):
    config = {"latent_dim": 2048, "d_model": 4096, "ffn_dim": 16384, "n_transformer": 48}
    meta = {"kind": "tiny_codec", "format_version": 1, "config": config}
    path = safetensors_without_tensors(tmp_path / "c.safetensors", meta)
    _refused(_load("codec", path), "parameters")


@pytest.mark.parametrize(
    ("widths", "expect"),
    [([4096, 4096, 4096, 4096], "parameters"), ([8192, 16, 16, 16], "decoder_widths"),
     ([64, 32], "one width per stride"), ("wide", "list of ints")],
)  # fmt: skip
def test_codec_metadata_with_absurd_decoder_widths(tmp_path, widths, expect):
    meta = {"kind": "tiny_codec", "format_version": 1, "config": {"decoder_widths": widths}}
    path = safetensors_without_tensors(tmp_path / "c.safetensors", meta)
    _refused(_load("codec", path), expect)


@pytest.fixture(scope="module")
def codec_bomb(tmp_path_factory) -> Path:
    """A 6 MB seed-style .pt whose one tensor inflates to 6 GiB."""
    path = tmp_path_factory.mktemp("bomb") / "codec.pt"
    return zip_bomb_pt(path, lambda t: {"model_state_dict": {"w": t}}, 6144)


def test_zip_bomb_codec_is_refused_before_inflating(codec_bomb):
    assert codec_bomb.stat().st_size < 10 << 20
    _refused(_load("codec", codec_bomb), "inflate")


def test_zip_bomb_vocoder_is_refused_before_inflating(tmp_path):
    path = zip_bomb_pt(tmp_path / "v.ckpt", lambda t: {"state_dict": {"decoder.0.w": t}}, 6144)
    _refused(_load("vocos", path), "inflate")


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_LIMIT, CHILD_LIMIT))


def test_process_with_a_zip_bomb_says_one_line_and_exits_2(tmp_path, codec_bomb):
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    cmd = [sys.executable, "-m", "app.cli", "process", str(wav), str(tmp_path / "out.wav")]
    proc = subprocess.run(
        [*cmd, "--chain", "codec", "--codec-weights", str(codec_bomb)],
        capture_output=True, text=True, cwd=ROOT, preexec_fn=_cap_memory, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "inflate" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
