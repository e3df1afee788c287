"""Fetch one file over HTTP(S): streamed, resumable, verified, renamed atomically.

Only the standard library is used (``urllib``). The bytes go to a ``.part``
file next to the destination; a small ``.part.json`` sidecar remembers the
URL and the server's validator (ETag or Last-Modified) so that a later call
resumes with ``Range`` + ``If-Range`` and never glues two different versions
of a file together. A server that ignores ``Range`` (``200`` instead of
``206``) makes us start over. The finished file is checked (size, sha256,
then the caller's ``verify_file``, e.g. really loading the model) before it
is renamed to its final name; until then nothing at the destination changes.

Transient failures (dropped connection, timeout, HTTP 5xx/429) are retried
with exponential backoff, resuming where the bytes stopped. Final answers
(HTTP 404, a web page instead of a file, a wrong hash) are not.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.store.errors import (
    DownloadCancelled,
    DownloadError,
    HttpStatusError,
    InsufficientSpaceError,
    NotAModelFileError,
    VerificationError,
)
from engine.store.web import (
    RETRY_STATUS,
    content_range,
    content_range_total,
    gave_up,
    int_header,
    network_error,
    opener,
    resume_validator,
)

#: ``progress(done_bytes, total_bytes_or_None)``
ProgressCallback = Callable[[int, "int | None"], None]
CancelCheck = Callable[[], bool]

CHUNK = 64 * 1024
USER_AGENT = "streamvox-model-store/1"
#: Keep this much disk free beyond the file itself.
FREE_SPACE_MARGIN = 16 * 1024 * 1024
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


@dataclass(frozen=True)
class DownloadOptions:
    """Network behaviour; the defaults suit a person on a home connection."""

    timeout: float = 30.0
    retries: int = 4
    backoff: float = 1.0
    chunk_size: int = CHUNK
    free_space_margin: int = FREE_SPACE_MARGIN

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.backoff < 0:
            raise ValueError(f"backoff must be >= 0, got {self.backoff}")
        if self.chunk_size <= 0:
            raise ValueError(f"chunk_size must be > 0, got {self.chunk_size}")
        if self.free_space_margin < 0:
            raise ValueError("free_space_margin must be >= 0")


@dataclass(frozen=True)
class DownloadResult:
    """What was fetched: final path, size, sha256 and how the transfer went."""

    path: Path
    size: int
    sha256: str
    attempts: int
    bytes_transferred: int
    resumed_from: int


@dataclass
class _Part:
    """The partial file and what we know about its bytes."""

    path: Path
    info_path: Path
    url: str
    size: int = 0
    hasher: Any = None
    validator: str | None = None
    total: int | None = None
    received: int = 0  # bytes that crossed the network in this call

    def reset(self) -> None:
        """Forget every partial byte."""
        self.path.unlink(missing_ok=True)
        self.info_path.unlink(missing_ok=True)
        self.size = 0
        self.hasher = hashlib.sha256()
        self.validator = None
        self.total = None

    def save_info(self) -> None:
        """Remember where the bytes came from, before writing any of them."""
        info = {"url": self.url, "validator": self.validator, "total": self.total}
        self.info_path.write_text(json.dumps(info), encoding="utf-8")


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    part: str | os.PathLike[str] | None = None,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    verify_file: Callable[[Path], None] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    options: DownloadOptions | None = None,
) -> DownloadResult:
    """Download ``url`` to ``dest``; see the module docstring for the guarantees.

    ``verify_file(part_path)`` runs on the complete, hash-checked bytes before
    the rename; if it raises, the bytes are deleted and the error propagates.
    On :class:`DownloadCancelled` or a network failure the ``.part`` file is
    kept so that the next call resumes; on a verification failure it is
    deleted (those bytes are wrong, resuming them would be too).
    """
    opts = options or DownloadOptions()
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"only http(s) URLs can be downloaded, got {url!r}")
    dest = Path(dest)
    part_path = Path(part) if part is not None else dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    state = _open_part(part_path, url, expected_sha256)
    resumed_from = state.size
    attempts = 0
    if expected_size is not None:
        _check_free_space(url, dest.parent, expected_size - state.size, opts)
    while True:
        attempts += 1
        try:
            _attempt(state, expected_size, progress, cancel, opts)
            break
        except DownloadError as exc:
            if not exc.transient or attempts > opts.retries:
                if exc.transient:
                    raise gave_up(exc, attempts) from None
                raise
            _sleep(opts.backoff * 2 ** (attempts - 1), cancel, url)
    digest = _finish(state, expected_size, expected_sha256, verify_file)
    os.replace(state.path, dest)
    state.info_path.unlink(missing_ok=True)
    return DownloadResult(dest, state.size, digest, attempts, state.received, resumed_from)


def _open_part(path: Path, url: str, expected_sha256: str | None) -> _Part:
    """Reuse an earlier partial file only if it is safe to append to it."""
    state = _Part(path, path.with_name(path.name + ".json"), url)
    try:
        info = json.loads(state.info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = None
    size = path.stat().st_size if path.is_file() else 0
    same_source = isinstance(info, dict) and info.get("url") == url
    # Without a validator or a known hash we could not tell a changed remote file.
    safe = same_source and (info.get("validator") or expected_sha256)
    if size and safe:
        state.size = size
        state.validator = info.get("validator")
        state.total = info.get("total")
        state.hasher = _hash_file(path)
    else:
        state.reset()
    return state


def _attempt(
    state: _Part,
    expected_size: int | None,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    opts: DownloadOptions,
) -> None:
    """One HTTP request that appends to the part file. Raises DownloadError."""
    if _part_is_complete(state, expected_size):
        return
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if state.size:
        headers["Range"] = f"bytes={state.size}-"
        if state.validator:
            headers["If-Range"] = state.validator
    request = urllib.request.Request(state.url, headers=headers)
    try:
        response = opener().open(request, timeout=opts.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and state.size:
            _on_range_not_satisfiable(state, exc)
            return
        raise HttpStatusError(
            state.url,
            f"the server answered HTTP {exc.code} {exc.reason}",
            transient=exc.code in RETRY_STATUS,
        ) from None
    except DownloadError:
        raise
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise network_error(state.url, exc) from None
    with response:
        _start_body(state, response, expected_size)
        _check_free_space(state.url, state.path.parent, (state.total or 0) - state.size, opts)
        state.save_info()
        _copy_body(state, response, progress, cancel, opts)


def _part_is_complete(state: _Part, expected_size: int | None) -> bool:
    """A part already as long as the file needs no request (the server would say 416)."""
    known = expected_size if expected_size is not None else state.total
    if known is None or not state.size:
        return False
    if state.size > known:
        state.reset()
        return False
    return state.size == known


def _on_range_not_satisfiable(state: _Part, exc: urllib.error.HTTPError) -> None:
    """416: our part is complete (``*/total`` equals its size) or must be restarted."""
    total = content_range_total(exc.headers.get("Content-Range", ""))
    if total is not None and total == state.size:
        state.total = total
        return
    state.reset()
    raise DownloadError(state.url, "the server refused to resume; starting over", transient=True)


def _start_body(state: _Part, response: Any, expected_size: int | None) -> None:
    """Decide from the status and headers whether we append, restart, or refuse."""
    status = response.status
    ctype = response.headers.get("Content-Type", "")
    if ctype.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        state_url = response.geturl()
        raise NotAModelFileError(
            state.url,
            f"the server sent a web page ({ctype}) instead of the model file "
            f"(final address {state_url}); it may need a login or a confirmation in a browser",
        )
    length = int_header(response.headers.get("Content-Length"))
    validator = resume_validator(response.headers)
    if status == 206 and state.size:
        start, total = content_range(response.headers.get("Content-Range", ""))
        if start != state.size:
            state.reset()
            raise DownloadError(
                state.url, "the server resumed at the wrong offset; starting over", transient=True
            )
        state.total = total if total is not None else (state.size + length if length else None)
    elif status == 200:
        if state.size:  # Range ignored, or the file changed (If-Range): start over
            state.reset()
        state.total = length
    else:
        raise HttpStatusError(state.url, f"unexpected HTTP status {status} {response.reason}")
    state.validator = validator
    if expected_size is not None and state.total is not None and state.total != expected_size:
        state.reset()
        raise VerificationError(
            state.url,
            f"the server offers {state.total} bytes but the file should have {expected_size}",
        )


def _copy_body(
    state: _Part,
    response: Any,
    progress: ProgressCallback | None,
    cancel: CancelCheck | None,
    opts: DownloadOptions,
) -> None:
    """Append the body to the part file, hashing as we go."""
    first = state.size == 0
    with state.path.open("ab") as out:
        if progress is not None:
            progress(state.size, state.total)
        while True:
            if cancel is not None and cancel():
                out.flush()
                raise DownloadCancelled(state.url, "download cancelled; it will resume next time")
            try:
                chunk = response.read1(opts.chunk_size)  # what has arrived; no waiting for more
            except (OSError, http.client.HTTPException) as exc:
                raise network_error(state.url, exc) from None
            if not chunk:
                break
            if first:
                _refuse_html(state, chunk)
                first = False
            out.write(chunk)
            state.hasher.update(chunk)
            state.size += len(chunk)
            state.received += len(chunk)
            if progress is not None:
                progress(state.size, state.total)
        out.flush()
        os.fsync(out.fileno())
    if state.total is not None and state.size < state.total:
        raise DownloadError(
            state.url,
            f"the connection dropped after {state.size} of {state.total} bytes",
            transient=True,
        )
    if state.total is not None and state.size > state.total:
        state.reset()
        raise VerificationError(state.url, "the server sent more bytes than it announced")


def _refuse_html(state: _Part, chunk: bytes) -> None:
    """A web page served as ``application/octet-stream`` (or with no type) is still a page."""
    head = chunk[:512].lstrip().lower()
    if head.startswith(_HTML_STARTS):
        state.reset()
        raise NotAModelFileError(
            state.url,
            "the server sent a web page instead of the model file; it may need a login "
            "or a confirmation in a browser",
        )


def _finish(
    state: _Part,
    expected_size: int | None,
    expected_sha256: str | None,
    verify_file: Callable[[Path], None] | None,
) -> str:
    """Check size, hash and content of the complete part; delete it if wrong."""
    digest = state.hasher.hexdigest()
    if expected_size is not None and state.size != expected_size:
        state.reset()
        raise VerificationError(
            state.url, f"got {state.size} bytes but the file should have {expected_size}"
        )
    if expected_sha256 is not None and digest != expected_sha256.lower():
        state.reset()
        raise VerificationError(
            state.url,
            f"sha256 mismatch: got {digest}, expected {expected_sha256}; the bytes were deleted",
        )
    if verify_file is not None:
        try:
            verify_file(state.path)
        except BaseException:
            state.reset()
            raise
    return digest


def _check_free_space(url: str, folder: Path, needed: int, opts: DownloadOptions) -> None:
    if needed <= 0:
        return
    free = shutil.disk_usage(folder).free
    if needed + opts.free_space_margin > free:
        raise InsufficientSpaceError(
            url,
            f"not enough disk space in {folder}: the file needs {_mib(needed)} "
            f"(+{_mib(opts.free_space_margin)} margin), {_mib(free)} free",
        )


def _sleep(seconds: float, cancel: CancelCheck | None, url: str) -> None:
    """Back off, checking the cancel flag every 50 ms."""
    end = time.monotonic() + seconds
    while True:
        if cancel is not None and cancel():
            raise DownloadCancelled(url, "download cancelled; it will resume next time")
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))


def _hash_file(path: Path) -> Any:
    hasher = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            hasher.update(block)
    return hasher


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    return _hash_file(Path(path)).hexdigest()


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
