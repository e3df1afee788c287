"""The ``.svx`` token file: a versioned header, then the codec's packed token stream.

Header (46 bytes, little-endian):

    magic "SVXT" | version u8 (1) | mode u8 | sample rate u32 | hop u16 |
    window u16 | codebooks u8 | tokens per hop u16 | bits per token u8 |
    weights fingerprint 8 bytes | sample count u64 | hop count u32 |
    CRC-32 of the token data u32 | CRC-32 of the 42 bytes before it u32

then ``hop count x tokens per hop`` tokens, bit-packed back to back by
:func:`engine.codec_packets.pack_tokens` (no padding per token or per hop;
the last byte is zero-filled), each hop's tokens frame by frame, codebook by
codebook within a frame.

``mode`` says what a hop carries. ``overlap-save`` (0, today's codec stage):
all the tokens of the hop's whole window (40 for the seed), so the file
holds 18.7 kbit/s x duration plus the header. ``new-frames`` (1, the codec
stage's token-reuse mode): only the tokens of each hop's new samples (20 for
the seed's geometry, 9.33 kbit/s); the decoder rebuilds its window from the
previous hop's tokens (:mod:`engine.models.codec.stage`).

No torch here: :mod:`engine.token_stream` turns audio into tokens and back.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.codec_packets import PacketError, pack_tokens, packed_size, unpack_tokens

MAGIC = b"SVXT"
VERSION = 1
MODES = {0: "overlap-save", 1: "new-frames"}
MODE_OVERLAP_SAVE = 0
MODE_NEW_FRAMES = 1
FINGERPRINT_BYTES = 8
_FIELDS = struct.Struct("<4sBBIHHBHB8sQII")
_CRC = struct.Struct("<I")
HEADER_SIZE = _FIELDS.size + _CRC.size


class TokenFileError(ValueError):
    """A token file that cannot be read, or that does not fit the weights given."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


@dataclass(frozen=True)
class TokenHeader:
    """What a decoder must know before the first token (see the module docstring)."""

    mode: int
    sample_rate: int
    hop: int
    window: int
    codebooks: int
    tokens_per_hop: int
    bits_per_token: int
    fingerprint: bytes
    sample_count: int
    hop_count: int

    @property
    def mode_name(self) -> str:
        """``"overlap-save"`` or ``"new-frames"``."""
        return MODES.get(self.mode, f"unknown ({self.mode})")

    @property
    def payload_size(self) -> int:
        """Bytes of packed tokens that follow the header."""
        return packed_size(self.hop_count * self.tokens_per_hop, self.bits_per_token)

    def problems(self) -> list[str]:
        """What makes this header impossible (empty when it is sound)."""
        p = []
        if self.mode not in MODES:
            p.append(f"unknown mode {self.mode}")
        if not 1 <= self.bits_per_token <= 16:
            p.append(f"bits per token {self.bits_per_token} not in 1..16")
        if min(self.sample_rate, self.hop, self.codebooks, self.tokens_per_hop) < 1:
            p.append("a zero sample rate, hop, codebook or token count")
        elif self.tokens_per_hop % self.codebooks:
            p.append(f"{self.tokens_per_hop} tokens per hop for {self.codebooks} codebooks")
        if self.window < self.hop:
            p.append(f"window {self.window} shorter than hop {self.hop}")
        if len(self.fingerprint) != FINGERPRINT_BYTES:
            p.append(f"fingerprint of {len(self.fingerprint)} bytes")
        return p


def to_bytes(header: TokenHeader, tokens: np.ndarray) -> bytes:
    """The whole file: header, then ``tokens`` ``(hop_count, tokens_per_hop)`` packed."""
    if problems := header.problems():
        raise ValueError("cannot write a token file: " + "; ".join(problems))
    shape = (header.hop_count, header.tokens_per_hop)
    if np.shape(tokens) != shape:
        raise ValueError(f"expected tokens of shape {shape}, got {np.shape(tokens)}")
    payload = pack_tokens(np.asarray(tokens).reshape(-1), header.bits_per_token)
    fields = _FIELDS.pack(
        MAGIC, VERSION, header.mode, header.sample_rate, header.hop, header.window,
        header.codebooks, header.tokens_per_hop, header.bits_per_token, header.fingerprint,
        header.sample_count, header.hop_count, zlib.crc32(payload),
    )  # fmt: skip
    return fields + _CRC.pack(zlib.crc32(fields)) + payload


def write_token_file(path: str | Path, header: TokenHeader, tokens: np.ndarray) -> int:
    """Write the file (see :func:`to_bytes`); returns its size in bytes."""
    data = to_bytes(header, tokens)
    Path(path).write_bytes(data)
    return len(data)


def read_token_file(path: str | Path) -> tuple[TokenHeader, np.ndarray]:
    """Header and tokens ``(hop_count, tokens_per_hop)``; :class:`TokenFileError` if bad."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise TokenFileError(path, "no such file") from None
    except OSError as exc:
        raise TokenFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    return from_bytes(data, path)


def from_bytes(data: bytes, path: str | Path = "<bytes>") -> tuple[TokenHeader, np.ndarray]:
    """Parse a whole file's bytes; every check of :func:`read_token_file`."""
    header = _parse_header(data, path)
    payload = data[HEADER_SIZE:]
    need = header.payload_size
    if len(payload) < need:
        raise TokenFileError(
            path, f"truncated: {len(payload)} of {need} bytes of tokens ({header.hop_count} hops)"
        )
    if len(payload) > need:
        raise TokenFileError(path, f"corrupt: {len(payload) - need} bytes after the last hop")
    if zlib.crc32(payload) != _FIELDS.unpack_from(data)[-1]:
        raise TokenFileError(path, "corrupt: the token data does not match its checksum")
    count = header.hop_count * header.tokens_per_hop
    try:
        tokens = unpack_tokens(payload, count, header.bits_per_token)
    except PacketError as exc:
        raise TokenFileError(path, f"corrupt: {exc}") from None
    return header, tokens.reshape(header.hop_count, header.tokens_per_hop)


def _parse_header(data: bytes, path: str | Path) -> TokenHeader:
    if not data:
        raise TokenFileError(path, "empty file, not a streamvox token file")
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise TokenFileError(path, "not a streamvox token file (no SVXT signature)")
    if len(data) > len(MAGIC) and data[len(MAGIC)] != VERSION:
        raise TokenFileError(
            path, f"token file version {data[len(MAGIC)]}; this streamvox reads version {VERSION}"
        )
    if len(data) < HEADER_SIZE:
        raise TokenFileError(path, f"truncated: {len(data)} of the header's {HEADER_SIZE} bytes")
    fields = data[: _FIELDS.size]
    if zlib.crc32(fields) != _CRC.unpack_from(data, _FIELDS.size)[0]:
        raise TokenFileError(path, "corrupt: the header does not match its checksum")
    values = _FIELDS.unpack(fields)
    header = TokenHeader(*values[2:-1])
    if problems := header.problems():
        raise TokenFileError(path, "corrupt header: " + "; ".join(problems))
    return header
