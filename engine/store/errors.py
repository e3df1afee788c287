"""Errors of the model store; each message says what a person can do next."""

from __future__ import annotations

from pathlib import Path

from engine.models.errors import CheckpointError


class StoreError(Exception):
    """Base of every model-store failure (bad name, download, lock, ...)."""


class UnknownModelError(StoreError, KeyError):
    """The name is neither in the registry nor in the cache."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelNotAvailableError(StoreError):
    """A known model that is not on this computer yet (download or import it)."""


class LockTimeoutError(StoreError):
    """Another process kept the model's lock for longer than we were willing to wait."""


class Cancelled(StoreError):
    """The caller asked to stop (GUI cancel button, Ctrl-C handler)."""


class DownloadError(StoreError):
    """A download failed; ``url`` is what was fetched, ``hint`` says what to do by hand.

    ``transient`` is True for failures worth retrying (dropped connection,
    timeout, HTTP 5xx/429), False for final answers (404, a web page, a
    wrong hash).
    """

    def __init__(self, url: str, problem: str, *, transient: bool = False, hint: str = "") -> None:
        self.url = url
        self.problem = problem
        self.transient = transient
        self.hint = hint
        super().__init__(url, problem)

    def __str__(self) -> str:
        text = f"{self.problem} ({self.url})"
        return f"{text}\n{self.hint}" if self.hint else text

    def with_hint(self, hint: str) -> DownloadError:
        """Add what to do by hand (the store knows the path, the downloader does not)."""
        self.hint = hint
        return self


class HttpStatusError(DownloadError):
    """The server answered with an HTTP error status (404, 403, 500, ...)."""


class NotAModelFileError(DownloadError):
    """The server sent a web page (login, confirmation, error page) instead of the file."""


class NetworkError(DownloadError):
    """The server could not be reached (offline, DNS failure, refused, timed out)."""


class VerificationError(DownloadError):
    """The downloaded bytes do not have the expected size or sha256."""


class InsufficientSpaceError(DownloadError):
    """Not enough free disk space for the file."""


class DownloadCancelled(DownloadError, Cancelled):
    """The caller asked to stop; the partial file is kept so that a later call resumes."""


class IntegrityError(CheckpointError):
    """A cached model file no longer has the hash recorded when it was first trusted."""

    def __init__(self, path: str | Path, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(
            path,
            f"refused: its sha256 is {found}, but {expected} was recorded when it was "
            "first verified; the file was changed or corrupted. Remove it "
            "(`streamvox models remove NAME`) and download or import it again.",
        )
