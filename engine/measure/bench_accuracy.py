"""How far the fast inference paths are from the fp32 models, on speech.

The reference is the model as loaded, fp32, offline on the whole signal
(``VocosGenerator.audio_offline``; for the codec, ``CodecStage.offline``).
The fast path streams the same signal in chunks. Reported: max abs error
and SNR = 10 log10(sum ref^2 / sum (fast - ref)^2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.audiofile import read_mono_16k
from engine.models.codec.model import TinyTransformerCodec
from engine.models.codec.stage import CodecStage
from engine.models.vocos.fast import FastVocos, default_head_precision
from engine.models.vocos.generator import VocosGenerator

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class AccuracyRow:
    """Error of one fast path against the fp32 reference."""

    model: str
    path: str
    chunk: int
    max_abs: float
    snr_db: float
    ref_rms: float


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """SNR of ``test`` against ``reference`` in dB (``inf`` when identical)."""
    noise = float(np.sum((np.asarray(test, np.float64) - reference) ** 2))
    signal = float(np.sum(np.asarray(reference, np.float64) ** 2))
    return float("inf") if noise == 0.0 else 10.0 * np.log10(signal / noise)


def load_speech(path: str | Path, max_files: int = 20, max_seconds: float = 60.0) -> np.ndarray:
    """Concatenate up to ``max_files`` audio files (a file or a folder) at 16 kHz mono."""
    path = Path(path)
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    )
    if not files:
        raise ValueError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    step = max(1, len(files) // max_files)
    parts = [read_mono_16k(f).samples for f in files[::step][:max_files]]
    audio = np.concatenate(parts).astype(np.float32)
    return audio[: int(max_seconds * 16000)]


def vocos_accuracy(
    generator: VocosGenerator,
    label: str,
    audio: np.ndarray,
    precisions: Sequence[str],
    chunks: Sequence[int] = (1, 5),
) -> list[AccuracyRow]:
    """Fast Vocos at each precision and chunk size against fp32 offline."""
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).view(1, -1)
    with torch.inference_mode():
        ref = generator.audio_offline(x)[0].numpy()
    rms = float(np.sqrt(np.mean(ref.astype(np.float64) ** 2)))
    rows = []
    for precision in precisions:
        fast = FastVocos.from_generator(generator, precision)
        name = f"fast {precision}"
        if default_head_precision(precision) != precision:
            name += f" (head {default_head_precision(precision)})"
        for n in chunks:
            y = fast.audio_offline(x, n)[0].numpy()
            err = float(np.max(np.abs(y - ref)))
            rows.append(AccuracyRow(label, name, n, err, snr_db(ref, y), rms))
    return rows


def codec_accuracy(model: TinyTransformerCodec, audio: np.ndarray) -> AccuracyRow:
    """Fast codec hop (stage offline form) against the model's own OaS offline."""
    ref = CodecStage(model).offline(audio)
    y = CodecStage(model, precision="fp32").offline(audio)
    rms = float(np.sqrt(np.mean(ref.astype(np.float64) ** 2)))
    return AccuracyRow("codec", "fast fp32", 1, float(np.max(np.abs(y - ref))), snr_db(ref, y), rms)


def format_accuracy(rows: Sequence[AccuracyRow], seconds: float) -> str:
    """Aligned text table of accuracy rows."""
    head = ("model", "path", "frames", "max abs err", "SNR dB", "ref RMS")
    lines = [head] + [
        (r.model, r.path, str(r.chunk), f"{r.max_abs:.2e}", f"{r.snr_db:.1f}", f"{r.ref_rms:.4f}")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([f"accuracy vs the fp32 model, offline, on {seconds:.1f} s of speech:", *text])
