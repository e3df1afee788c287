"""The downloader against a real HTTP server on 127.0.0.1 that misbehaves on purpose."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.store.download import DownloadOptions, download
from engine.store.errors import (
    DownloadCancelled,
    HttpStatusError,
    InsufficientSpaceError,
    NetworkError,
    NotAModelFileError,
    VerificationError,
)
from tests.store.helpers import sha256, tree
from tests.store.http_server import HTML_PAGE, LocalServer, Route, closed_port

DATA = os.urandom(300_000)
FAST = DownloadOptions(timeout=2.0, retries=3, backoff=0.01)


def _fetch(server: LocalServer, path: str, dest: Path, **kw):
    kw.setdefault("options", FAST)
    return download(server.url(path), dest, **kw)


def test_complete_download_is_verified_and_renamed(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(DATA)
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "m.bin"

    result = _fetch(
        server,
        "/m.bin",
        dest,
        expected_size=len(DATA),
        expected_sha256=sha256(DATA),
        progress=lambda done, total: seen.append((done, total)),
    )

    assert dest.read_bytes() == DATA
    assert result.sha256 == sha256(DATA) and result.size == len(DATA)
    assert tree(tmp_path) == ["m.bin"]  # no .part, no sidecar
    assert seen[-1] == (len(DATA), len(DATA))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert server.bytes_served("/m.bin") == len(DATA)


def test_resume_after_a_drop_fetches_only_the_rest(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(DATA, drop_after=100_000)
    dest = tmp_path / "m.bin"

    result = _fetch(server, "/m.bin", dest, expected_sha256=sha256(DATA))

    assert dest.read_bytes() == DATA
    hits = server.hits_for("/m.bin")
    assert [h.status for h in hits] == [200, 206]
    assert hits[1].range == "bytes=100000-"
    assert hits[1].if_range == server.routes["/m.bin"].etag_value
    assert server.bytes_served("/m.bin") == len(DATA)  # not one byte twice
    assert result.attempts == 2


def test_cancel_keeps_the_part_and_the_next_call_resumes(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/m.bin"] = Route(DATA, chunk=8192)
    dest = tmp_path / "m.bin"
    stop = {"now": False}

    def progress(done: int, total: int | None) -> None:
        stop["now"] = done >= 120_000

    with pytest.raises(DownloadCancelled):
        _fetch(server, "/m.bin", dest, progress=progress, cancel=lambda: stop["now"])
    part = tmp_path / "m.bin.part"
    kept = part.stat().st_size
    assert not dest.exists() and 120_000 <= kept < len(DATA)

    result = _fetch(server, "/m.bin", dest)

    assert dest.read_bytes() == DATA and result.resumed_from == kept
    assert server.hits_for("/m.bin")[-1].range == f"bytes={kept}-"
    assert result.bytes_transferred == len(DATA) - kept
    assert tree(tmp_path) == ["m.bin"]


def test_server_ignoring_range_makes_us_start_over(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(DATA, honour_range=False, drop_after=50_000)
    dest = tmp_path / "m.bin"

    _fetch(server, "/m.bin", dest, expected_sha256=sha256(DATA))

    assert dest.read_bytes() == DATA  # not 50 000 bytes glued to a full copy
    assert [h.status for h in server.hits_for("/m.bin")] == [200, 200]
    assert server.bytes_served("/m.bin") == 50_000 + len(DATA)


def test_changed_remote_file_is_refetched_whole(server: LocalServer, tmp_path: Path) -> None:
    old = os.urandom(len(DATA))
    server.routes["/m.bin"] = Route(old, drop_after=40_000)
    dest = tmp_path / "m.bin"
    with pytest.raises(NetworkError):
        _fetch(server, "/m.bin", dest, options=DownloadOptions(timeout=2, retries=0))
    assert (tmp_path / "m.bin.part").stat().st_size == 40_000

    server.routes["/m.bin"] = Route(DATA)  # new version, new ETag: If-Range fails
    _fetch(server, "/m.bin", dest)

    assert dest.read_bytes() == DATA
    last = server.hits_for("/m.bin")[-1]
    assert last.range == "bytes=40000-" and last.status == 200


def test_no_resume_across_calls_without_validator_or_hash(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/m.bin"] = Route(DATA, etag=False, drop_after=40_000)
    dest = tmp_path / "m.bin"
    with pytest.raises(NetworkError):
        _fetch(server, "/m.bin", dest, options=DownloadOptions(timeout=2, retries=0))

    _fetch(server, "/m.bin", dest)

    assert dest.read_bytes() == DATA
    assert server.hits_for("/m.bin")[-1].range is None  # a fresh start, not a blind append


def test_wrong_bytes_are_refused_and_deleted(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(os.urandom(len(DATA)))
    dest = tmp_path / "m.bin"

    with pytest.raises(VerificationError, match="sha256 mismatch"):
        _fetch(server, "/m.bin", dest, expected_sha256=sha256(DATA))

    assert tree(tmp_path) == []


def test_wrong_announced_size_is_refused_before_writing(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/m.bin"] = Route(DATA)

    with pytest.raises(VerificationError, match=f"should have {len(DATA) + 1}"):
        _fetch(server, "/m.bin", tmp_path / "m.bin", expected_size=len(DATA) + 1)

    assert tree(tmp_path) == []


def test_404_is_a_clear_final_error(server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(HttpStatusError, match="HTTP 404") as info:
        _fetch(server, "/missing.bin", tmp_path / "m.bin")

    assert info.value.url.endswith("/missing.bin")
    assert len(server.hits_for("/missing.bin")) == 1  # not retried
    assert tree(tmp_path) == []


def test_html_page_with_status_200_is_refused(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(HTML_PAGE, content_type="text/html; charset=utf-8")

    with pytest.raises(NotAModelFileError, match="web page"):
        _fetch(server, "/m.bin", tmp_path / "m.bin")

    assert tree(tmp_path) == []


def test_html_page_sent_as_binary_is_still_refused(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(b"\n  " + HTML_PAGE)  # application/octet-stream

    with pytest.raises(NotAModelFileError):
        _fetch(server, "/m.bin", tmp_path / "m.bin")

    assert tree(tmp_path) == []


def test_redirects_are_followed(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(DATA)
    server.routes["/a"] = Route(redirect="/b")
    server.routes["/b"] = Route(redirect=server.url("/m.bin"))
    dest = tmp_path / "m.bin"

    _fetch(server, "/a", dest, expected_sha256=sha256(DATA))

    assert dest.read_bytes() == DATA
    assert [h.status for h in server.hits] == [302, 302, 200]


def test_resume_works_through_a_redirect(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/cdn/m.bin"] = Route(DATA, drop_after=70_000)
    server.routes["/m.bin"] = Route(redirect="/cdn/m.bin")

    _fetch(server, "/m.bin", tmp_path / "m.bin", expected_sha256=sha256(DATA))

    assert (tmp_path / "m.bin").read_bytes() == DATA
    assert server.bytes_served("/cdn/m.bin") == len(DATA)
    assert server.hits_for("/cdn/m.bin")[1].range == "bytes=70000-"


def test_slow_server_within_timeout_completes(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(DATA, chunk=30_000, delay=0.02)

    _fetch(server, "/m.bin", tmp_path / "m.bin", options=DownloadOptions(timeout=1.0, retries=0))

    assert (tmp_path / "m.bin").read_bytes() == DATA


def test_stalled_server_times_out_then_resumes(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(DATA, stall_after=60_000, stall=1.5)
    opts = DownloadOptions(timeout=0.3, retries=2, backoff=0.01)

    result = _fetch(server, "/m.bin", tmp_path / "m.bin", options=opts)

    assert (tmp_path / "m.bin").read_bytes() == DATA
    assert result.attempts == 2
    assert server.hits_for("/m.bin")[1].range == "bytes=60000-"


def test_stalled_server_without_retries_says_timed_out(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(DATA, stall_after=60_000, stall=1.0)

    with pytest.raises(NetworkError, match="timed out"):
        _fetch(
            server, "/m.bin", tmp_path / "m.bin", options=DownloadOptions(timeout=0.3, retries=0)
        )

    assert (tmp_path / "m.bin.part").stat().st_size == 60_000  # kept for a resume


def test_refused_connection_is_a_network_error_after_retries(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/m.bin"

    with pytest.raises(NetworkError, match="refused.*gave up after 3 attempts"):
        download(url, tmp_path / "m.bin", options=DownloadOptions(retries=2, backoff=0.01))

    assert tree(tmp_path) == []


def test_not_enough_disk_space_is_refused_before_writing(
    server: LocalServer, tmp_path: Path
) -> None:
    server.routes["/m.bin"] = Route(DATA, announce_length=10**17)  # 100 PB

    with pytest.raises(InsufficientSpaceError, match="not enough disk space"):
        _fetch(server, "/m.bin", tmp_path / "m.bin")

    assert tree(tmp_path) == []


def test_verify_hook_failure_deletes_the_bytes(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/m.bin"] = Route(DATA)

    def refuse(path: Path) -> None:
        assert path.read_bytes() == DATA  # it sees the complete bytes before the rename
        raise ValueError("not a model")

    with pytest.raises(ValueError, match="not a model"):
        _fetch(server, "/m.bin", tmp_path / "m.bin", verify_file=refuse)

    assert tree(tmp_path) == []


def test_only_http_urls_are_accepted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="http"):
        download("file:///etc/passwd", tmp_path / "x")
