"""The store API (what the GUI dialog and the CLI use) against a real local HTTP server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import platformdirs
import pytest

from engine import resources
from engine.models.errors import CheckpointError
from engine.store import (
    DEFAULT_REGISTRY,
    STATUS_BROKEN,
    STATUS_BUNDLED,
    STATUS_CACHED,
    STATUS_MISSING,
    STATUS_NOT_DOWNLOADED,
    STATUS_UNVERIFIED,
    DownloadCancelled,
    DownloadOptions,
    HttpStatusError,
    IntegrityError,
    ModelEntry,
    ModelNotAvailableError,
    ModelStore,
    NetworkError,
    NotAModelFileError,
    Registry,
    StoreError,
    UnknownModelError,
    VerificationError,
    resolve_root,
)
from engine.store.lock import ModelLock
from engine.store.registry import (
    FORMAT_LIGHTNING_VOCOS,
    FORMAT_SEED_CODEC,
    FORMAT_STREAMVOX,
    STREAMING_VOCOS_URL,
)
from tests.store.helpers import flip_byte, sha256, tree
from tests.store.http_server import HTML_PAGE, LocalServer, Route, closed_port

FAST = DownloadOptions(timeout=2.0, retries=2, backoff=0.01)
REPO = Path(__file__).resolve().parents[2]


def _entry(name: str, kind: str, fmt: str, filename: str, **kw) -> ModelEntry:
    return ModelEntry(
        name=name,
        kind=kind,
        format=fmt,
        filename=filename,
        description=f"test {name}",
        licence="test licence",
        source="test server",
        **kw,
    )


def local_registry(server: LocalServer, pinned: bytes, bundled: Path) -> Registry:
    return Registry(
        [
            _entry(
                "seed-codec",
                "codec",
                FORMAT_SEED_CODEC,
                "tiny_transformer_best.pt",
                url=server.url("/seed.pt"),
            ),
            _entry(
                "pinned-codec",
                "codec",
                FORMAT_SEED_CODEC,
                "pinned.pt",
                url=server.url("/pinned.pt"),
                sha256=sha256(pinned),
                size=len(pinned),
            ),
            _entry(
                "streaming-vocos",
                "vocoder",
                FORMAT_LIGHTNING_VOCOS,
                "epoch=3.ckpt",
                url=server.url("/epoch%3D3.ckpt"),
            ),
            _entry("bundled-codec", "codec", FORMAT_STREAMVOX, bundled.name, bundled=bundled),
            _entry(
                "bundled-gone",
                "codec",
                FORMAT_STREAMVOX,
                "gone.safetensors",
                bundled=bundled.with_name("gone.safetensors"),
            ),
        ]
    )


@pytest.fixture
def seed_bytes(seed_codec_file: Path) -> bytes:
    return seed_codec_file.read_bytes()


@pytest.fixture
def store(
    server: LocalServer, tmp_path: Path, seed_bytes: bytes, streamvox_codec_file: Path
) -> ModelStore:
    bundled = tmp_path / "install" / "codec.safetensors"
    bundled.parent.mkdir()
    shutil.copy(streamvox_codec_file, bundled)
    server.routes["/seed.pt"] = Route(seed_bytes)
    server.routes["/pinned.pt"] = Route(seed_bytes)
    registry = local_registry(server, seed_bytes, bundled)
    return ModelStore(tmp_path / "cache", registry=registry, options=FAST)


# -- registry and cache location ---------------------------------------------------
def test_default_registry_knows_the_published_models() -> None:
    vocos, codec = DEFAULT_REGISTRY["streaming-vocos"], DEFAULT_REGISTRY["seed-codec"]

    assert vocos.url == STREAMING_VOCOS_URL
    assert vocos.url.endswith("/warisqr007/StreamingVocos/resolve/main/epoch%3D3.ckpt")
    assert (vocos.format, vocos.kind, vocos.filename) == (
        FORMAT_LIGHTNING_VOCOS,
        "vocoder",
        "epoch=3.ckpt",
    )
    assert codec.url is not None and "drive.google.com" in codec.url
    assert (codec.format, codec.kind, codec.filename) == (
        FORMAT_SEED_CODEC,
        "codec",
        "tiny_transformer_best.pt",
    )
    assert vocos.sha256 is None and codec.sha256 is None  # unpublished: trust on first use
    assert DEFAULT_REGISTRY["default-codec"].bundled == resources.DEFAULT_CODEC_WEIGHTS
    assert DEFAULT_REGISTRY["default-vocoder"].bundled == resources.DEFAULT_VOCODER_WEIGHTS


def test_cache_root_setting_beats_env_beats_platform_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = Path(platformdirs.user_cache_dir("streamvox")) / "models"
    assert resolve_root() == default

    monkeypatch.setenv("STREAMVOX_MODEL_DIR", str(tmp_path / "env"))
    assert ModelStore().root == tmp_path / "env"
    assert ModelStore(tmp_path / "setting").root == tmp_path / "setting"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "UPPER", ".hidden", "x" * 65])
def test_unsafe_model_names_are_refused(store: ModelStore, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid model name"):
        store.info(bad)


# -- download ----------------------------------------------------------------------
def test_download_verifies_records_the_hash_and_resolves(
    store: ModelStore, server: LocalServer, seed_bytes: bytes
) -> None:
    assert store.info("seed-codec").status == STATUS_NOT_DOWNLOADED

    info = store.download("seed-codec")

    assert info.status == STATUS_CACHED and info.path is not None
    assert info.path.read_bytes() == seed_bytes
    manifest = json.loads((info.path.parent / "manifest.json").read_text())
    assert manifest["sha256"] == sha256(seed_bytes)
    assert manifest["hash_origin"] == "first-use"
    assert manifest["size"] == len(seed_bytes)
    assert manifest["format"] == FORMAT_SEED_CODEC and manifest["kind"] == "codec"
    assert manifest["source"] == server.url("/seed.pt") and manifest["date"]
    assert store.resolve("seed-codec") == info.path
    assert store.load("seed-codec").config.enc_base == 16
    assert tree(store.root / "seed-codec") == ["manifest.json", "tiny_transformer_best.pt"]


def test_lightning_vocoder_downloads_through_the_safe_loader(
    store: ModelStore, server: LocalServer, lightning_vocos_file: Path
) -> None:
    server.routes["/epoch%3D3.ckpt"] = Route(lightning_vocos_file.read_bytes())

    info = store.download("streaming-vocos")

    assert (info.kind, info.format, info.status) == ("vocoder", FORMAT_LIGHTNING_VOCOS, "cached")
    assert info.path is not None and info.path.name == "epoch=3.ckpt"
    assert store.load("streaming-vocos").config.dim == 16


def test_second_download_of_an_intact_copy_fetches_nothing(
    store: ModelStore, server: LocalServer, seed_bytes: bytes
) -> None:
    store.download("seed-codec")
    store.download("seed-codec")

    assert server.bytes_served("/seed.pt") == len(seed_bytes)


def test_tofu_hash_is_enforced_after_tampering(
    store: ModelStore, server: LocalServer, seed_bytes: bytes
) -> None:
    path = store.download("seed-codec").path
    assert path is not None
    flip_byte(path)

    with pytest.raises(IntegrityError, match="first verified"):
        store.resolve("seed-codec")
    with pytest.raises(IntegrityError):
        store.load("seed-codec")

    store.download("seed-codec")  # a damaged copy is fetched again, held to the record
    assert store.resolve("seed-codec").read_bytes() == seed_bytes


def test_changed_remote_file_is_refused_under_tofu(
    store: ModelStore, server: LocalServer, streamvox_codec_file: Path, seed_codec_file: Path
) -> None:
    path = store.download("seed-codec").path
    assert path is not None
    flip_byte(path)
    other = _other_seed_checkpoint(seed_codec_file.parent / "other.pt")
    server.routes["/seed.pt"] = Route(other)  # a different, valid checkpoint

    with pytest.raises(VerificationError, match="sha256 mismatch"):
        store.download("seed-codec")

    assert not (path.parent / (path.name + ".part")).exists()


def _other_seed_checkpoint(path: Path) -> bytes:
    from engine.models.codec.checkpoint import seeded_codec
    from engine.models.codec.seed import save_seed_checkpoint

    save_seed_checkpoint(seeded_codec(7), path)
    return path.read_bytes()


def test_published_hash_mismatch_leaves_nothing(
    store: ModelStore, server: LocalServer, seed_codec_file: Path
) -> None:
    other = _other_seed_checkpoint(seed_codec_file.parent / "other2.pt")
    server.routes["/pinned.pt"] = Route(other)

    with pytest.raises(VerificationError) as info:
        store.download("pinned-codec")

    assert "sha256 mismatch" in str(info.value) or "should have" in str(info.value)
    assert tree(store.root / "pinned-codec") == []
    assert store.info("pinned-codec").status == STATUS_NOT_DOWNLOADED


def test_published_hash_match_is_recorded_as_registry(store: ModelStore) -> None:
    info = store.download("pinned-codec")

    assert info.hash_origin == "registry" and info.status == STATUS_CACHED


def test_bytes_that_are_no_model_are_refused_and_deleted(
    store: ModelStore, server: LocalServer, seed_bytes: bytes
) -> None:
    server.routes["/seed.pt"] = Route(seed_bytes[: len(seed_bytes) // 2] + b"\0" * 100)

    with pytest.raises(CheckpointError):
        store.download("seed-codec")

    assert tree(store.root / "seed-codec") == []


def test_file_in_the_wrong_format_is_refused(
    store: ModelStore, server: LocalServer, streamvox_codec_file: Path
) -> None:
    server.routes["/seed.pt"] = Route(streamvox_codec_file.read_bytes())

    with pytest.raises(CheckpointError, match="expected the seed-codec format"):
        store.download("seed-codec")

    assert tree(store.root / "seed-codec") == []


def test_html_page_is_a_clear_error_with_the_manual_route(
    store: ModelStore, server: LocalServer
) -> None:
    server.routes["/seed.pt"] = Route(HTML_PAGE, content_type="text/html")

    with pytest.raises(NotAModelFileError) as info:
        store.download("seed-codec")

    text = str(info.value)
    assert "web page" in text and server.url("/seed.pt") in text
    assert str(store.root / "seed-codec" / "tiny_transformer_best.pt") in text
    assert "streamvox models import FILE --name seed-codec" in text
    assert tree(store.root / "seed-codec") == []


def test_404_is_a_clear_error(store: ModelStore, server: LocalServer) -> None:
    del server.routes["/seed.pt"]

    with pytest.raises(HttpStatusError, match="HTTP 404"):
        store.download("seed-codec")

    assert tree(store.root / "seed-codec") == []


def test_offline_names_the_url_and_the_exact_path(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/seed.pt"
    registry = Registry(
        [_entry("seed-codec", "codec", FORMAT_SEED_CODEC, "tiny_transformer_best.pt", url=url)]
    )
    store = ModelStore(tmp_path / "cache", registry=registry, options=FAST)

    with pytest.raises(NetworkError) as info:
        store.download("seed-codec")

    text = str(info.value)
    assert "refused" in text and url in text
    assert str(tmp_path / "cache" / "seed-codec" / "tiny_transformer_best.pt") in text
    assert "streamvox models import FILE --name seed-codec" in text
    with pytest.raises(ModelNotAvailableError, match="models download seed-codec"):
        store.resolve("seed-codec")


def test_resume_after_a_drop_fetches_only_the_rest(
    store: ModelStore, server: LocalServer, seed_bytes: bytes
) -> None:
    server.routes["/seed.pt"] = Route(seed_bytes, drop_after=1_000_000)

    store.download("seed-codec")

    assert server.bytes_served("/seed.pt") == len(seed_bytes)
    assert [h.status for h in server.hits_for("/seed.pt")] == [200, 206]


def test_cancelled_download_reports_partial_bytes_then_resumes(
    store: ModelStore, server: LocalServer, seed_bytes: bytes
) -> None:
    server.routes["/seed.pt"] = Route(seed_bytes, chunk=32 * 1024)
    flag = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= 500_000:
            flag.set()

    with pytest.raises(DownloadCancelled):
        store.download("seed-codec", progress=progress, cancel=flag.is_set)
    info = store.info("seed-codec")
    kept = info.partial_bytes
    assert info.status == STATUS_NOT_DOWNLOADED and kept >= 500_000

    store.download("seed-codec")

    resumed = server.hits_for("/seed.pt")[-1]
    assert resumed.range == f"bytes={kept}-" and resumed.sent == len(seed_bytes) - kept
    assert store.resolve("seed-codec").read_bytes() == seed_bytes


def test_concurrent_downloads_in_threads_fetch_once(
    store: ModelStore, server: LocalServer, seed_bytes: bytes
) -> None:
    server.routes["/seed.pt"] = Route(seed_bytes, chunk=64 * 1024, delay=0.005)
    waits: list[str] = []
    results, errors = [], []

    def worker() -> None:
        try:
            results.append(store.download("seed-codec", on_wait=waits.append))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == [] and len(results) == 3
    assert server.bytes_served("/seed.pt") == len(seed_bytes)  # one transfer in all
    assert len(waits) == 2
    assert tree(store.root / "seed-codec") == ["manifest.json", "tiny_transformer_best.pt"]
    assert store.resolve("seed-codec").read_bytes() == seed_bytes


_CHILD = """
import sys
from engine.store import DownloadOptions, ModelEntry, ModelStore, Registry
entry = ModelEntry(name="seed-codec", kind="codec", format="seed-codec",
    filename="tiny_transformer_best.pt", description="", licence="", source="",
    url=sys.argv[2])
