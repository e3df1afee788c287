"""Make sure a report folder can take the reports before a long run, not after it.

An evaluation runs for minutes; finding out at the end that ``--out`` is a
file or a read-only folder loses all of it. So the folder is created and a
file is written and removed there first, the way the reports will be.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


class ReportFolderError(ValueError):
    """The report folder cannot take the reports; the message names it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


def prepare_report_folder(out: Path, names: Iterable[str]) -> Path:
    """Create ``out`` (with parents) and prove that files ``names`` can be written in it."""
    if out.exists() and not out.is_dir():
        raise ReportFolderError(out, "is a file, not a folder (the reports go into a folder)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        problem = f"cannot write reports there ({exc.strerror or exc})"
        raise ReportFolderError(out, problem) from None
    for name in names:
        target = out / name
        if target.is_dir() or (target.exists() and not os.access(target, os.W_OK)):
            raise ReportFolderError(target, "exists and cannot be replaced")
    return out
