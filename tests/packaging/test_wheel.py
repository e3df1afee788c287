"""The wheel (what ``pip install`` / ``pipx install`` use), tested by installing it.

Opt-in like the .deb (it takes about a minute and a 1.5 GB virtual env):

    STREAMVOX_PACKAGING_TESTS=1 python -m pytest -q tests/packaging/test_wheel.py

Builds the wheel with ``pip wheel --no-deps``, installs that file alone into a
fresh virtual environment (dependencies pinned by ``constraints.txt``, from
pip's configured indexes), then runs the installed ``streamvox self-test``
offscreen and ``streamvox process`` from a folder outside the checkout with no
PYTHONPATH, and compares what ``process`` wrote with the checkout's result.
The tests share one environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ("codec.safetensors", "vocos.safetensors")

pytestmark = pytest.mark.skipif(
    os.environ.get("STREAMVOX_PACKAGING_TESTS") != "1",
    reason="packaging tests are opt-in: STREAMVOX_PACKAGING_TESTS=1 (about a minute)",
)


def _run(cmd: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)


def _outside_env(home: Path) -> dict[str, str]:
    """A user's environment: no display, nothing of the checkout importable, own config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QT_", "VIRTUAL"))}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.update(STREAMVOX_CONFIG_DIR=str(home / "config"), STREAMVOX_MODEL_DIR=str(home / "models"))
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)]
    done = _run(cmd)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"\npip wheel took {time.monotonic() - t0:.0f} s")
    (path,) = out.glob("streamvox-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with only the wheel and its pinned dependencies."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    t0 = time.monotonic()
    cmd = [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt")]
    done = _run([*cmd, str(wheel)], cwd=env_dir)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"\npip install of the wheel took {time.monotonic() - t0:.0f} s")
    return env_dir / "bin" / "streamvox"


def test_wheel_carries_the_bundled_weights_and_resources(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in BUNDLED:
        assert f"resources/weights/{name}" in names
    assert "resources/icons/streamvox.png" in names
    assert not any(n.startswith("tests/") for n in names)


def test_installed_self_test_passes_offscreen(installed, tmp_path):
    env = {**_outside_env(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    done = _run([str(installed), "self-test"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(installed.parent) in done.stdout  # the venv's Python, not the checkout's
    assert "site-packages/resources/weights/codec.safetensors" in done.stdout
    assert "all 10 checks passed" in done.stdout


def test_installed_process_matches_the_checkout(installed, tmp_path):
    rate = 44_100
    t = np.arange(int(1.5 * rate)) / rate
    voice = sum(0.15 / k * np.sin(2 * np.pi * 130 * k * t) for k in range(1, 9))
    src = tmp_path / "in.wav"
    sf.write(src, np.stack([voice, 0.5 * voice], axis=1).astype(np.float32), rate)
    ours = tmp_path / "installed.wav"
    done = _run([str(installed), "process", str(src), str(ours)], cwd=tmp_path,
                env=_outside_env(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ref = tmp_path / "checkout.wav"
    tree = _run([sys.executable, "-m", "app.cli", "process", str(src), str(ref)], cwd=ROOT)
    assert tree.returncode == 0, tree.stderr
    y, out_rate = sf.read(ours, dtype="float32")
    r, _ = sf.read(ref, dtype="float32")
    assert out_rate == 16_000 and y.shape == r.shape == (24_000,)
    assert np.isfinite(y).all() and np.sqrt(np.mean(y**2)) > 1e-3
    np.testing.assert_allclose(y, r, atol=2 / 32768)
