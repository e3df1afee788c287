"""Both ends of each chain in one process: encode -> frame -> parse -> decode, and concealment."""

import numpy as np
import pytest

from engine.audiofile import read_mono_16k
from engine.link.concealment import STRATEGIES, FadeOut, concealment_codes
from engine.link.endpoints import OpusEncoder, make_decoder, make_encoder
from engine.token_stream import decode_signal, encode_signal
from tests.speech_fixture import make_speech


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return read_mono_16k(make_speech(tmp_path_factory.mktemp("ep") / "s.wav")).samples


def _frames(x, enc):
    n = enc.frames_for(len(x))
    xp = np.zeros(n * enc.frame_samples, np.float32)
    xp[: len(x)] = x
    return xp.reshape(n, enc.frame_samples)


def test_codec_packets_decode_as_the_token_stream(speech):
    enc, dec = make_encoder("codec"), make_decoder("codec")
    assert enc.format == dec.format
    packets = [
        dec.format.parse(enc.format.pack(9, i, i * 240, 0, **enc.encode(f)))
        for i, f in enumerate(_frames(speech, enc))
    ]
    tokens = encode_signal(enc.stage, speech)
    np.testing.assert_array_equal(np.stack([p.tokens for p in packets]), tokens)
    out = np.concatenate([dec.decode(p) for p in packets])
    d = dec.delay
    want = decode_signal(dec.stage, tokens, len(speech))
    np.testing.assert_allclose(out[d : d + len(speech)], want, atol=1e-6)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_codec_concealment_is_bounded_and_fades(speech, strategy):
    enc, dec = make_encoder("codec"), make_decoder("codec", strategy=strategy)
    packets = [
        dec.format.parse(enc.format.pack(1, i, 0, 0, **enc.encode(f)))
        for i, f in enumerate(_frames(speech, enc))
    ]
    assert np.all(dec.conceal(None) == 0)  # nothing received yet: silence
    out = []
    for i, p in enumerate(packets):
        lost = 20 <= i < 40  # 300 ms lost
        nxt = packets[i + 1] if i + 1 < len(packets) else None
        out.append(dec.conceal(nxt) if lost else dec.decode(p))
    out = np.stack(out)
    assert np.isfinite(out).all() and np.abs(out).max() < 2.0
    assert np.all(out[20 + 8 :: 1][:12] == 0)  # silent after 8 concealed hops
    if strategy == "mute":
        assert np.all(out[20:40] == 0)


def test_interp_describes_the_missing_hop():
    last = np.arange(40).reshape(2, 20)
    nxt = 100 + np.arange(40).reshape(2, 20)
    got = concealment_codes("interp", "oas", last, nxt, 10)
    np.testing.assert_array_equal(got, np.concatenate([last[:, 10:], nxt[:, :10]], axis=1))
    np.testing.assert_array_equal(concealment_codes("interp", "oas", last, None, 10)[:, 10:],
                                  last[:, 10:])  # fmt: skip
    got = concealment_codes("interp", "reuse", last[:, 10:], nxt[:, 10:], 10)
    np.testing.assert_array_equal(got, np.concatenate([last[:, 15:], nxt[:, 10:15]], axis=1))
    np.testing.assert_array_equal(
        concealment_codes("repeat", "reuse", last[:, 10:], nxt, 10), last[:, 10:]
    )
    f = FadeOut(0.5, 3)
    assert [f.next_gain() for _ in range(4)] == [1.0, 0.5, 0.25, 0.0]


def test_opus_fec_recovers_a_lost_frame(speech):
    pytest.importorskip("opuslib_next")
    enc, dec = OpusEncoder(expected_loss_pct=20), make_decoder("opus")  # FEC at 18.7 kbit/s
    frames = _frames(speech, enc)
    packets = [dec.format.parse(enc.format.pack(1, i, 0, 0, **enc.encode(f)))
               for i, f in enumerate(frames)]  # fmt: skip
    clean = np.stack([make_decoder("opus").decode(p) for p in packets])
    plc_dec = make_decoder("opus")
    lost = [i for i in range(len(packets) - 1) if i % 5 == 2]
    fec = np.stack([dec.conceal(packets[i + 1]) if i in lost else dec.decode(p)
                    for i, p in enumerate(packets)])  # fmt: skip
    plc = np.stack([plc_dec.conceal(None) if i in lost else plc_dec.decode(p)
                    for i, p in enumerate(packets)])  # fmt: skip
    assert dec.fec_recovered == len(lost) and plc_dec.fec_recovered == 0

    def level_error(out):  # dB error of each lost frame's level: FEC sends its own level
        db = lambda a: 10 * np.log10(np.mean(a[lost] ** 2, axis=1) + 1e-9)  # noqa: E731
        return np.mean(np.abs(db(out) - db(clean)))

    assert level_error(fec) < level_error(plc)
    assert np.isfinite(dec.conceal(None)).all()
    assert dec.decode(
        dec.format.parse(enc.format.pack(1, 0, 0, 0, opus=b"\xff\xff\xff"))
    ).shape == (320,)
