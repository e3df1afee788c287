import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from engine.chain import Chain, build_stages
from engine.commands.evaluate import DEFAULT_CHAINS
from engine.dsp import metrics
from engine.evaluate import (
    UtteranceResult,
    alignment,
    chain_bitrate_kbps,
    lags_agree,
    score_utterance,
    split_chain_list,
)
from engine.models.codec.checkpoint import seeded_codec
from engine.models.codec.stage import CodecStage
from engine.stage import DryStage
from tests.speech_fixture import SENTENCES, make_speech


@pytest.fixture(scope="module")
def speech_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("speech")
    for i, text in enumerate(SENTENCES[:2]):
        make_speech(d / f"utt{i}.wav", text)
    return d


def test_dry_chain_scores_perfectly_and_reports_are_written(speech_dir, tmp_path, capsys):
    out = tmp_path / "report"
    rc = main(["evaluate", str(speech_dir), "--chains", "dry", "--out", str(out), "--no-progress"])
    assert rc == 0
    rows = list(csv.DictReader((out / "utterances.csv").open()))
    assert len(rows) == 2
    for r in rows:
        assert float(r["pesq_wb"]) > 4.4
        assert float(r["stoi"]) > 0.99
        assert float(r["si_sdr"]) > 60
        assert float(r["measured_lag_ms"]) == float(r["declared_latency_ms"]) == 0.0
    md = (out / "summary.md").read_text()
    assert "| dry | 2 |" in md and "PESQ-WB" in md
    assert (out / "summary.png").stat().st_size > 1000
    assert "| dry | 2 |" in capsys.readouterr().out


def test_alignment_is_measured_by_cross_correlation(speech_dir):
    chain = Chain([DryStage(hop=100)])
    r = score_utterance("delayed", chain, speech_dir / "utt0.wav", block=64)
    assert r.declared_latency_ms == pytest.approx(100 / 16)
    assert r.measured_lag_ms == pytest.approx(100 / 16)
    assert r.pesq_wb > 4.4  # aligned by the declared latency, so it is a perfect copy


