"""Refuse output paths that would overwrite an input or each other, before any work.

``process a.wav a.wav`` would otherwise replace its own input with the
result, and two outputs naming one file silently keep only the last.
"Same" means the same file once links are resolved (symlinks, hard links,
``./a.wav`` vs ``a.wav``), so the check survives every spelling.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.audiofile import AudioFileError


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are (or would be written as) one file."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return a.resolve() == b.resolve()


def check_distinct(inputs: Mapping[str, Path], outputs: Mapping[str, Path | None]) -> None:
    """Raise :class:`AudioFileError` if an output is an input or another output.

    Keys name the arguments in the message (``"IN"``, ``"OUT"``,
    ``"--write-original"``); ``None`` outputs are not written and skipped.
    """
    named = [(k, p) for k, p in outputs.items() if p is not None]
    for i, (out_name, out) in enumerate(named):
        for in_name, src in inputs.items():
            if same_file(out, src):
                raise AudioFileError(
                    out, f"{out_name} is the same file as {in_name}: it would be overwritten"
                )
        for other_name, other in named[:i]:
            if same_file(out, other):
                raise AudioFileError(out, f"{out_name} and {other_name} name the same file")