store = ModelStore(sys.argv[1], registry=Registry([entry]), options=DownloadOptions(timeout=5))
print(store.download("seed-codec").sha256)
"""


@pytest.mark.slow
def test_concurrent_downloads_in_two_processes_write_one_file(
    server: LocalServer, tmp_path: Path, seed_bytes: bytes
) -> None:
    server.routes["/seed.pt"] = Route(seed_bytes, chunk=64 * 1024, delay=0.02)
    root, url = tmp_path / "cache", server.url("/seed.pt")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(root), url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip() for o, _ in outs] == [sha256(seed_bytes)] * 2
    assert server.bytes_served("/seed.pt") == len(seed_bytes)
    assert tree(root / "seed-codec") == ["manifest.json", "tiny_transformer_best.pt"]
    assert (root / "seed-codec" / "tiny_transformer_best.pt").read_bytes() == seed_bytes


# -- list, remove, hand-placed files ---------------------------------------------------
def test_list_shows_every_status(store: ModelStore, seed_codec_file: Path) -> None:
    store.download("pinned-codec")
    placed = store.root / "seed-codec" / "tiny_transformer_best.pt"
    placed.parent.mkdir(parents=True)
    shutil.copy(seed_codec_file, placed)
    store.import_file(seed_codec_file, name="my-codec")

    status = {m.name: m.status for m in store.list()}

    assert status == {
        "seed-codec": STATUS_UNVERIFIED,
        "pinned-codec": STATUS_CACHED,
        "streaming-vocos": STATUS_NOT_DOWNLOADED,
        "bundled-codec": STATUS_BUNDLED,
        "bundled-gone": STATUS_MISSING,
        "my-codec": STATUS_CACHED,
    }
    assert store.resolve("bundled-codec").name == "codec.safetensors"
    with pytest.raises(ModelNotAvailableError, match="reinstall"):
        store.resolve("bundled-gone")


def test_hand_placed_file_is_validated_and_trusted_on_first_use(
    store: ModelStore, seed_codec_file: Path
) -> None:
    hint = store.manual_hint("seed-codec")
    placed = store.root / "seed-codec" / "tiny_transformer_best.pt"
    assert str(placed) in hint
    placed.parent.mkdir(parents=True)
    shutil.copy(seed_codec_file, placed)

    assert store.resolve("seed-codec") == placed

    info = store.info("seed-codec")
    assert info.status == STATUS_CACHED and info.hash_origin == "first-use"
    flip_byte(placed)
    with pytest.raises(IntegrityError):
        store.resolve("seed-codec")


def test_broken_manifest_means_checked_again(store: ModelStore) -> None:
    path = store.download("seed-codec").path
    assert path is not None
    (path.parent / "manifest.json").write_text("{not json")
    assert store.info("seed-codec").status == STATUS_UNVERIFIED

    assert store.resolve("seed-codec") == path  # loaded again, hash recorded again

    assert store.info("seed-codec").status == STATUS_CACHED


def test_hand_placed_garbage_is_refused_and_not_trusted(store: ModelStore) -> None:
    placed = store.root / "seed-codec" / "tiny_transformer_best.pt"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"\x80\x02}q\x00." + b"junk" * 100)

    with pytest.raises(CheckpointError):
        store.resolve("seed-codec")

    assert not (placed.parent / "manifest.json").exists()


def test_remove_deletes_file_manifest_and_partial(
    store: ModelStore, server: LocalServer, seed_bytes: bytes
) -> None:
    store.download("seed-codec")
    server.routes["/epoch%3D3.ckpt"] = Route(b"\0" * 400_000, drop_after=100_000, drops=99)
    with pytest.raises(NetworkError):
        store.download("streaming-vocos")
    assert store.info("streaming-vocos").partial_bytes == 100_000 * (FAST.retries + 1)

    assert store.remove("seed-codec") is True
    assert store.remove("streaming-vocos") is True

    assert not (store.root / "seed-codec").exists()
    assert not (store.root / "streaming-vocos").exists()
    assert store.info("seed-codec").status == STATUS_NOT_DOWNLOADED
    assert store.remove("seed-codec") is False
    with pytest.raises(UnknownModelError):
        store.remove("never-heard-of")
    with pytest.raises(StoreError, match="bundled"):
        store.remove("bundled-codec")


def test_unknown_and_bundled_names_cannot_be_downloaded(store: ModelStore) -> None:
    with pytest.raises(UnknownModelError, match="known models"):
        store.download("nope")
    with pytest.raises(StoreError, match="nothing to download"):
        store.download("bundled-codec")


def test_bad_cache_folders_are_listed_as_broken_not_fatal(
    store: ModelStore, seed_codec_file: Path
) -> None:
    """Issue 15, item 4: an empty folder, a killed import, a bad manifest, two files."""
    store.import_file(seed_codec_file, name="my-codec")
    (store.root / "empty").mkdir()
    killed = store.root / "killed"
    killed.mkdir()
    (killed / ".import-0123abcd.tmp").write_bytes(b"half a copy")
    bad = store.root / "bad-manifest"
    bad.mkdir()
    (bad / "manifest.json").write_text(json.dumps({"name": "bad-manifest", "filename": "../x"}))
    two = store.root / "two-files"
    two.mkdir()
    for f in ("a.pt", "b.pt"):
        (two / f).write_bytes(b"x")

    models = {m.name: m for m in store.list()}

    assert models["my-codec"].status == STATUS_CACHED
    assert not killed.exists()  # the dead import's copy is gone, and its empty folder
    for name in ("empty", "bad-manifest", "two-files"):
        assert models[name].status == STATUS_BROKEN
        assert f"streamvox models remove {name}" in models[name].description
        assert store.remove(name) and not (store.root / name).exists()


def test_a_running_import_keeps_its_copy(store: ModelStore, seed_codec_file: Path) -> None:
    store.import_file(seed_codec_file, name="busy")
    tmp = store.root / "busy" / ".import-feedbeef.tmp"
    tmp.write_bytes(b"being copied")
    with ModelLock(store.layout.lock_path("busy")):
        assert store.clean_dead_imports() == []
    assert tmp.exists()
    assert store.clean_dead_imports() == [tmp] and not tmp.exists()


def test_models_list_command_survives_a_broken_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    (tmp_path / "cache" / "empty").mkdir(parents=True)
    assert main(["models", "list", "--model-dir", str(tmp_path / "cache")]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("empty"))
    assert STATUS_BROKEN in line and "streamvox models remove empty" in line