def test_codec_chain_runs_and_degrades(speech_dir, tmp_path):
    out = tmp_path / "r"
    rc = main(
        [
            "evaluate",
            str(speech_dir / "utt0.wav"),
            "--chains",
            "dry,codec",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    rows = {r["chain"]: r for r in csv.DictReader((out / "utterances.csv").open())}
    assert float(rows["codec"]["pesq_wb"]) < float(rows["dry"]["pesq_wb"])
    # hop 240 + the bundled codec's learned delay and seam fade, as its file records them
    delay = bundled_codec_delay()
    assert 0 < delay < 240
    assert float(rows["codec"]["declared_latency_ms"]) == 1000 * (240 + delay) / 16000


def bundled_codec_delay() -> int:
    """The bundled codec's delay beyond its hop, from its file: learned delay + seam fade."""
    from engine.models.codec.checkpoint import load_codec
    from engine.resources import DEFAULT_CODEC_WEIGHTS

    model = load_codec(DEFAULT_CODEC_WEIGHTS)
    return model.weights_info.output_delay + model.config.seam_fade


def test_bad_inputs_give_clear_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing"), "--no-progress"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), "--no-progress"]) == 2
    assert "no audio files" in capsys.readouterr().err


def test_metric_sanity():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000)
    assert metrics.si_sdr(x, 3 * x) > 100  # scale-invariant
    assert metrics.si_sdr(x, x + rng.standard_normal(16000)) == pytest.approx(0, abs=0.3)
    mean, half = metrics.mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(2.484, abs=1e-3)
    y = np.concatenate([np.zeros(37), x])
    assert metrics.find_delay(x, y, 100) == 37


def test_stoi_is_undefined_on_too_short_speech():
    x = np.random.default_rng(1).standard_normal(3000) * np.hanning(3000)
    assert np.isnan(metrics.stoi(x, x))


def _rows(lags, declared=15.5, stoi=0.8):
    return [
        UtteranceResult("codec", f"u{i}.wav", 1.0, 2.0, stoi, 0.0, 0.5, declared, lag, 0.1)
        for i, lag in enumerate(lags)
    ]


def test_alignment_flag_tolerates_a_few_badly_coded_utterances_not_a_wrong_latency():
    assert lags_agree(_rows([15.5] * 19 + [16.5625]))  # one utterance a sample off
    assert not lags_agree(_rows([17.5] * 20))  # declared 2 ms short: every lag says so
    assert not lags_agree(_rows([15.5] * 15 + [18.0] * 5))  # a quarter disagree
    assert lags_agree(_rows([40.0] * 20, stoi=0.3))  # unlike the input: lag meaningless


def test_by_default_the_codec_is_scored_beside_opus_at_6_to_18_7_kbps():
    chains = split_chain_list(DEFAULT_CHAINS)
    assert chains[:4] == ["dry", "codec", "vocoder", "codec+vocoder"]
    assert chains[4:] == ["opus@6", "opus@9.3", "opus@12", "opus@18.7"]
    ladder_after = split_chain_list("opus@12, opus-ladder")
    assert ladder_after == ["opus@12", "opus@6", "opus@9.3", "opus@18.7"]  # no repeats


def test_bitrate_column_is_what_each_decoder_receives():
    codec = Chain([CodecStage(seeded_codec(0))])
    assert chain_bitrate_kbps(codec) == pytest.approx(40 * 7 / 15)  # 40 tokens of 7 bits per 15 ms
    assert chain_bitrate_kbps(Chain(build_stages("opus@18.7"))) == pytest.approx(18.7)
    assert chain_bitrate_kbps(Chain([DryStage()])) == 256.0


def _no_processing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("processing started before the options were checked")

    monkeypatch.setattr("engine.evaluate.run_utterance", refuse)


def test_too_short_file_is_skipped_with_the_reason_and_the_rest_reported(
    speech_dir, tmp_path, capsys
):
    """Issue 15, item 5: PESQ's BufferTooShortError no longer ends the run."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "long.wav").write_bytes((speech_dir / "utt0.wav").read_bytes())
    sf.write(folder / "short.wav", np.full(1600, 0.1, np.float32), 16_000)
    out = tmp_path / "report"
    rc = main(["evaluate", str(folder), "--chains", "dry", "--out", str(out), "--no-progress"])
    assert rc == 0
    assert "skipped" in capsys.readouterr().err
    with (out / "utterances.csv").open() as f:
        assert [Path(r["file"]).name for r in csv.DictReader(f)] == ["long.wav"]
    summary = (out / "summary.md").read_text()
    assert "short.wav: too short (0.100 s; PESQ needs at least 0.25 s)" in summary


def test_out_that_cannot_take_the_reports_fails_before_processing(tmp_path, capsys, monkeypatch):
    _no_processing(monkeypatch)
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(8000, np.float32), 16_000)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for out, words in ((a_file, "is a file, not a folder"), (a_file / "sub", "cannot write")):
        args = ["evaluate", str(wav), "--chains", "dry", "--out", str(out), "--no-progress"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_folder_fails_before_processing(tmp_path, capsys, monkeypatch):
    _no_processing(monkeypatch)
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(8000, np.float32), 16_000)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    args = ["evaluate", str(wav), "--chains", "dry", "--out", str(locked), "--no-progress"]
    assert main(args) == 2
    assert "cannot write reports" in capsys.readouterr().err


def test_block_zero_is_a_clear_error(tmp_path, capsys, monkeypatch):
    _no_processing(monkeypatch)
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(8000, np.float32), 16_000)
    args = ["evaluate", str(wav), "--chains", "dry", "--out", str(tmp_path / "r"), "--block", "0"]
    assert main([*args, "--no-progress"]) == 2
    assert "--block must be a positive number of samples, got 0" in capsys.readouterr().err


def test_help_shows_percent_signs_once(capsys):
    """Issue 15, item 8: the description is not %-formatted, so "95%%" showed doubled."""
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert "95% confidence" in " ".join(text.split()) and "%%" not in text


def test_an_output_with_its_own_phase_lines_up_on_its_envelope():
    """A vocoder keeps the sound, not the waveform: its energy envelope gives the lag."""
    rng = np.random.default_rng(3)
    t = np.arange(32000) / 16000
    bursts = (np.sin(2 * np.pi * 3 * t) > 0.3).astype(float)  # syllable-like on/off
    x = bursts * rng.standard_normal(t.size)
    delay = 512
    y = np.concatenate([np.zeros(delay), bursts * rng.standard_normal(t.size)])  # new "phase"
    assert abs(metrics.envelope_delay(x, y, 2000) - delay) <= 80  # within 5 ms
    assert abs(metrics.find_delay(x, y, 2000) - delay) > 16  # the waveform cannot tell


def _env_rows(waveform_lag, envelope_lag, declared=32.0):
    return [
        UtteranceResult(
            "vocoder", f"u{i}.wav", 1.0, 2.0, 0.9, 0.0, 0.5, declared, waveform_lag, 0.1,
            envelope_lag,
        )
        for i in range(10)
    ]


def test_alignment_says_how_it_was_confirmed():
    assert alignment(_env_rows(32.0, 40.0)) == "waveform"  # the waveform lines up
    assert alignment(_env_rows(55.0, 35.0)) == "envelope"  # only the envelope, within 5 ms
    assert alignment(_env_rows(55.0, 38.0)) == "NO"  # 6 ms off
