"""End-to-end tests of ``streamvox process`` on generated signals."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from app.cli import main
from engine import chain as chain_mod
from engine.chain import Chain, build_stages
from engine.dsp import metrics
from tests.test_evaluate import bundled_codec_delay

RATE_IN = 44_100


def make_input(path: Path, seconds: float = 0.8, rate: int = RATE_IN) -> np.ndarray:
    """A stereo voice-like signal (harmonic sweep + noise) at 44.1 kHz."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 80 * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(0.2 / k * np.sin(k * phase) for k in range(1, 8))
    noise = 0.01 * np.random.default_rng(0).standard_normal(len(t))
    left = (voice + noise).astype(np.float32)
    stereo = np.stack([left, 0.5 * left], axis=1)
    sf.write(path, stereo, rate)
    return sf.read(path, dtype="float32")[0]  # as stored (16-bit)


def expected_mono_16k(stereo: np.ndarray, rate: int = RATE_IN) -> np.ndarray:
    mono = stereo.mean(axis=1, dtype=np.float32)
    return soxr.resample(mono, rate, 16_000, quality="HQ").astype(np.float32)


@pytest.mark.parametrize("chain", ["dry", "codec", "vocoder", "codec,vocoder"])
def test_each_chain_end_to_end(tmp_path, capsys, chain):
    src = tmp_path / "in.wav"
    stereo = make_input(src)
    out = tmp_path / "out.wav"
    assert main(["process", str(src), str(out), "--chain", chain, "--chunk", "2"]) == 0
    y, rate = sf.read(out, dtype="float32")
    ref = expected_mono_16k(stereo)
    assert rate == 16_000
    assert y.shape == ref.shape
    assert np.isfinite(y).all()
    text = capsys.readouterr().out
    assert "RTF" in text and "processing time" in text and "audio duration" in text
    if chain == "dry":
        np.testing.assert_allclose(y, ref, atol=1 / 32768)  # PCM_16 quantisation only
    else:
        assert np.abs(y - ref).max() > 1e-3  # the models really changed the audio
        assert np.abs(y).max() > 0


@pytest.mark.parametrize("chain", ["codec", "codec,vocoder"])
def test_block_size_does_not_change_output(chain):
    x = np.random.default_rng(1).standard_normal(5000).astype(np.float32) * 0.1
    outs = []
    for block in (1, 37, 256, 1000, 5000):
        c = Chain(build_stages(chain, chunk=3))
        outs.append(c.run_aligned(x, block))
    for y in outs[1:]:
        np.testing.assert_allclose(y, outs[0], atol=1e-5)


def test_streamed_chain_equals_offline_chain():
    x = np.random.default_rng(2).standard_normal(7000).astype(np.float32) * 0.1
    c = Chain(build_stages("codec,vocoder", chunk=4))
    streamed = c.run_aligned(x, 333)
    np.testing.assert_allclose(streamed, c.offline(x), atol=1e-4)
    # codec hop + its learned delay and seam fade (recorded in its file), vocoder chunk (4 frames of
    # 128) + its trained output delay 384, less what running the two fused saves
    # (engine.series_stage: 16 samples here, where the hops 240 and 512 line up)
    assert c.latency == 240 + bundled_codec_delay() + 4 * 128 + 384 - 16


def test_write_original_for_comparison(tmp_path):
    src = tmp_path / "in.flac"
    stereo = make_input(src, seconds=0.3)
    orig = tmp_path / "original_stream.wav"
    out = tmp_path / "reconstructed_stream.wav"
    rc = main(["process", str(src), str(out), "--chain", "codec", "--write-original", str(orig)])
    assert rc == 0
    o, _ = sf.read(orig, dtype="float32")
    np.testing.assert_allclose(o, expected_mono_16k(stereo), atol=1 / 32768)


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    rc = main(["process", str(tmp_path / "nope.wav"), str(tmp_path / "o.wav"), "--chain", "dry"])
    assert rc == 2
    assert "nope.wav: no such file" in capsys.readouterr().err


def test_non_audio_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    assert main(["process", str(bad), str(tmp_path / "o.wav"), "--chain", "dry"]) == 2
    err = capsys.readouterr().err
    assert "notes.wav" in err and "not a readable audio file" in err


def test_empty_file_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16_000)
    assert main(["process", str(empty), str(tmp_path / "o.wav"), "--chain", "dry"]) == 2
    assert "holds no audio" in capsys.readouterr().err


def test_nan_and_inf_are_sanitised_with_a_warning(tmp_path, capsys):
    src = tmp_path / "nan.wav"
    x = np.full(1600, 0.1, np.float32)
    x[100], x[200], x[300] = np.nan, np.inf, -np.inf
    sf.write(src, x, 16_000, subtype="FLOAT")
    out = tmp_path / "o.wav"
    assert main(["process", str(src), str(out), "--chain", "codec"]) == 0
    assert "3 NaN/Inf samples" in capsys.readouterr().err
    assert np.isfinite(sf.read(out)[0]).all()


