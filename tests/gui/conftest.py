"""GUI test set-up: settings and logs go to a per-test folder, never the user's.

The offscreen platform's default screen is 800x800, smaller than the window's
minimum size; a 1920x1080 virtual screen lets window geometry behave as on a
desktop.
"""

import json
import os
import tempfile
from pathlib import Path

import pytest

if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
    _screen = Path(tempfile.gettempdir()) / "streamvox-offscreen-1920x1080.json"
    _screen.write_text(
        json.dumps({"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1080}]})
    )
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_screen}"

from app import crash, settings
from tests.audio.conftest import jack_server, rig  # noqa: F401 (JACK fixtures, reused)


@pytest.fixture(autouse=True)
def root_log_handlers():
    """Handlers the app adds to the root logger (its log file) go away after each test."""
    import logging

    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.CONFIG_DIR_ENV, str(tmp_path / "config"))
    monkeypatch.setenv(crash.LOG_DIR_ENV, str(tmp_path / "logs"))
    monkeypatch.setenv("STREAMVOX_MODEL_DIR", str(tmp_path / "models"))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_codec_file(tmp_path_factory):
    """A valid codec weights file (our safetensors format, tiny architecture)."""
    from engine.models.codec.checkpoint import save_codec, seeded_codec
    from engine.models.codec.model import CodecConfig

    path = tmp_path_factory.mktemp("weights") / "my codec.safetensors"
    config = CodecConfig(enc_base=8, latent_dim=16, d_model=32, n_heads=2, ffn_dim=32)
    save_codec(seeded_codec(2, config), path)
    return path


@pytest.fixture(scope="session")
def silent_codec_file(tmp_path_factory):
    """Valid codec weights whose decoder output layer is zero: the codec plays silence."""
    import torch

    from engine.models.codec.checkpoint import save_codec, seeded_codec
    from engine.models.codec.model import CodecConfig

    config = CodecConfig(enc_base=8, latent_dim=16, d_model=32, n_heads=2, ffn_dim=32)
    model = seeded_codec(4, config)
    with torch.no_grad():
        for p in model.post_decoder_final.parameters():
            p.zero_()
    path = tmp_path_factory.mktemp("weights") / "silent-codec.safetensors"
    save_codec(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_vocos_file(tmp_path_factory):
    """A valid vocoder weights file (our safetensors format, tiny architecture)."""
    from engine.models.vocos.checkpoint import save_vocos, seeded_vocos
    from engine.models.vocos.config import VocosConfig

    path = tmp_path_factory.mktemp("weights") / "my vocos.safetensors"
    save_vocos(seeded_vocos(VocosConfig(dim=16, intermediate_dim=32, n_layers=1), seed=3), path)
    return path


@pytest.fixture
def client(tiny_codec_file, tiny_vocos_file):
    """The GUI's client over the real engine (in its child process) with tiny real models."""
    from app.engine_client import EngineClient
    from app.engine_process import EngineProcess
    from engine.live.engine import EngineOptions

    engine = EngineProcess(
        options=EngineOptions(retry_s=0.5),
        codec_weights=str(tiny_codec_file),
        vocoder_weights=str(tiny_vocos_file),
    )
    c = EngineClient(engine)
    yield c
    c.close()


@pytest.fixture
def window(qtbot, client):
    """The main window over ``client``, shown, devices listed, meters polling."""
    from app.main_window import MainWindow
    from app.settings_store import SettingsStore

    w = MainWindow(client, SettingsStore())
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitActive(w)
    with qtbot.waitSignal(w.session.devices_ready, timeout=30_000):
        w.begin()
    yield w
    w.close()
