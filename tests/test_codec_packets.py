"""Codec packets: round trip, every token value in every position, malformed input refused."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.codec_packets import (
    PacketError,
    PacketFormat,
    pack_tokens,
    packed_size,
    unpack_tokens,
)

OAS = PacketFormat(tokens=40, bits=7)  # one overlap-save hop of the seed codec
NEW_FRAMES = PacketFormat(tokens=20, bits=7)  # the 20 tokens of a hop's new frames


def test_sizes_have_no_per_token_padding():
    assert packed_size(40, 7) == 35 and OAS.size == 2 + 35
    assert packed_size(20, 7) == 18 and NEW_FRAMES.size == 2 + 18  # 140 bits
    assert packed_size(8, 7) == packed_size(7, 7) == 7


def test_known_layout_big_endian_msb_first():
    # seq 0x0102 | 0000001 0000010 | 00 padding
    assert PacketFormat(2, 7).pack(0x0102, [1, 2]) == bytes([0x01, 0x02, 0x02, 0x08])
    assert pack_tokens([127] * 8, 7) == b"\xff" * 7


@settings(max_examples=25, deadline=None)
@given(
    fmt=st.sampled_from([OAS, NEW_FRAMES, PacketFormat(3, 1), PacketFormat(5, 16)]),
    seq=st.integers(0, 65535),
    data=st.data(),
)
def test_round_trip(fmt, seq, data):
    tokens = data.draw(st.lists(st.integers(0, (1 << fmt.bits) - 1), min_size=fmt.tokens,
                                max_size=fmt.tokens))  # fmt: skip
    packet = fmt.pack(seq, tokens)
    assert len(packet) == fmt.size
    back = fmt.unpack(packet)
    assert back.seq == seq and back.tokens.tolist() == tokens


@pytest.mark.parametrize("fmt", [OAS, NEW_FRAMES])
def test_every_value_of_a_token_in_every_position(fmt):
    rng = np.random.default_rng(0)
    for background in (np.zeros(fmt.tokens, np.int64), rng.integers(0, 128, fmt.tokens)):
        for pos in range(fmt.tokens):
            for value in range(128):
                tokens = background.copy()
                tokens[pos] = value
                back = fmt.unpack(fmt.pack(pos, tokens))
                assert back.seq == pos
                np.testing.assert_array_equal(back.tokens, tokens)


@pytest.mark.parametrize("fmt", [OAS, NEW_FRAMES])
def test_truncation_at_every_byte_is_refused(fmt):
    packet = fmt.pack(7, np.arange(fmt.tokens) % 128)
    for k in range(len(packet)):
        with pytest.raises(PacketError, match=f"truncated packet: {k} bytes, expected {fmt.size}"):
            fmt.unpack(packet[:k])
    stream = packet[2:]
    for k in range(len(stream)):
        with pytest.raises(PacketError, match="truncated token data"):
            unpack_tokens(stream[:k], fmt.tokens, fmt.bits)


def test_malformed_packets_are_refused():
    packet = NEW_FRAMES.pack(1, [5] * 20)
    with pytest.raises(PacketError, match="too long"):
        NEW_FRAMES.unpack(packet + b"\0")
    with pytest.raises(PacketError, match="padding bits"):
        NEW_FRAMES.unpack(packet[:-1] + bytes([packet[-1] | 1]))
    with pytest.raises(PacketError, match="too many"):
        unpack_tokens(packet[2:] + b"\0", 20, 7)


@pytest.mark.parametrize(
    ("seq", "tokens", "message"),
    [
        (0, [128] + [0] * 19, r"0\.\.127"),
        (0, [-1] + [0] * 19, r"0\.\.127"),
        (0, [0.5] * 20, "integers"),
        (0, [0] * 19, "carries 20 tokens, got 19"),
        (0, [[0] * 20], "flat"),
        (65536, [0] * 20, "sequence number"),
        (-1, [0] * 20, "sequence number"),
        (True, [0] * 20, "sequence number"),
    ],
)
def test_bad_packets_are_not_packed(seq, tokens, message):
    with pytest.raises(PacketError, match=message):
        NEW_FRAMES.pack(seq, tokens)


def test_bad_layouts_are_refused():
    with pytest.raises(PacketError, match="bits per token"):
        PacketFormat(20, 0)
    with pytest.raises(PacketError, match="bits per token"):
        PacketFormat(20, 17)
    with pytest.raises(PacketError, match="token count"):
        PacketFormat(-1, 7)
    assert issubclass(PacketError, ValueError)  # commands report it as a one-line error
