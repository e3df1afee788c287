"""``streamvox self-test``: passes on this checkout, fails clearly on a broken install."""

import json
import re
import shutil
import sys

import numpy as np
import pytest
from safetensors import safe_open

from app import smoke
from app.cli import main
from app.smoke import check_gui
from engine import resources, selftest
from engine.selftest import CHAINS, check_chain, training_steps, voice_like_signal
from engine.stage import DryStage


def _recorded_steps() -> tuple[int, int]:
    """Steps as the files record them, read here independently of engine.selftest."""
    steps = []
    for path in (resources.DEFAULT_CODEC_WEIGHTS, resources.DEFAULT_VOCODER_WEIGHTS):
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads(f.metadata()["streamvox"])
        steps.append(meta["info"]["steps"] if "info" in meta else meta["steps"])
    return steps[0], steps[1]


def _line(out: str, marker: str) -> str:
    return next(ln for ln in out.splitlines() if marker in ln)


@pytest.mark.slow
def test_self_test_passes_with_the_bundled_models_and_the_gui(capsys):
    # Given this checkout (bundled weights, Qt offscreen), when self-test runs
    code = main(["self-test"])
    out = capsys.readouterr().out
    # Then every check is one OK line and the exit code is 0
    lines = [ln for ln in out.splitlines() if ln.startswith(("OK", "FAIL"))]
    assert code == 0, out
    assert len(lines) == 2 + len(CHAINS) + 1
    assert all(ln.startswith("OK") for ln in lines)
    codec_steps, vocoder_steps = _recorded_steps()
    assert f"; {codec_steps} training steps" in _line(out, "codec model:")
    assert f"; {vocoder_steps} training steps" in _line(out, "vocoder model:")
    assert re.search(r"chain codec\+vocoder: 9600 samples in \d+ ms, latency \d+ samples", out)
    assert "GUI: main window" in out
    assert f"all {2 + len(CHAINS) + 1} checks passed" in out


def test_a_truncated_codec_file_fails_with_a_message_naming_it(tmp_path, capsys):
    # Given a codec weights file cut in half
    broken = tmp_path / "codec.safetensors"
    data = resources.DEFAULT_CODEC_WEIGHTS.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    # When self-test is pointed at it
    code = main(["self-test", "--no-gui", "--codec-weights", str(broken)])
    captured = capsys.readouterr()
    # Then it exits 1, the codec line names the file and the problem ...
    assert code == 1
    codec_line = _line(captured.out, "codec model:")
    assert codec_line.startswith("FAIL") and str(broken) in codec_line
    assert "truncated or corrupt" in codec_line
    # ... chains that need the codec are not run, the others still pass
    assert "FAIL chain codec+vocoder: not run: the codec model did not load" in captured.out
    assert "OK   chain vocoder:" in captured.out and "OK   chain opus:" in captured.out
    failed = "FAILED: 3 of 9 checks (codec model, chain codec, chain codec+vocoder)"
    assert failed in captured.err


def test_a_vocoder_file_of_the_wrong_kind_fails(tmp_path, capsys):
    wrong = tmp_path / "vocos.safetensors"
    shutil.copyfile(resources.DEFAULT_CODEC_WEIGHTS, wrong)
    code = main(["self-test", "--no-gui", "--vocoder-weights", str(wrong)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"FAIL vocoder model: CheckpointError: {wrong}: holds a 'tiny_codec' model" in out
    assert "FAIL chain vocoder: not run" in out and "OK   chain codec:" in out


class _WrongLatency(DryStage):
    """Passes audio through after one hop but claims 5 samples more."""

    model_delay = 5

    def __init__(self) -> None:
        super().__init__(hop=7)


def test_a_stage_that_misdeclares_its_latency_fails(monkeypatch):
    monkeypatch.setattr(selftest, "build_stages", lambda *a, **k: [_WrongLatency()])
    result = check_chain("dry")
    assert not result.ok
    assert "at the declared latency of 12 samples" in result.detail


def test_a_crashing_gui_process_is_a_fail_line_not_a_crash(monkeypatch):
    # Given a GUI child that aborts (as Qt does without its platform plugin)
    monkeypatch.setattr(
        smoke, "gui_command", lambda timeout: [sys.executable, "-c", "import os; os.abort()"]
    )
    # When the GUI check runs, then this process survives and reports the signal
    result = check_gui(timeout=10)
    assert not result.ok
    assert "killed by SIGABRT" in result.line()


def test_training_steps_are_read_from_the_metadata(tmp_path):
    codec_steps, vocoder_steps = _recorded_steps()
    assert training_steps(resources.DEFAULT_CODEC_WEIGHTS) == codec_steps > 0
    assert training_steps(resources.DEFAULT_VOCODER_WEIGHTS) == vocoder_steps > 0
    other = tmp_path / "x.pt"
    other.write_bytes(b"\x80\x02}q\x00.")
    assert training_steps(other) is None


def test_the_test_signal_is_short_finite_and_not_clipping():
    x = voice_like_signal(0.5)
    assert x.shape == (8000,) and x.dtype == np.float32
    assert np.isfinite(x).all() and 0.05 < np.abs(x).max() < 1.0
