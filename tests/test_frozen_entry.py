"""The frozen executable's entry point routes helper command lines before the CLI."""

import importlib
import json
import subprocess
import sys

from app.frozen_entry import HELPER_MODULES, dispatch


def test_dash_m_runs_a_helper_module_as_main(capsys):
    # The device listing the GUI starts as `streamvox -m engine.audio.devices --json`
    assert dispatch(["-m", "engine.audio.devices", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert set(listing) == {"hostapis", "devices"}


def test_every_helper_module_has_a_main():
    for name in HELPER_MODULES:
        assert callable(importlib.import_module(name).main), name


def test_dash_m_passes_arguments_and_exit_codes(capsys):
    assert dispatch(["-m", "app.smoke", "--timeout", "-1"]) == 2  # its own argparse error
    assert "--timeout must be positive" in capsys.readouterr().err


def test_dash_m_refuses_other_modules(capsys):
    assert dispatch(["-m", "http.server"]) == 2
    err = capsys.readouterr().err
    assert "-m http.server: not a module this build runs" in err
    assert all(m in err for m in HELPER_MODULES)
    assert dispatch(["-m"]) == 2


def test_everything_else_is_the_streamvox_command_line(tmp_path, capsys):
    code = dispatch(["process", str(tmp_path / "missing.wav"), str(tmp_path / "out.wav")])
    assert code == 2
    assert "streamvox process: error:" in capsys.readouterr().err


def test_audio_host_flag_reaches_the_audio_host():
    # Its own argument parser answers (it exits hard, so run it in a process)
    done = subprocess.run(
        [sys.executable, "-m", "app.frozen_entry", "--audio-host"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "the following arguments are required: --shm" in done.stderr
