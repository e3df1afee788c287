"""GUI test set-up: settings and logs go to a per-test folder, never the user's."""

import pytest

from app import crash, settings


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.CONFIG_DIR_ENV, str(tmp_path / "config"))
    monkeypatch.setenv(crash.LOG_DIR_ENV, str(tmp_path / "logs"))
    monkeypatch.setenv("STREAMVOX_MODEL_DIR", str(tmp_path / "models"))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_codec_file(tmp_path_factory):
    """A valid codec weights file (our safetensors format, tiny architecture)."""
    from engine.models.codec_checkpoint import save_codec, seeded_codec
    from engine.models.tiny_codec import CodecConfig

    path = tmp_path_factory.mktemp("weights") / "my codec.safetensors"
    config = CodecConfig(enc_base=8, latent_dim=16, d_model=32, n_heads=2, ffn_dim=32)
    save_codec(seeded_codec(2, config), path)
    return path
