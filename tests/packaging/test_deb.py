"""The Debian package, tested by installing it on this machine.

Opt-in (it needs root, installs into /opt and /usr, and takes minutes):

    STREAMVOX_PACKAGING_TESTS=1 python -m pytest -q tests/packaging

Builds the package with ``packaging/build_deb.sh --fast`` (or takes a built
one from ``STREAMVOX_DEB=path.deb``), installs it with ``dpkg -i``, runs the
installed ``streamvox self-test`` offscreen and ``streamvox process`` from a
folder outside the checkout with no PYTHONPATH (so nothing of the checkout
can be imported), compares what ``process`` wrote with the same command run
from the checkout, then ``dpkg -r`` and checks that every file is gone.
The tests run in file order and share one installation.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "streamvox"
INSTALLED_FILES = (
    Path("/opt/streamvox/streamvox"),
    Path("/opt/streamvox/_internal/resources/weights/codec.safetensors"),
    Path("/opt/streamvox/_internal/resources/weights/vocos.safetensors"),
    Path("/usr/share/applications/streamvox.desktop"),
    Path("/usr/share/icons/hicolor/scalable/apps/streamvox.svg"),
    Path("/usr/share/icons/hicolor/256x256/apps/streamvox.png"),
)
COMMAND = Path("/usr/bin/streamvox")

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("STREAMVOX_PACKAGING_TESTS") != "1",
        reason="packaging tests are opt-in: STREAMVOX_PACKAGING_TESTS=1 (root, minutes)",
    ),
    pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg (Debian/Ubuntu)"),
    pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="dpkg -i needs root"),
]


def _run(cmd: list[str], timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)


def _installed() -> bool:
    done = _run(["dpkg-query", "-W", "-f=${Status}", PACKAGE])
    return done.returncode == 0 and "install ok installed" in done.stdout


def _outside_env() -> dict[str, str]:
    """A user's environment: no display, nothing of the checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QT_"))}
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> Path:
    """The package: STREAMVOX_DEB, or built now (build time printed)."""
    given = os.environ.get("STREAMVOX_DEB")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("deb")
    t0 = time.monotonic()
    done = _run(
        ["bash", str(ROOT / "packaging" / "build_deb.sh"), "--fast", "--out", str(out)],
        timeout=1800,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"\nbuild_deb.sh --fast took {time.monotonic() - t0:.0f} s")
    print(next(ln for ln in done.stdout.splitlines() if ln.startswith("build_deb: folder")))
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def installed(deb):
    """Install for the module; remove afterwards whatever the tests did."""
    if _installed():
        pytest.fail("streamvox is already installed here: remove it first (dpkg -r streamvox)")
    done = _run(["dpkg", "-i", str(deb)], timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    yield deb
    if _installed():
        _run(["dpkg", "-r", PACKAGE], timeout=600)


def test_control_file_declares_the_system_libraries(deb):
    depends = _run(["dpkg-deb", "-f", str(deb), "Depends"]).stdout
    classic_codecs = ("libvo-amrwbenc0", "libopencore-amrwb0", "libspeex1", "libcodec2-1.0")
    for lib in ("libportaudio2", "libopus0", "libxcb-cursor0", "libc6", *classic_codecs):
        assert lib in depends
    assert "libgtk" not in depends  # the GTK theme plugin is left out


def test_files_command_and_menu_entry_are_installed(installed):
    for path in INSTALLED_FILES:
        assert path.is_file(), path
    assert COMMAND.is_symlink() and COMMAND.resolve() == INSTALLED_FILES[0]
    assert shutil.which("streamvox") == str(COMMAND)
    desktop = INSTALLED_FILES[3].read_text()
    assert "\nExec=streamvox\n" in desktop and "\nIcon=streamvox\n" in desktop
    if shutil.which("desktop-file-validate"):
        assert _run(["desktop-file-validate", str(INSTALLED_FILES[3])]).returncode == 0


def test_installed_self_test_passes_offscreen(installed, tmp_path):
    done = _run(["streamvox", "self-test"], timeout=600, cwd=tmp_path, env=_outside_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(frozen app, /opt/streamvox/streamvox" in done.stdout
    assert "OK   GUI: main window" in done.stdout and "on 'offscreen'" in done.stdout
    assert "all 10 checks passed" in done.stdout


def _voice(path: Path, rate: int = 44_100, seconds: float = 1.5) -> None:
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * np.pi * np.cumsum(130 + 40 * np.sin(2 * np.pi * 3 * t)) / rate
    voice = sum(0.15 / k * np.sin(k * phase) for k in range(1, 9))
    noise = 0.01 * np.random.default_rng(1).standard_normal(len(t))
    sf.write(path, np.stack([voice + noise, 0.5 * voice], axis=1).astype(np.float32), rate)


def test_installed_process_matches_the_checkout(installed, tmp_path):
    # Given a 44.1 kHz stereo file
    src = tmp_path / "in.wav"
    _voice(src)
    # When the installed command and the checkout process it the same way
    ours = tmp_path / "installed.wav"
    done = _run(["streamvox", "process", str(src), str(ours)], cwd=tmp_path, env=_outside_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chain latency:" in done.stdout
    ref = tmp_path / "checkout.wav"
    tree = _run([sys.executable, "-m", "app.cli", "process", str(src), str(ref)], cwd=ROOT)
    assert tree.returncode == 0, tree.stderr
    # Then the outputs are the same signal (the frozen app is the same code and weights)
    y, rate = sf.read(ours, dtype="float32")
    r, _ = sf.read(ref, dtype="float32")
    assert rate == 16_000 and y.shape == r.shape == (24_000,)
    assert np.isfinite(y).all() and np.sqrt(np.mean(y**2)) > 1e-3
    np.testing.assert_allclose(y, r, atol=2 / 32768)


@pytest.mark.parametrize("chain", ["amrwb@8.85", "speex@9.8", "codec2@3.2"])
def test_installed_app_runs_the_classic_codecs(installed, tmp_path, chain):
    # The frozen app finds the system libraries the package depends on.
    src = tmp_path / "in.wav"
    _voice(src, rate=16_000, seconds=0.5)
    out = tmp_path / "out.wav"
    args = ["streamvox", "process", str(src), str(out), "--chain", chain]
    done = _run(args, cwd=tmp_path, env=_outside_env())
    assert done.returncode == 0, done.stdout + done.stderr
    y, _ = sf.read(out, dtype="float32")
    assert np.sqrt(np.mean(y**2)) > 1e-3


def test_dpkg_r_removes_everything(installed):
    owned = _run(["dpkg-query", "-L", PACKAGE]).stdout.split()
    done = _run(["dpkg", "-r", PACKAGE], timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not _installed()
    assert not Path("/opt/streamvox").exists()
    assert not COMMAND.exists() and not COMMAND.is_symlink()
    left = [p for p in owned if p.startswith(("/opt/streamvox", "/usr/")) and Path(p).is_file()]
    assert left == []
    for path in INSTALLED_FILES:
        assert not path.exists(), path
