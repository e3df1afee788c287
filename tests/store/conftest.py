"""Fixtures of the model-store tests: a local HTTP server and checkpoint files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.http_server import LocalServer, start_server, stop_server


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Talk to 127.0.0.1 directly even where a proxy is configured."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("STREAMVOX_MODEL_DIR", raising=False)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = start_server()
    yield local
    stop_server(local)


@pytest.fixture(scope="session")
def seed_codec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seed-format ``tiny_transformer_best.pt`` (seed architecture, random weights)."""
    from engine.models.codec.checkpoint import seeded_codec
    from engine.models.codec.seed import save_seed_checkpoint

    path = tmp_path_factory.mktemp("fixtures") / "tiny_transformer_best.pt"
    save_seed_checkpoint(seeded_codec(1), path, extra={"epoch": 131})
    return path


@pytest.fixture(scope="session")
def streamvox_codec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our safetensors codec format, with a tiny non-seed architecture."""
    from engine.models.codec.checkpoint import save_codec, seeded_codec
    from engine.models.codec.model import CodecConfig

    path = tmp_path_factory.mktemp("fixtures") / "my codec.safetensors"
    config = CodecConfig(enc_base=8, latent_dim=16, d_model=32, n_heads=2, ffn_dim=32)
    save_codec(seeded_codec(2, config), path)
    return path


@pytest.fixture(scope="session")
def lightning_vocos_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seed-format Lightning ``epoch=3.ckpt`` (foreign hparam classes, tiny sizes)."""
    from engine.models.vocos.checkpoint import seeded_vocos
    from engine.models.vocos.config import VocosConfig
    from engine.models.vocos.seed import save_lightning_checkpoint

    path = tmp_path_factory.mktemp("fixtures") / "epoch=3.ckpt"
    config = VocosConfig(dim=16, intermediate_dim=32, n_layers=1)
    save_lightning_checkpoint(seeded_vocos(config, seed=3), path)
    return path
