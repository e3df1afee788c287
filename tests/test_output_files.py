"""Output files look as if written in place (issue 15, item 6): umask, mode, symlinks."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from engine.models.codec.checkpoint import save_codec, seeded_codec


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "in.wav"
    sf.write(path, np.full(1600, 0.1, np.float32), 16_000)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _process(src: Path, out: Path) -> None:
    assert main(["process", str(src), str(out), "--chain", "dry"]) == 0


def test_new_output_follows_the_umask(tmp_path, wav, umask_022):
    out = tmp_path / "out.wav"
    _process(wav, out)
    assert _mode(out) == 0o644


def test_overwritten_output_keeps_its_mode(tmp_path, wav, umask_022):
    out = tmp_path / "out.wav"
    out.write_bytes(b"old")
    out.chmod(0o640)
    _process(wav, out)
    assert _mode(out) == 0o640 and sf.info(out).frames == 1600


def test_output_through_a_symlink_replaces_its_target(tmp_path, wav, umask_022):
    real = tmp_path / "data" / "real.wav"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.wav"
    link.symlink_to(real)
    _process(wav, link)
    assert link.is_symlink() and sf.info(real).frames == 1600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_saved_weights_follow_the_umask(tmp_path, umask_022):
    path = tmp_path / "c.safetensors"
    save_codec(seeded_codec(0), path)
    assert _mode(path) == 0o644
    os.umask(0o077)
    save_codec(seeded_codec(0), tmp_path / "private.safetensors")
    assert _mode(tmp_path / "private.safetensors") == 0o600
