"""``streamvox bench``: runs in quick mode and prints the expected table (no speed checks)."""

import argparse
import time

import pytest
import torch

from app import cli
from engine.commands import bench as bench_command
from engine.measure.step_bench import (
    CHUNK_FRAMES,
    PGHI_GEOMETRIES,
    BenchOptions,
    BenchRow,
    StepPath,
    time_paths,
)
from tests.speech_fixture import make_speech


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the command as ``streamvox bench ...`` would (CLI registry if it lists it)."""
    if "bench" in cli.COMMANDS:
        code = cli.main(["bench", *argv])
    else:
        parser = argparse.ArgumentParser(prog="streamvox")
        bench_command.register(parser.add_subparsers(dest="command"))
        args = parser.parse_args(["bench", *argv])
        code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def _table_rows(out: str, header: str = "model ") -> list[list[str]]:
    """Cells of the first table whose header starts with ``header`` (columns from its rule)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rule = lines[start + 1]
    starts = [i for i, ch in enumerate(rule) if ch == "-" and (i == 0 or rule[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append([line[a:b].strip() for a, b in bounds])
    return rows


def test_quick_bench_prints_every_expected_row(capsys):
    threads = torch.get_num_threads()
    code, out, err = _run(["--quick"], capsys)
    assert code == 0, err
    assert torch.get_num_threads() == threads  # restored
    assert "1 thread(s)" in out and "load average" in out
    rows = _table_rows(out)
    keys = {(r[0], r[1].split()[0], r[2]) for r in rows}
    expected = {("codec", "fp32", "1"), ("codec", "fast", "1"), ("codec search4", "fast", "1")}
    for size in ("vocos seed", "vocos default"):
        expected |= {(size, path, str(n)) for path in ("fp32", "fast") for n in CHUNK_FRAMES}
    expected |= {(f"pghi {n_fft}/{hop}", "numpy", "1") for n_fft, hop in PGHI_GEOMETRIES}
    assert keys == expected
    assert len(rows) == len(expected)
    for r in rows:  # median <= p99; RTF = median / audio duration
        audio, median, p99, first, rtf = (float(v) for v in r[3:8])
        assert 0 < median <= p99 and first > 0
        assert rtf == pytest.approx(median / audio, rel=0.02, abs=1e-3)
        assert (r[0], r[2], r[-1] != "") in {
            ("codec", "1", True),
            ("vocos seed", "1", True),
            ("vocos seed", "5", True),
        } or r[-1] == ""
    assert "dim 512, intermediate 1536, 8 layers" in out
    assert "dim 384, intermediate 1152, 6 layers" in out


def test_bench_accuracy_table_on_speech(tmp_path, capsys):
    wav = make_speech(tmp_path / "s.wav")
    argv = ["--quick", "--sizes", "tiny", "--chunks", "1,5", "--precision", "int8", "--speech"]
    code, out, err = _run([*argv, str(wav)], capsys)
    assert code == 0, err
    acc = _table_rows(out[out.index("accuracy vs the fp32 model") :], "model ")
    keys = {(r[0], r[1], r[2]) for r in acc}
    assert keys == {
        ("codec", "fast fp32", "1"),
        *(("vocos tiny", "fast fp32", n) for n in "15"),
        *(("vocos tiny", "fast int8 (head fp16)", n) for n in "15"),
    }
    for r in acc:
        assert float(r[4]) > 30.0  # SNR dB against fp32


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--precision", "int3"], "unknown precision"),
        (["--sizes", "huge"], "unknown size"),
        (["--chunks", "0"], "chunk frames"),
        (["--chunks", "a,b"], "comma list of ints"),
        (["--runs", "0"], "runs"),
    ],
)
def test_bad_options_exit_2_with_a_message(argv, message, capsys):
    code, _out, err = _run(["--quick", *argv], capsys)
    assert code == 2
    assert message in err


def test_bench_options_validate_directly():
    with pytest.raises(ValueError):
        BenchOptions(threads=0)
    with pytest.raises(ValueError):
        BenchOptions(chunks=(11,))


def test_time_paths_times_each_path_in_turns_and_the_first_call_after_reset():
    log = []

    def path(name: str, sleep_s: float) -> StepPath:
        def step(x):
            log.append(name)
            time.sleep(sleep_s)

        return StepPath(name, step, lambda: log.append(f"reset {name}"))

    slow, fast = path("slow", 0.004), path("fast", 0.0)
    (s_med, s_p99, s_first), (f_med, _f_p99, _f_first) = time_paths(
        [slow, fast], [0, 1], warmup=2, runs=5, block=2
    )
    timed = log[log.index("reset fast") + 2 :]
    assert log[:4] == ["slow", "slow", "fast", "fast"]  # warm-up
    assert timed == ["slow"] * 2 + ["fast"] * 2 + ["slow"] * 2 + ["fast"] * 2 + ["slow", "fast"]
    assert 4.0 <= s_med <= s_p99 and s_first >= 4.0
    assert f_med < s_med


def test_bench_row_rtf_and_targets():
    row = BenchRow("vocos seed", "fast int8", 5, 100.0, 2.0, 3.0, 2.5)
    assert row.rtf == pytest.approx(0.02)
    assert row.target_ms == 4.0
    assert BenchRow("vocos default", "fp32", 5, 100.0, 2.0, 3.0, 2.5).target_ms is None
