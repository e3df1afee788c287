"""Synthetic speech made on the fly with espeak-ng (no recorded audio in the repo)."""

import shutil
import subprocess
from pathlib import Path

import pytest

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Streaming codecs trade latency for quality.",
    "Please call Stella and ask her to bring these things.",
)


def make_speech(path: Path, text: str = SENTENCES[0], voice: str = "en") -> Path:
    """Write espeak-ng speech (22.05 kHz mono WAV) to ``path``."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (packaging/setup.sh installs it)")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path
