"""The link datagram: round trip, every refusal, and a fuzz of the parser."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.codec_packets import PacketFormat
from engine.link.framing import (
    HEADER_SIZE,
    KIND_CODEC_OAS,
    KIND_CODEC_REUSE,
    KIND_OPUS,
    MAX_DATAGRAM,
    LinkFormat,
    LinkPacketError,
    SeqUnwrapper,
    opus_fingerprint,
)

FP = bytes(range(8))
CODEC = LinkFormat(KIND_CODEC_OAS, FP, PacketFormat(40, 7))
OPUS = LinkFormat(KIND_OPUS, opus_fingerprint(18700, 20))


def _tokens(seed=0):
    return np.random.default_rng(seed).integers(0, 128, 40)


def test_codec_round_trip():
    tokens = _tokens()
    data = CODEC.pack(0xDEADBEEF, 70000, 2**32 + 5, 123456789, tokens=tokens)
    assert len(data) == HEADER_SIZE + 2 + 35 == CODEC.max_size
    p = CODEC.parse(data)
    assert (p.kind, p.stream_id, p.seq, p.timestamp, p.send_time_us) == (
        KIND_CODEC_OAS,
        0xDEADBEEF,
        70000 % 65536,
        5,
        123456789,
    )
    np.testing.assert_array_equal(p.tokens, tokens)
    assert p.opus is None


def test_opus_round_trip():
    data = OPUS.pack(7, 3, 960, 1, opus=b"\x08abc")
    p = OPUS.parse(data)
    assert (p.stream_id, p.seq, p.timestamp, p.opus) == (7, 3, 960, b"\x08abc")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d[:10], "short"),
        (lambda d: d + b"x", "oversized"),
        (lambda d: b"XVXL" + d[4:], "magic"),
        (lambda d: d[:4] + b"\x02" + d[5:], "version"),
        (lambda d: d[:5] + bytes([KIND_CODEC_REUSE]) + d[6:], "kind"),
        (lambda d: d[:22] + bytes(8) + d[30:], "weights"),
        (lambda d: d[:-1], "size"),
    ],
)
def test_codec_refusals(mutate, reason):
    data = CODEC.pack(1, 2, 3, 4, tokens=_tokens())
    with pytest.raises(LinkPacketError) as caught:
        CODEC.parse(mutate(data))
    assert caught.value.reason == reason


def test_padding_bits_refused():
    reuse = LinkFormat(KIND_CODEC_REUSE, FP, PacketFormat(20, 7))  # 140 bits: 4 of padding
    data = reuse.pack(1, 2, 3, 4, tokens=_tokens()[:20])
    assert reuse.parse(data).seq == 2
    with pytest.raises(LinkPacketError) as caught:
        reuse.parse(data[:-1] + bytes([data[-1] | 1]))
    assert caught.value.reason == "payload"


def test_opus_refusals():
    ok = OPUS.pack(1, 2, 3, 4, opus=b"\x08")
    with pytest.raises(LinkPacketError, match="size"):
        OPUS.parse(ok[:-1])
    with pytest.raises(LinkPacketError, match="oversized"):
        OPUS.parse(ok + bytes(MAX_DATAGRAM))
    with pytest.raises(LinkPacketError, match="weights"):
        LinkFormat(KIND_OPUS, opus_fingerprint(9300, 20)).parse(ok)
    with pytest.raises(ValueError):
        OPUS.pack(1, 2, 3, 4, opus=bytes(1276))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=MAX_DATAGRAM + 10))
def test_fuzz_random_bytes(data):
    """Any bytes: a parsed packet of the right layout, or LinkPacketError; nothing else."""
    for fmt in (CODEC, OPUS):
        try:
            p = fmt.parse(data)
        except LinkPacketError:
            continue
        if fmt is CODEC:
            assert p.tokens.shape == (40,) and p.tokens.min() >= 0 and p.tokens.max() < 128


@settings(max_examples=400, deadline=None)
@given(
    st.integers(0, CODEC.max_size - 1),
    st.integers(0, 255),
    st.integers(0, CODEC.max_size + 4),
)
def test_fuzz_mutated_packets(pos, value, cut):
    """A valid packet with one byte changed and/or cut: parsed or refused, never a crash."""
    data = bytearray(CODEC.pack(5, 6, 7, 8, tokens=_tokens(1)))
    data[pos] = value
    try:
        p = CODEC.parse(bytes(data[:cut]))
    except LinkPacketError:
        return
    assert p.tokens.shape == (40,)


def test_sequence_unwrapping():
    u = SeqUnwrapper()
    got = [u(s) for s in (65530, 65534, 65533, 1, 0, 5, 2)]
    assert got == [65530, 65534, 65533, 65537, 65536, 65541, 65538]
