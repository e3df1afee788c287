"""Reference codecs (opus, mulaw, alaw) as chains: names, process and evaluate end to end."""

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from engine.chain import Chain, build_stages, parse_chain
from engine.classic.g711_stage import G711Stage
from engine.classic.opus_stage import OpusStage
from tests.speech_fixture import make_speech


@pytest.mark.parametrize(
    ("name", "stages"),
    [
        ("opus", ("opus@18.7/20ms",)),
        ("OPUS@12", ("opus@12/20ms",)),
        ("opus@12k/10ms", ("opus@12/10ms",)),
        ("opus@9.3", ("opus@9.3/20ms",)),
        ("mulaw", ("mulaw@64",)),
        ("alaw@128", ("alaw@128",)),
    ],
)
def test_reference_names_are_normalised(name, stages):
    assert parse_chain(name) == stages


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("opus@50", "bitrate"),
        ("opus@5", "bitrate"),
        ("opus@12/15ms", "frame"),
        ("mulaw@32", "64 .8 kHz. or 128"),
        ("opus12", "syntax"),
        ("opus,reverb", "unknown chain"),
    ],
)
def test_malformed_reference_names_raise(name, message):
    with pytest.raises(ValueError, match=message):
        parse_chain(name)


def test_build_stages_configures_the_codec():
    (opus,) = build_stages("opus@12/10ms")
    assert isinstance(opus, OpusStage)
    assert (opus.bitrate_bps, opus.hop, opus.latency) == (12_000, 160, 160 + opus.model_delay)
    (alaw,) = build_stages("alaw@128")
    assert isinstance(alaw, G711Stage) and alaw.law == "alaw" and alaw.bitrate_bps == 128_000
    assert build_stages("mulaw")[0].bitrate_bps == 64_000


def test_block_size_does_not_change_the_opus_chain():
    x = (0.2 * np.random.default_rng(4).standard_normal(6000)).astype(np.float32)
    outs = [Chain(build_stages("opus@16")).run_aligned(x, b) for b in (1, 97, 320, 6000)]
    for y in outs[1:]:
        np.testing.assert_array_equal(y, outs[0])
    np.testing.assert_array_equal(Chain(build_stages("opus@16")).offline(x), outs[0])


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory):
    return make_speech(tmp_path_factory.mktemp("refchains") / "speech.wav")


@pytest.mark.parametrize(
    ("chain", "latency", "min_corr"),
    [
        ("opus", None, 0.75),
        ("opus@24/10ms", None, 0.93),
        ("mulaw", 176, 0.97),
        ("alaw", 176, 0.97),
        ("mulaw@128", 80, 0.99),
    ],
)
def test_process_runs_each_reference_chain(tmp_path, capsys, speech_wav, chain, latency, min_corr):
    out = tmp_path / "out.wav"
    orig = tmp_path / "orig.wav"
    args = ["process", str(speech_wav), str(out), "--chain", chain, "--write-original", str(orig)]
    assert main(args) == 0
    y, rate = sf.read(out, dtype="float32")
    x, _ = sf.read(orig, dtype="float32")
    assert rate == 16_000 and y.shape == x.shape
    assert np.corrcoef(x, y)[0, 1] > min_corr  # aligned with the input, not just similar
    declared = latency if latency is not None else build_stages(chain)[0].latency
    assert f"chain latency:    {declared} samples" in capsys.readouterr().out


def test_evaluate_scores_reference_chains(tmp_path, speech_wav, capsys):
    report = tmp_path / "report"
    args = ["evaluate", str(speech_wav), "--chains", "dry,opus,mulaw", "--out", str(report)]
    assert main(args + ["--no-progress"]) == 0
    table = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("|")}
    assert "| 18.7 |" in rows["opus"] and "| 64.0 |" in rows["mulaw"]
    assert rows["opus"].rstrip().endswith("| yes |")  # measured lag == declared latency
    assert rows["mulaw"].rstrip().endswith("| yes |")
