"""The Lab's engine side: an evaluation run that keeps what it scored, to listen to.

:func:`run_lab` is ``streamvox evaluate`` (same :func:`engine.evaluate.evaluate`,
same numbers) plus three things a front end needs: progress as
``(done, total)``, a cancel flag, and each chain's aligned 16 kHz output
written to a folder so that any (chain, file) cell can be played against its
original. No Qt here: the GUI runs this in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.audiofile import read_mono_16k
from engine.chain import parse_chain
from engine.evaluate import (
    ChainSummary,
    UtteranceResult,
    evaluate,
    split_chain_list,
    write_reports,
)
from engine.stage import DEFAULT_CHUNK, SAMPLE_RATE

Progress = Callable[[int, int], None]


def split_chains(text: str) -> list[str]:
    """``"dry, opus@12, codec+vocoder"`` -> chain names, each checked by ``parse_chain``.

    Commas separate chains and ``opus-ladder`` expands, as in ``streamvox
    evaluate --chains``; raises ``ValueError`` naming the first unknown chain.
    """
    names = split_chain_list(text)
    for name in names:
        try:
            parse_chain(name)
        except ValueError as exc:
            if name in str(exc):
                raise
            raise ValueError(f"chain '{name}': {exc}") from exc
    return names


@dataclass(frozen=True)
class LabResult:
    """Rows and summaries of one run, and where each cell's output was kept."""

    rows: list[UtteranceResult]
    summaries: list[ChainSummary]
    outputs: dict[tuple[str, str], Path]

    def pair(self, chain: str, file: str) -> tuple[np.ndarray, np.ndarray]:
        """(original, processed) of one cell: aligned, mono float32 ``(L,)`` at 16 kHz."""
        try:
            path = self.outputs[(chain, file)]
        except KeyError:
            raise ValueError(f"no output kept for chain {chain!r} on {file}") from None
        processed, _ = sf.read(str(path), dtype="float32")
        return read_mono_16k(file).samples, processed

    def export(self, out_dir: Path) -> dict[str, Path]:
        """CSV, Markdown and PNG into ``out_dir``: the writers of ``streamvox evaluate``."""
        return write_reports(self.rows, self.summaries, Path(out_dir))


def run_lab(
    files: Sequence[Path],
    chains: Sequence[str],
    audio_dir: Path,
    *,
    chunk: int = DEFAULT_CHUNK,
    block: int = 256,
    codec_weights: str | Path | None = None,
    vocoder_weights: str | Path | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    threads: int | None = 1,
) -> LabResult:
    """Evaluate ``files`` x ``chains``, keeping each output as a WAV in ``audio_dir``.

    Raises :class:`engine.evaluate.EvaluationCancelled` once ``cancel`` is set
    (checked between utterances and chains). ``threads`` sets torch's
    (process-wide) thread count as ``streamvox evaluate --threads`` does, so
    RTFs compare; None leaves it alone.
    """
    if not files:
        raise ValueError("choose at least one audio file")
    if not chains:
        raise ValueError("choose at least one chain")
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))
    audio_dir = Path(audio_dir)
    audio_dir.mkdir(parents=True, exist_ok=True)
    total = len(files) * len(chains)
    outputs: dict[tuple[str, str], Path] = {}
    done = 0

    def keep(row: UtteranceResult, y: np.ndarray) -> None:
        path = audio_dir / f"out{len(outputs):05d}.wav"
        sf.write(str(path), y, SAMPLE_RATE, subtype="FLOAT")
        outputs[(row.chain, row.file)] = path

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    rows, summaries = evaluate(
        files,
        chains,
        chunk=chunk,
        block=block,
        codec_weights=codec_weights,
        vocoder_weights=vocoder_weights,
        progress=step,
        cancel=cancel,
        on_output=keep,
    )
    return LabResult(rows, summaries, outputs)
