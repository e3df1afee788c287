"""Reading and writing audio files for the offline commands.

Everything the models see is mono float32 at 16 kHz; this module is the one
place that turns "any file soundfile can read" into that, with errors a
person can act on instead of library tracebacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from engine.atomic_file import replacing
from engine.stage import SAMPLE_RATE


class AudioFileError(ValueError):
    """An audio file cannot be read or written; the message names it."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class LoadedAudio:
    """Mono 16 kHz float32 samples plus what was done to get them."""

    samples: np.ndarray
    source_rate: int
    source_channels: int
    non_finite: int  # NaN/Inf samples replaced by 0


def read_mono_16k(path: str | Path) -> LoadedAudio:
    """Read any soundfile-readable file as mono float32 at 16 kHz.

    Channels are averaged; the rate is converted with soxr (HQ). NaN/Inf
    samples are replaced by zeros and counted so the caller can warn.
    """
    path = Path(path)
    if not path.exists():
        raise AudioFileError(path, "no such file")
    if path.is_dir():
        raise AudioFileError(path, "is a directory, not an audio file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(path, f"not a readable audio file ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioFileError(path, "the file holds no audio samples")
    bad = ~np.isfinite(data)
    non_finite = int(bad.sum())
    if non_finite:
        data = np.where(bad, 0.0, data).astype(np.float32)
    mono = data.mean(axis=1, dtype=np.float32)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return LoadedAudio(np.ascontiguousarray(mono), int(rate), int(data.shape[1]), non_finite)


def check_writable(path: str | Path) -> Path:
    """Fail early, before any processing, if ``path`` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise AudioFileError(path, f"the folder {parent} does not exist")
    if path.is_dir():
        raise AudioFileError(path, "is a directory")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise AudioFileError(path, "is not writable (permission denied)")
    try:
        sf.check_format(_format_for(path))
    except ValueError as exc:
        raise AudioFileError(path, str(exc)) from exc
    return path


def _format_for(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    formats = {k.lower(): k for k in sf.available_formats()}
    aliases = {"aif": "aiff", "oga": "ogg"}
    fmt = formats.get(aliases.get(ext, ext))
    if fmt is None:
        raise ValueError(f"unknown audio file extension '.{ext}' (try .wav or .flac)")
    return fmt


def write_audio(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> int:
    """Write mono samples atomically; returns how many samples were clipped.

    Samples beyond [-1, 1] are clipped (integer formats would wrap them).
    The file appears only when complete: written to a temporary file in the
    same folder, then renamed; it keeps the mode an ordinary write would
    give, and a symlink is written through (:mod:`engine.atomic_file`).
    """
    path = check_writable(path)
    clipped = int(np.count_nonzero(np.abs(samples) > 1.0))
    data = np.clip(samples, -1.0, 1.0).astype(np.float32)
    with replacing(path, suffix=".part") as tmp:
        sf.write(tmp, data, rate, format=_format_for(path))
    return clipped
