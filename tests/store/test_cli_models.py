"""`streamvox models ...` end to end, with a store pointed at a local HTTP server."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from engine.commands import models
from engine.store import ModelEntry, ModelStore, Registry
from engine.store.registry import FORMAT_SEED_CODEC
from tests.store.helpers import sha256
from tests.store.http_server import LocalServer, Route, closed_port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamvox")
    models.register(parser.add_subparsers(dest="command"))
    return parser


def _store(root: Path, url: str) -> ModelStore:
    from engine.store import DownloadOptions

    entry = ModelEntry(
        "seed-codec",
        "codec",
        FORMAT_SEED_CODEC,
        "tiny_transformer_best.pt",
        description="seed codec",
        licence="unknown",
        source="test",
        url=url,
    )
    options = DownloadOptions(timeout=2, retries=1, backoff=0.01)
    return ModelStore(root, registry=Registry([entry]), options=options)


def _run(argv: list[str], store: ModelStore | None = None) -> int:
    args = _parser().parse_args(["models", *argv])
    assert args.func is models.run
    return models.run(args, store)


def test_download_list_path_remove(
    server: LocalServer,
    tmp_path: Path,
    seed_codec_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = seed_codec_file.read_bytes()
    server.routes["/seed.pt"] = Route(data)
    store = _store(tmp_path / "cache", server.url("/seed.pt"))

    assert _run(["download", "seed-codec"], store) == 0
    out, err = capsys.readouterr()
    assert sha256(data) in out and "recorded" in out
    assert "seed-codec" in err  # the progress bar

    assert _run(["list"], store) == 0
    out = capsys.readouterr().out
    assert f"Model cache: {tmp_path / 'cache'}" in out
    row = next(line for line in out.splitlines() if line.startswith("seed-codec"))
    assert "cached" in row and "2.7 MB" in row

    assert _run(["path", "seed-codec"], store) == 0
    assert capsys.readouterr().out.strip() == str(
        tmp_path / "cache" / "seed-codec" / "tiny_transformer_best.pt"
    )

    assert _run(["remove", "seed-codec"], store) == 0
    assert "removed seed-codec" in capsys.readouterr().out
    assert _run(["remove", "seed-codec"], store) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_offline_download_fails_with_the_manual_route(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/seed.pt"
    store = _store(tmp_path / "cache", url)

    assert _run(["download", "seed-codec", "--no-progress"], store) == 1

    err = capsys.readouterr().err
    assert err.startswith("streamvox models: error:") and url in err
    assert str(tmp_path / "cache" / "seed-codec" / "tiny_transformer_best.pt") in err
    assert "streamvox models import FILE --name seed-codec" in err


def test_import_through_the_cli_with_model_dir(
    tmp_path: Path, seed_codec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "Downloaded Weights.pt"
    shutil.copy(seed_codec_file, src)
    root = tmp_path / "cache"

    assert _run(["import", str(src), "--model-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "as downloaded-weights (codec, seed-codec)" in out

    assert _run(["path", "--model-dir", str(root)]) == 0
    assert capsys.readouterr().out.strip() == str(root)
    assert (root / "downloaded-weights" / "Downloaded_Weights.pt").read_bytes() == src.read_bytes()


def test_import_of_a_bad_file_is_one_clear_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a model")

    assert _run(["import", str(bad), "--model-dir", str(tmp_path / "c")]) == 1

    err = capsys.readouterr().err
    assert err.startswith("streamvox models: error:") and str(bad) in err
    assert not (tmp_path / "c" / "notes").exists()


def test_default_registry_listing_without_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["list", "--model-dir", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    for name in (
        "default-codec",
        "default-vocoder",
        "lowlatency-vocoder",
        "seedframe-vocoder",
        "streaming-vocos",
        "seed-codec",
    ):
        assert any(line.startswith(name) for line in out.splitlines()), name
    assert "huggingface.co/warisqr007/StreamingVocos" in out
