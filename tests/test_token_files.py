"""Token files: ``encode`` / ``decode`` equal ``process --chain codec``; broken files refused."""

import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import main
from engine.audiofile import read_mono_16k
from engine.chain import Chain, load_codec_model
from engine.models.codec.checkpoint import save_codec, seeded_codec
from engine.models.codec.stage import CodecStage
from engine.token_file import (
    HEADER_SIZE,
    MAGIC,
    TokenFileError,
    from_bytes,
    read_token_file,
    to_bytes,
)
from engine.token_stream import decode_signal, encode_signal, header_for, weights_fingerprint
from tests.speech_fixture import make_speech


@pytest.fixture(scope="module")
def stage():
    """The bundled codec, fast path: what ``process --chain codec`` runs."""
    return CodecStage(load_codec_model(), precision="fp32")


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """A speech file, its token file and its decoding, through the command line."""
    d = tmp_path_factory.mktemp("svx")
    wav, svx, out = d / "speech.wav", d / "speech.svx", d / "decoded.wav"
    make_speech(wav)
    assert main(["encode", str(wav), str(svx)]) == 0
    assert main(["decode", str(svx), str(out)]) == 0
    return wav, svx, out


def test_decode_of_encode_is_process_chain_codec(coded, tmp_path):
    wav, _, out = coded
    ref = tmp_path / "process.wav"
    assert main(["process", str(wav), str(ref), "--chain", "codec"]) == 0
    y, rate = sf.read(out, dtype="float32")
    y_ref, _ = sf.read(ref, dtype="float32")
    assert rate == 16_000 and y.shape == y_ref.shape == read_mono_16k(wav).samples.shape
    assert np.abs(y).max() > 0.05  # speech came out, not silence
    assert np.abs(y - y_ref).max() <= 1e-4


def test_the_file_is_the_stream_rate_times_the_duration_plus_the_header(coded, stage):
    wav, svx, _ = coded
    header, tokens = read_token_file(svx)
    assert header.sample_count == len(read_mono_16k(wav).samples)
    assert tokens.shape == (header.hop_count, stage.tokens_per_hop) and header.bits_per_token == 7
    assert stage.tokens_per_hop == 20  # the bundled codec sends only each hop's new frames
    stream_seconds = header.hop_count * header.hop / 16_000  # whole hops, delay included
    payload_bits = 8 * (svx.stat().st_size - HEADER_SIZE)
    assert payload_bits == pytest.approx(stage.bitrate_bps * stream_seconds, abs=4)  # 17.5 B/hop
    assert header.hop_count == -(-(header.sample_count + stage.model_delay) // 240)


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(1, 4000),
    seed=st.integers(0, 2**16),
    loud=st.floats(0.01, 1.0),
    block=st.integers(1, 1000),
)
def test_round_trip_equals_the_streamed_codec(stage, n, seed, loud, block):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16_000
    x = loud * np.sin(2 * np.pi * rng.uniform(80, 4000) * t) + 0.1 * loud * rng.standard_normal(n)
    x = x.astype(np.float32)
    data = to_bytes(header_for(stage, n), encode_signal(stage, x))
    header, tokens = from_bytes(data)
    y = decode_signal(stage, tokens, header.sample_count)
    stage.reset()
    streamed = Chain([stage]).run_aligned(x, block)
    assert y.shape == (n,)
    assert np.abs(y - streamed).max() <= 1e-4


def test_the_fingerprint_follows_the_tensors_not_the_file(tmp_path):
    path = tmp_path / "seeded.safetensors"
    save_codec(seeded_codec(0), path)
    assert weights_fingerprint(load_codec_model(path)) == weights_fingerprint(seeded_codec(0))
    assert weights_fingerprint(seeded_codec(1)) != weights_fingerprint(seeded_codec(0))


def test_every_truncation_is_refused_clearly(coded):
    data = coded[1].read_bytes()
    with pytest.raises(TokenFileError, match="empty file"):
        from_bytes(b"")
    for k in range(1, len(data)):
        with pytest.raises(TokenFileError, match="truncated"):
            from_bytes(data[:k])


def decode_error(args, capsys, tmp_path):
    """Run ``decode``; return its one-line error (and check nothing was written)."""
    out = tmp_path / "never.wav"
    rc = main(["decode", *map(str, args), str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert "Traceback" not in err and err.startswith("streamvox decode: error: ")
    assert err.strip().count("\n") == 0
    return err


def patched(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


def with_header_crc(fields: bytes) -> bytes:
    import zlib

    return fields + struct.pack("<I", zlib.crc32(fields))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, wav: b"", "empty file"),
        (lambda d, wav: d[:3], "truncated"),
        (lambda d, wav: d[: HEADER_SIZE - 1], "truncated"),
        (lambda d, wav: d[: HEADER_SIZE + 10], "truncated"),
        (lambda d, wav: d[:-1], "truncated"),
        (lambda d, wav: wav.read_bytes(), "not a streamvox token file"),
        (lambda d, wav: b"hello, world\n", "not a streamvox token file"),
        (lambda d, wav: patched(d, 4, 2), "version 2; this streamvox reads version 1"),
        (lambda d, wav: patched(d, 30, d[30] ^ 1), "corrupt: the header does not match"),
        (lambda d, wav: patched(d, len(d) - 5, d[-5] ^ 8), "corrupt: the token data"),
        (lambda d, wav: d + b"\0", "corrupt: 1 bytes after the last hop"),
        # the bundled codec's file is token reuse (mode 1): called overlap-save, it lacks tokens
        (lambda d, wav: with_header_crc(patched(d, 5, 0)[:42]) + d[46:], "tokens_per_hop 20 does"),
        (lambda d, wav: with_header_crc(patched(d, 5, 9)[:42]) + d[46:], "unknown mode 9"),
    ],
    ids=(
        "empty in-magic in-header in-tokens last-byte wav text version header-bit token-bit "
        "trailing other-mode bad-mode"
    ).split(),
)
def test_broken_files_are_refused_with_one_line(coded, tmp_path, capsys, make, message):
    wav, svx, _ = coded
    assert svx.read_bytes()[:4] == MAGIC
    bad = tmp_path / "bad.svx"
    bad.write_bytes(make(svx.read_bytes(), wav))
    assert message in decode_error([bad], capsys, tmp_path)


def test_other_weights_are_refused(coded, tmp_path, capsys):
    other = tmp_path / "other.safetensors"
    save_codec(seeded_codec(0), other)
    err = decode_error([coded[1], "--codec-weights", other], capsys, tmp_path)
    assert "encoded with other codec weights" in err and "--codec-weights" in err


def test_missing_files_are_clear_errors(tmp_path, capsys):
    assert "no such file" in decode_error([tmp_path / "none.svx"], capsys, tmp_path)
    assert main(["encode", str(tmp_path / "none.wav"), str(tmp_path / "x.svx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("streamvox encode: error: ") and "Traceback" not in err
