"""Mixed chains: a reference codec feeding the vocoder (``opus,vocoder``, ``mulaw+vocoder``...)."""

import numpy as np
import pytest
import soundfile as sf

from app.cli import main
from engine.chain import Chain, build_stages, chain_name, parse_chain
from engine.classic.opus_stage import OpusStage
from engine.models.vocos.stage import VocosStage


@pytest.mark.parametrize(
    ("name", "stages"),
    [
        ("opus,vocoder", ("opus@18.7/20ms", "vocoder")),
        ("opus@12,vocoder", ("opus@12/20ms", "vocoder")),
        ("OPUS@16/10ms+vocos", ("opus@16/10ms", "vocoder")),
        ("mulaw,vocoder", ("mulaw@64", "vocoder")),
        ("alaw@128+vocoder", ("alaw@128", "vocoder")),
        ("codec+vocoder", ("codec", "vocoder")),
        ("dry", ()),
    ],
)
def test_mixed_chain_names_are_normalised(name, stages):
    assert parse_chain(name) == stages
    assert parse_chain(chain_name(stages)) == stages  # the canonical name parses back


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("vocoder,codec", "vocoder must come after the codec"),
        ("vocoder,opus", "vocoder must come after the codec"),
        ("codec,opus", "more than one codec"),
        ("opus,vocoder,vocoder", "more than one vocoder"),
        ("opus,reverb", "stage 'reverb'"),
        ("opus@50,vocoder", "bitrate"),
        ("codec,", "stage ''"),
    ],
)
def test_nonsense_chains_raise_clear_errors(name, message):
    with pytest.raises(ValueError, match=message):
        parse_chain(name)


@pytest.fixture(scope="module")
def opus_vocoder():
    (fused,) = build_stages("opus@12,vocoder", chunk=2)  # fused: see engine.series_stage
    assert isinstance(fused.first, OpusStage) and isinstance(fused.second, VocosStage)
    return Chain([fused])


def speechlike(n, seed=0):
    """Harmonics of a gliding 150 Hz voice plus a little noise, ``(n,)`` at 16 kHz."""
    t = np.arange(n) / 16_000
    phase = 2 * np.pi * np.cumsum(150 + 40 * np.sin(2 * np.pi * 1.5 * t)) / 16_000
    x = sum(0.15 / k * np.sin(k * phase) for k in range(1, 10))
    x += 0.005 * np.random.default_rng(seed).standard_normal(n)
    return x.astype(np.float32)


def test_stream_equals_offline_for_any_block_size(opus_vocoder):
    x = speechlike(6000)
    c = opus_vocoder
    fused = c.stages[0]
    # the vocoder steps as soon as an Opus frame has decoded what it needs: with the
    # default vocoder's 8 ms frames (256 samples at chunk 2) against Opus's 320-sample
    # frames that saves 64 samples over running them in series
    assert c.latency == fused.first.latency + fused.second.latency - 64
    offline = c.offline(x)
    for block in (97, 333, 6000):
        c.reset()
        np.testing.assert_allclose(c.run_aligned(x, block), offline, atol=1e-4)
    assert np.abs(offline).max() > 1e-3


def envelope(x, win=80):
    """Smoothed magnitude (5 ms at 16 kHz), mean removed: the vocoder keeps it, not the phase."""
    e = np.convolve(np.abs(x), np.ones(win) / win, mode="same")
    return e - e.mean()


def lag_of(ref, y, span, env=False):
    """Samples by which ``y`` trails ``ref`` (cross-correlation peak within ``+-span``)."""
    a, b = (envelope(ref), envelope(y)) if env else (ref, y)
    lags = np.arange(-span, span + 1)
    n = len(a)
    score = [np.dot(a[span : n - span], b[span + lag : n - span + lag]) for lag in lags]
    return int(lags[int(np.argmax(score))])


@pytest.mark.parametrize("codec", ["opus@12", "mulaw"])
def test_declared_latency_aligns_the_mixed_chain(codec):
    # Tone bursts; 300 Hz passes both codecs.
    n = 16_000
    on = (np.arange(n) // 2400) % 2 == 1
    x = (0.3 * np.sin(2 * np.pi * 300 * np.arange(n) / 16_000) * on).astype(np.float32)
    coded = Chain(build_stages(codec)).run_aligned(x, 256)
    # The codec part keeps the waveform: its declared latency is exact.
    assert abs(lag_of(x, coded, 160)) <= 2
    # The vocoder re-synthesises phase, so compare envelopes: the mixed chain lands
    # where the two chains run one after the other, each aligned on its own, within
    # one mel hop (the vocoder's frame grid sits elsewhere relative to the input).
    mixed = Chain(build_stages(f"{codec},vocoder", chunk=1)).run_aligned(x, 256)
    separate = Chain(build_stages("vocoder", chunk=1)).run_aligned(coded, 256)
    assert abs(lag_of(separate, mixed, 640, env=True)) < 320
    assert np.corrcoef(envelope(separate), envelope(mixed))[0, 1] > 0.85


def test_process_runs_a_mixed_chain_end_to_end(tmp_path, capsys):
    x = speechlike(8000)
    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, 16_000, subtype="FLOAT")
    assert main(["process", str(src), str(out), "--chain", "opus,vocoder", "--chunk", "2"]) == 0
    y, rate = sf.read(out, dtype="float32")
    assert rate == 16_000 and y.shape == x.shape
    expected = Chain(build_stages("opus,vocoder", chunk=2)).offline(x)
    np.testing.assert_allclose(y, expected, atol=1e-4)
    assert main(["process", str(src), str(out), "--chain", "vocoder,opus"]) == 2
    assert "vocoder must come after the codec" in capsys.readouterr().err
