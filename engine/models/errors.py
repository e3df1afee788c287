"""Errors raised when a model file cannot be used."""

from __future__ import annotations

from pathlib import Path


class CheckpointError(ValueError):
    """A model file is unreadable, of the wrong kind, or unsafe.

    The message always names the file and the problem, so that a person can
    act on it (replace the file, pick another one).
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        where = "<in-memory checkpoint>" if path is None else str(path)
        super().__init__(f"{where}: {problem}")


class UnsafeCheckpointError(CheckpointError):
    """The file asks to run code (e.g. a pickle whose reduce calls os.system)."""