def test_unwritable_output_fails_before_processing(tmp_path, capsys):
    src = tmp_path / "in.wav"
    make_input(src, seconds=0.2)
    rc = main(["process", str(src), str(tmp_path / "no" / "dir" / "o.wav"), "--chain", "dry"])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err
    rc = main(["process", str(src), str(tmp_path), "--chain", "dry"])
    assert rc == 2
    assert "is a directory" in capsys.readouterr().err


def test_unknown_chain_and_bad_options(tmp_path, capsys):
    src = tmp_path / "in.wav"
    make_input(src, seconds=0.2)
    out = str(tmp_path / "o.wav")
    assert main(["process", str(src), out, "--chain", "nonsense"]) == 2
    assert "unknown chain" in capsys.readouterr().err
    assert main(["process", str(src), out, "--chunk", "11"]) == 2
    assert main(["process", str(src), out, "--block", "0"]) == 2


def test_long_file_shows_progress(tmp_path, capsys):
    src = tmp_path / "long.wav"
    sf.write(src, np.zeros(16_000 * 21, np.float32), 16_000)
    assert main(["process", str(src), str(tmp_path / "o.wav"), "--chain", "dry"]) == 0
    assert "processing" in capsys.readouterr().err


def test_bundled_weights_are_the_default_and_their_absence_is_a_clear_error(tmp_path, monkeypatch):
    model = chain_mod.load_codec_model(None)
    assert model.config.output_padding  # our trained weights, not the seed layout
    monkeypatch.setattr(chain_mod.resources, "DEFAULT_CODEC_WEIGHTS", tmp_path / "none")
    with pytest.raises(chain_mod.CheckpointError, match="bundled codec weights are missing"):
        chain_mod.load_codec_model(None)


def test_weights_can_be_named_from_the_model_store(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMVOX_MODEL_DIR", str(tmp_path))
    with pytest.raises(Exception, match="seed-codec"):
        chain_mod.load_codec_model("seed-codec")  # known to the store, not downloaded


def test_fast_default_path_stays_close_to_the_reference_models(tmp_path):
    src = tmp_path / "in.wav"
    make_input(src, seconds=0.6)
    outs = {}
    for precision in ("reference", "int8"):
        out = tmp_path / f"{precision}.wav"
        args = ["process", str(src), str(out), "--chain", "codec,vocoder"]
        assert main([*args, "--precision", precision]) == 0
        outs[precision] = sf.read(out, dtype="float32")[0]
    ref, fast = outs["reference"], outs["int8"]
    snr = 10 * np.log10(np.sum(ref**2) / np.sum((ref - fast) ** 2))
    assert snr < 200  # really a different inference path...
    # ...that sounds the same: a vocoder's phase drifts with tiny changes on a steady
    # sweep (waveform SNR 9.8 dB with the default vocoder), its spectrum does not
    # (log-mel L1 0.026 here, 0.46 between the vocoder's output and its input)
    assert metrics.log_mel_l1(ref, fast) < 0.05


def test_output_equal_to_input_is_refused_and_the_input_kept(tmp_path, capsys):
    """Issue 15, item 2: the same file however spelled (path, ./path, symlink)."""
    src = tmp_path / "a.wav"
    make_input(src, seconds=0.2)
    before = src.read_bytes()
    link = tmp_path / "link.wav"
    link.symlink_to(src)
    for out in (src, tmp_path / "." / "a.wav", link):
        assert main(["process", str(src), str(out), "--chain", "dry"]) == 2
        err = capsys.readouterr().err
        assert "OUT is the same file as IN" in err and len(err.strip().splitlines()) == 1
    assert src.read_bytes() == before


def test_write_original_equal_to_out_or_in_is_refused(tmp_path, capsys):
    src = tmp_path / "a.wav"
    make_input(src, seconds=0.2)
    out = tmp_path / "o.wav"
    args = ["process", str(src), str(out), "--chain", "dry", "--write-original"]
    assert main([*args, str(out)]) == 2
    assert "--write-original and OUT name the same file" in capsys.readouterr().err
    assert main([*args, str(src)]) == 2
    assert "--write-original is the same file as IN" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_model_name_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STREAMVOX_MODEL_DIR", str(tmp_path / "cache"))
    src = tmp_path / "a.wav"
    make_input(src, seconds=0.2)
    rc = main(["process", str(src), str(tmp_path / "o.wav"), "--codec-weights", "nope"])
    assert rc == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
