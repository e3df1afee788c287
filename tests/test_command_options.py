"""Option values that used to hang, crash or be accepted silently (issue 15, item 8).

All are refused before any device or model is opened.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from engine.commands.run import exit_code


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--seconds", "-1"], "--seconds must be >= 0"),
        (["--seconds", "nan"], "--seconds must be >= 0"),
        (["--latency", "bogus"], "--latency must be low, high or a number of seconds > 0"),
        (["--latency", "-0.1"], "--latency must be low, high or a number of seconds > 0"),
    ],
)
def test_run_refuses_bad_values_in_one_line(args, words, capsys, monkeypatch):
    def no_engine(*a, **k):
        raise AssertionError("the engine was started")

    monkeypatch.setattr("engine.live.engine.Engine", no_engine)
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err


def test_run_after_a_recovered_interruption_exits_0(capsys):
    assert exit_code(3, "running") == 0
    assert "interrupted for about 3 s" in capsys.readouterr().out
    assert exit_code(0, "running") == 0
    assert exit_code(2, "error") == 1


def test_process_threads_zero_is_refused(tmp_path, capsys):
    src = tmp_path / "a.wav"
    sf.write(src, np.zeros(1600, np.float32), 16_000)
    out = tmp_path / "o.wav"
    assert main(["process", str(src), str(out), "--chain", "dry", "--threads", "0"]) == 2
    assert "--threads must be >= 1, got 0" in capsys.readouterr().err
    assert not out.exists()
