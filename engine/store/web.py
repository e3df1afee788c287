"""What HTTP says, for the downloader: redirects it follows, errors in words, range headers."""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from engine.store.errors import DownloadError, HttpStatusError, NetworkError

#: Statuses worth another try.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class _NoDowngradeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s), and never from https down to http."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        old = urllib.parse.urlsplit(req.full_url).scheme
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl)).scheme
        if new not in ("http", "https") or (old == "https" and new == "http"):
            raise HttpStatusError(req.full_url, f"refused a redirect to {newurl!r}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def opener() -> urllib.request.OpenerDirector:
    """HTTP(S) only (no file:, ftp:, data:), honouring the user's proxy settings."""
    return urllib.request.build_opener(_NoDowngradeRedirects())


def network_error(url: str, exc: BaseException) -> DownloadError:
    """Turn a socket/urllib failure into a NetworkError saying what happened."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    host = urllib.parse.urlsplit(url).hostname or url
    transient = True
    if isinstance(reason, socket.gaierror):
        problem = f"cannot resolve the host name {host!r} (offline, or DNS failure)"
        transient = reason.errno == socket.EAI_AGAIN
    elif isinstance(reason, ConnectionRefusedError):
        problem = f"the connection to {host} was refused"
    elif isinstance(reason, TimeoutError | socket.timeout):
        problem = f"no answer from {host} in time (timed out)"
    elif isinstance(reason, ssl.SSLError):
        problem, transient = f"secure connection to {host} failed: {reason}", False
    elif isinstance(reason, ConnectionError | http.client.HTTPException):
        problem = f"the connection to {host} broke ({type(reason).__name__})"
    elif isinstance(reason, OSError) and reason.errno == errno.ENOSPC:
        problem, transient = "the disk is full", False
    else:
        problem = f"network error talking to {host}: {reason}"
    return NetworkError(url, problem, transient=transient)


def gave_up(exc: DownloadError, attempts: int) -> DownloadError:
    """The last transient error, final now, saying how often we tried."""
    cls = exc.__class__ if isinstance(exc, NetworkError | HttpStatusError) else NetworkError
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return cls(exc.url, f"{exc.problem} (gave up after {tries})", transient=False)


def resume_validator(headers: Any) -> str | None:
    """A strong ETag, else Last-Modified: what ``If-Range`` accepts."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified") or None


def content_range(value: str) -> tuple[int | None, int | None]:
    """``bytes START-END/TOTAL`` -> (START, TOTAL); None for what is missing."""
    try:
        unit, rest = value.strip().split(" ", 1)
        span, total = rest.split("/", 1)
        start = int(span.split("-", 1)[0]) if unit == "bytes" and span != "*" else None
        return start, (int(total) if total != "*" else None)
    except ValueError:
        return None, None


def content_range_total(value: str) -> int | None:
    return content_range(value)[1]


def int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
