"""A real HTTP server on 127.0.0.1 whose misbehaviour the tests choose per path.

Each path maps to a :class:`Route`: serve normally, honour or ignore
``Range``/``If-Range``, drop the connection after N bytes, stall or trickle,
answer 404, send an HTML page with status 200, redirect, or lie about the
length. Every request is logged with the bytes actually written, so tests
can prove that a resume fetched only the missing part.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    b"<body>Please confirm the download</body></html>\n"
)


@dataclass
class Route:
    """How the server answers one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    honour_range: bool = True
    etag: bool = True
    send_length: bool = True
    announce_length: int | None = None
    drop_after: int | None = None  # close the connection after this many body bytes...
    drops: int = 1  # ...in this many requests, then behave
    stall_after: int | None = None  # sleep `stall` seconds after this many body bytes...
    stall: float = 0.0
    stalls: int = 1  # ...in this many requests
    delay: float = 0.0  # seconds between chunks (a slow server)
    chunk: int = 16 * 1024
    redirect: str | None = None
    requests: int = 0

    @property
    def etag_value(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class Hit:
    """One request as the server saw it."""

    path: str
    status: int
    range: str | None
    if_range: str | None
    sent: int = 0


@dataclass
class LocalServer:
    """The running server: routes to configure, a log to inspect."""

    httpd: ThreadingHTTPServer
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bytes_served(self, path: str) -> int:
        with self.lock:
            return sum(h.sent for h in self.hits if h.path == path)

    def hits_for(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]


class _Handler(BaseHTTPRequestHandler):
    server_version = "streamvox-test/1"
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep pytest output clean

    @property
    def local(self) -> LocalServer:
        return self.server.local  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802
        local = self.local
        route = local.routes.get(self.path)
        hit = Hit(self.path, 0, self.headers.get("Range"), self.headers.get("If-Range"))
        with local.lock:
            local.hits.append(hit)
        if route is None:
            hit.status = 404
            self.send_error(404, "Not Found")
            return
        with local.lock:
            route.requests += 1
            nth = route.requests
        if route.redirect is not None:
            hit.status = 302
            self.send_response(302)
            self.send_header("Location", route.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.status != 200:
            hit.status = route.status
            self.send_error(route.status)
            return
        self._serve(route, hit, nth)

    def _serve(self, route: Route, hit: Hit, nth: int) -> None:
        body, start = route.body, 0
        wants_range = route.honour_range and hit.range is not None
        if wants_range and hit.if_range is not None and hit.if_range != route.etag_value:
            wants_range = False  # the file changed: RFC 9110 says send it all
        if wants_range:
            start = int(hit.range.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                hit.status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            hit.status = 206
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            hit.status = 200
            self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        if route.etag:
            self.send_header("ETag", route.etag_value)
        if route.send_length:
            length = route.announce_length or len(body) - start
            self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes" if route.honour_range else "none")
        self.end_headers()
        self._write_body(route, hit, body[start:], nth)

    def _write_body(self, route: Route, hit: Hit, data: bytes, nth: int) -> None:
        limit = route.drop_after if route.drop_after is not None and nth <= route.drops else None
        stall_at = route.stall_after if nth <= route.stalls else None
        pos = 0
        try:
            while pos < len(data):
                if stall_at is not None and pos >= stall_at:
                    time.sleep(route.stall)
                    stall_at = None
                end = min(len(data), pos + route.chunk)
                if limit is not None:
                    end = min(end, limit)
                if stall_at is not None:
                    end = min(end, stall_at)
                self.wfile.write(data[pos:end])
                self.wfile.flush()
                hit.sent += end - pos
                pos = end
                if limit is not None and pos >= limit:
                    self._drop()
                    return
                if route.delay:
                    time.sleep(route.delay)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        """Close the TCP connection in the middle of the body."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def start_server() -> LocalServer:
    """Start a server on an ephemeral port of 127.0.0.1 in a daemon thread."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    local = LocalServer(httpd)
    httpd.local = local  # type: ignore[attr-defined]
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="test-http", daemon=True
    ).start()
    return local


def stop_server(local: LocalServer) -> None:
    local.httpd.shutdown()
    local.httpd.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
