"""``streamvox devices`` and ``streamvox run`` against a real JACK server.

Each runs in a subprocess, as a user would run it (and so PortAudio never
initialises inside the test process).
"""

import json
import subprocess
import sys

import pytest

from engine.audio.child import child_env

LAUNCH = (
    "import argparse, sys\n"
    "from engine.commands import {name} as m\n"
    "p = argparse.ArgumentParser(); m.register(p.add_subparsers())\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def cli(name, *args, timeout=90):
    return subprocess.run(
        [sys.executable, "-c", LAUNCH.format(name=name), name, *args],
        capture_output=True, text=True, timeout=timeout, env=child_env(), check=False,
    )  # fmt: skip


def test_devices_lists_the_jack_system_device(jack_server):
    done = cli("devices")
    assert done.returncode == 0, done.stderr
    assert "JACK Audio Connection Kit" in done.stdout
    row = next(line for line in done.stdout.splitlines() if " system " in line)
    assert "><" in row  # default input and output
    data = json.loads(cli("devices", "--json").stdout)
    system = next(d for d in data["devices"] if d["name"] == "system")
    assert system["max_input_channels"] == 2 and system["default_samplerate"] == 48000


def test_run_prints_a_metrics_line_per_second(jack_server):
    done = cli("run", "--input", "system", "--output", "system", "--chain", "dry",
               "--seconds", "2", "--block", "256")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if "[running]" in ln]
    assert len(lines) >= 1
    assert "latency=" in lines[-1] and "xruns=" in lines[-1]
    assert "summary: state=running" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["--input", "no such mic"], "no input device matches"),
    (["--chunk", "11"], "chunk must be"),
])  # fmt: skip
def test_run_reports_bad_options_in_one_line(jack_server, args, message):
    done = cli("run", "--output", "system", "--chain", "dry", "--seconds", "1", *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_run_puts_any_two_taps_on_a_and_b_and_flips(jack_server):
    done = cli("run", "--input", "system", "--output", "system", "--a", "mulaw",
               "--b", "opus@9.3", "--hear", "A", "--flip", "0.5", "--seconds", "2.2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "A=mulaw@64 B=opus@9.3/20ms hearing A" in done.stdout
    heard = {ln.split("tap=")[1].split()[0] for ln in done.stdout.splitlines() if "tap=" in ln}
    assert heard <= {"mulaw@64", "opus@9.3/20ms"} and heard
    bad = cli("run", "--output", "system", "--a", "vocoder,opus", "--seconds", "1")
    assert bad.returncode == 2 and "vocoder must come after the codec" in bad.stderr
