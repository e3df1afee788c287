"""``streamvox bench --live``: a tiny subset through the CLI on real JACK servers.

Zero-delay toy stages (``--toy``) stand in for the models so the test stays
fast; the path through resamplers, rings and JACK is the real one.
"""

import pytest

from app import cli
from engine.live.engine import Engine, EngineOptions
from engine.measure.live_bench import (
    CableMeter,
    LiveOptions,
    PassStage,
    measure_config,
    pass_factory,
)
from tests.audio.jack_rig import PERIOD, RATE, jack_available
from tests.measure.test_step_bench import _table_rows

needs_jack = pytest.mark.skipif(not jack_available(), reason="jackd or JACK-Client missing")


def _bench(argv, capsys):
    code = cli.main(["bench", "--live", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@needs_jack
def test_live_table_rows_and_dry_latency_through_an_own_jack_server(capsys):
    argv = ["--toy", "--chains", "dry,codec", "--blocks", "128", "--seconds", "0", "--probes", "1"]
    code, out, err = _bench(argv, capsys)
    assert code == 0, err
    assert "jackd --no-realtime -S -d dummy -r 48000 -p BLOCK" in out
    assert "zero-delay pass-through" in out
    rows = {r[0]: r for r in _table_rows(out, "chain ")}
    assert set(rows) == {"dry", "codec"}
    for r in rows.values():
        chunk, block, reported, measured, diff = r[1:6]
        assert (chunk, block) == ("-", "128")
        assert abs(float(measured) - float(reported)) <= 1.0  # within 1 ms
        assert float(diff) == pytest.approx(float(measured) - float(reported), abs=0.11)
        assert float(r[11]) == pytest.approx(1000 * 128 / 48000, abs=0.01)  # budget ms
        assert int(r[13]) >= 0 and int(r[14]) >= 0  # dropouts, server xruns
    dry, codec = rows["dry"], rows["codec"]
    assert float(dry[6]) == 0.0 and float(dry[8]) == 0.0  # no chain, no device latency
    # the toy codec's chain is only the resamplers (about 1 ms each way), no model delay
    assert 0.5 < float(codec[6]) < 4.0


def test_missing_jackd_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _out, err = _bench(["--toy", "--chains", "dry", "--blocks", "128"], capsys)
    assert code == 2
    assert "jackd not found" in err and "jackd2" in err


@needs_jack
def test_a_running_server_measures_only_its_own_period(jack_server, capsys):
    argv = ["--jack-server", jack_server.name, "--toy", "--chains", "dry", "--blocks", "128"]
    code, _out, err = _bench(argv, capsys)
    assert code == 2
    assert f"period {jack_server.period}" in err and "block 128" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--chains", "dry,warp"], "warp"),
        (["--blocks", "8"], "blocks must be"),
        (["--blocks", "a"], "comma list of ints"),
        (["--chunks", "11"], "chunks must be"),
        (["--probes", "0"], "probes"),
        (["--margin-ms", "-1"], "margin_ms"),
        (["--cable", "--jack-server", "x"], "uses no JACK server"),
    ],
)
def test_bad_live_options_exit_2(argv, message, capsys):
    code, _out, err = _bench(argv, capsys)
    assert code == 2
    assert message in err


def test_pass_stage_keeps_the_stage_contract_at_zero_delay():
    import numpy as np

    stage = PassStage("codec")
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    y = np.concatenate([stage.process(x[:7]), stage.process(x[7:500]), stage.process(x[500:])])
    assert stage.latency == 0
    np.testing.assert_array_equal(y, stage.offline(x))
    with pytest.raises(ValueError):
        LiveOptions(chunks=(0,))


@needs_jack
def test_cable_meter_through_a_jack_loopback(jack_server, rig):
    """The cable mode on a virtual cable: JACK delays a loop by one period, nothing else."""

    class JackCable(CableMeter):
        def prepare(self):
            rig.loopback()

    opts = LiveOptions(chains=("dry",), blocks=(PERIOD,), cable=True, input="system",
                       output="system", probes=1, seconds=0.0)  # fmt: skip
    engine = Engine(factory=pass_factory, options=EngineOptions(auto_restart=False))
    try:
        row = measure_config(engine, JackCable(), opts, PERIOD, "dry", 1)
    finally:
        engine.close()
    assert row.server_xruns is None
    assert row.measured_ms == pytest.approx(row.reported_ms + 1000 * PERIOD / RATE, abs=0.05)
