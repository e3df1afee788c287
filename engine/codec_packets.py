"""Codec packets: one per hop, a sequence number and that hop's tokens, bit-packed.

The unit a network link (and, without the sequence number, a token file)
carries. Layout, big-endian, MSB first:

    seq      2 bytes, the hop's number modulo 65536 (finds lost or reordered packets)
    tokens   ``count`` tokens of ``bits`` bits each, back to back, no padding
             per token; the last byte is filled with zero bits

40 tokens of 7 bits (one overlap-save hop of the seed codec) are 280 bits =
35 bytes of payload; 20 tokens are 140 bits = 18 bytes (4 padding bits).
The token count is agreed beforehand (a file header, a session set-up), not
sent: byte lengths alone cannot tell 7 tokens from 8 (both 7 bytes).
Malformed input raises :class:`PacketError` (a ``ValueError``) saying what
is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEQ_BYTES = 2
SEQ_MODULO = 1 << (8 * SEQ_BYTES)
MAX_BITS = 16


class PacketError(ValueError):
    """A packet or token stream that cannot be packed or unpacked as asked."""


def packed_size(count: int, bits: int) -> int:
    """Bytes that ``count`` tokens of ``bits`` bits take, packed back to back."""
    _check_layout(count, bits)
    return -(-count * bits // 8)


def pack_tokens(tokens: Sequence[int] | np.ndarray, bits: int) -> bytes:
    """Tokens in ``[0, 2**bits)`` -> bytes, ``bits`` bits each, MSB first, zero-padded."""
    values = _checked_tokens(tokens, bits)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64)
    bit_array = ((values[:, None] >> shifts) & 1).astype(np.uint8)
    return np.packbits(bit_array.reshape(-1)).tobytes()


def unpack_tokens(data: bytes, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_tokens`: exactly ``packed_size(count, bits)`` bytes -> int64 tokens.

    Raises :class:`PacketError` for a wrong length or padding bits that are not zero
    (the sign of a corrupt or misframed stream).
    """
    need = packed_size(count, bits)
    if len(data) < need:
        raise PacketError(f"truncated token data: {len(data)} bytes, {count} tokens need {need}")
    if len(data) > need:
        raise PacketError(f"{len(data) - need} bytes too many for {count} tokens of {bits} bits")
    bit_array = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
    if bit_array[count * bits :].any():
        raise PacketError("corrupt token data: the padding bits after the last token are not zero")
    weights = 1 << np.arange(bits - 1, -1, -1, dtype=np.int64)
    return bit_array[: count * bits].reshape(count, bits).astype(np.int64) @ weights


@dataclass(frozen=True)
class Packet:
    """One hop: its sequence number (mod 65536) and its tokens (int64)."""

    seq: int
    tokens: np.ndarray


@dataclass(frozen=True)
class PacketFormat:
    """How many tokens of how many bits a packet of this stream carries."""

    tokens: int
    bits: int = 7

    def __post_init__(self) -> None:
        _check_layout(self.tokens, self.bits)

    @property
    def size(self) -> int:
        """Bytes per packet: the sequence number and the packed tokens."""
        return SEQ_BYTES + packed_size(self.tokens, self.bits)

    def pack(self, seq: int, tokens: Sequence[int] | np.ndarray) -> bytes:
        """One packet; ``seq`` in ``[0, 65536)`` (callers wrap it), exactly ``tokens`` tokens."""
        if isinstance(seq, bool) or not isinstance(seq, int | np.integer):
            raise PacketError(f"sequence number must be an integer, got {seq!r}")
        if not 0 <= seq < SEQ_MODULO:
            raise PacketError(f"sequence number must be in 0..{SEQ_MODULO - 1}, got {seq}")
        values = _checked_tokens(tokens, self.bits)
        if values.size != self.tokens:
            raise PacketError(f"a packet carries {self.tokens} tokens, got {values.size}")
        return int(seq).to_bytes(SEQ_BYTES, "big") + pack_tokens(values, self.bits)

    def unpack(self, data: bytes) -> Packet:
        """Inverse of :meth:`pack`; :class:`PacketError` for a truncated, long or corrupt packet."""
        if len(data) < self.size:
            raise PacketError(f"truncated packet: {len(data)} bytes, expected {self.size}")
        if len(data) > self.size:
            raise PacketError(f"packet too long: {len(data)} bytes, expected {self.size}")
        seq = int.from_bytes(data[:SEQ_BYTES], "big")
        return Packet(seq, unpack_tokens(data[SEQ_BYTES:], self.tokens, self.bits))


def _check_layout(count: int, bits: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise PacketError(f"token count must be an integer >= 0, got {count!r}")
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer):
        raise PacketError(f"bits per token must be an integer, got {bits!r}")
    if not 1 <= bits <= MAX_BITS:
        raise PacketError(f"bits per token must be in 1..{MAX_BITS}, got {bits}")


def _checked_tokens(tokens: Sequence[int] | np.ndarray, bits: int) -> np.ndarray:
    """Tokens as a flat int64 array, each checked to fit in ``bits`` bits."""
    _check_layout(0, bits)
    values = np.asarray(tokens)
    if values.ndim != 1:
        raise PacketError(f"tokens must be a flat sequence, got shape {values.shape}")
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise PacketError(f"tokens must be integers, got {values.dtype}")
    values = values.astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= 1 << bits):
        raise PacketError(f"tokens must lie in 0..{(1 << bits) - 1} for {bits} bits")
    return values
