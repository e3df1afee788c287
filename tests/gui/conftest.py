"""GUI test set-up: settings and logs go to a per-test folder, never the user's."""

import pytest

from app import crash, settings


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.CONFIG_DIR_ENV, str(tmp_path / "config"))
    monkeypatch.setenv(crash.LOG_DIR_ENV, str(tmp_path / "logs"))
    return tmp_path
