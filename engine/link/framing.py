"""The link datagram: a fixed header around one codec packet or one Opus packet.

Layout, big-endian (network order), 30 bytes of header:

    magic       4 bytes  b"SVXL"
    version     u8       1
    kind        u8       0 codec overlap-save, 1 codec token reuse, 2 Opus
    stream id   u32      chosen at random by the sender for each stream
    timestamp   u32      the first sample of this packet's audio, 16 kHz, mod 2**32
    send time   u64      the sender's wall clock, microseconds since the epoch
                         (one-way latency when both ends share a clock)
    weights     8 bytes  the fingerprint of what decodes the payload: the codec
                         weights' (:func:`engine.token_stream.weights_fingerprint`),
                         or a hash of the Opus settings
    payload     a codec packet (:mod:`engine.codec_packets`: sequence number and
                the hop's bit-packed tokens, exactly ``PacketFormat.size`` bytes),
                or a 2-byte sequence number and one Opus packet (1..1275 bytes)

The token count of a codec packet is agreed by the weights (both ends load
the same ones, checked through the fingerprint), not sent. The parser takes
bytes and gives numbers and arrays: nothing in a datagram is executed, used
as a path or decides how much memory is allocated beyond its own length.
Anything that does not fit raises :class:`LinkPacketError` with a short
``reason`` the receiver counts by.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np

from engine.codec_packets import SEQ_BYTES, SEQ_MODULO, PacketError, PacketFormat

MAGIC = b"SVXL"
VERSION = 1
KIND_CODEC_OAS = 0
KIND_CODEC_REUSE = 1
KIND_OPUS = 2
KIND_NAMES = {KIND_CODEC_OAS: "codec (overlap-save)", KIND_CODEC_REUSE: "codec (reuse)",
              KIND_OPUS: "opus"}  # fmt: skip
CODEC_KINDS = {"oas": KIND_CODEC_OAS, "reuse": KIND_CODEC_REUSE}
FINGERPRINT_BYTES = 8
_HEADER = struct.Struct(">4sBBIIQ8s")
HEADER_SIZE = _HEADER.size
OPUS_MAX_PACKET = 1275  # RFC 6716 section 3.2.1
#: No datagram of this protocol is longer; a receiver reads at most one byte more.
MAX_DATAGRAM = HEADER_SIZE + SEQ_BYTES + OPUS_MAX_PACKET
TIMESTAMP_MODULO = 1 << 32


class LinkPacketError(ValueError):
    """A datagram that is not a packet of the expected stream; ``reason`` is a short tag."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class LinkPacket:
    """One parsed datagram: header fields and its payload (tokens, or Opus bytes)."""

    kind: int
    stream_id: int
    timestamp: int
    send_time_us: int
    seq: int
    tokens: np.ndarray | None = None
    opus: bytes | None = None


def opus_fingerprint(bitrate_bps: int, frame_ms: int) -> bytes:
    """The 8-byte "weights" field of an Opus stream: a hash of what its decoder assumes."""
    text = f"opus/16000/mono/{bitrate_bps}/{frame_ms}ms"
    return hashlib.sha256(text.encode()).digest()[:FINGERPRINT_BYTES]


@dataclass(frozen=True)
class LinkFormat:
    """What a receiver expects (and a sender writes): kind, fingerprint, codec layout."""

    kind: int
    fingerprint: bytes
    codec: PacketFormat | None = None

    def __post_init__(self) -> None:
        if self.kind not in KIND_NAMES:
            raise ValueError(f"unknown link packet kind {self.kind}")
        if len(self.fingerprint) != FINGERPRINT_BYTES:
            raise ValueError(f"a fingerprint is {FINGERPRINT_BYTES} bytes")
        if (self.kind == KIND_OPUS) != (self.codec is None):
            raise ValueError("a codec stream needs its packet format, an Opus stream none")

    @property
    def max_size(self) -> int:
        """The longest datagram of this stream."""
        if self.codec is not None:
            return HEADER_SIZE + self.codec.size
        return MAX_DATAGRAM

    def pack(
        self,
        stream_id: int,
        seq: int,
        timestamp: int,
        send_time_us: int,
        tokens: np.ndarray | None = None,
        opus: bytes | None = None,
    ) -> bytes:
        """One datagram; ``seq`` and ``timestamp`` are wrapped to their field widths."""
        header = _HEADER.pack(
            MAGIC,
            VERSION,
            self.kind,
            stream_id & 0xFFFFFFFF,
            timestamp % TIMESTAMP_MODULO,
            send_time_us & 0xFFFFFFFFFFFFFFFF,
            self.fingerprint,
        )
        seq %= SEQ_MODULO
        if self.codec is not None:
            if tokens is None:
                raise ValueError("a codec packet needs its tokens")
            return header + self.codec.pack(seq, tokens)
        if opus is None or not 1 <= len(opus) <= OPUS_MAX_PACKET:
            raise ValueError("an Opus packet is 1..1275 bytes")
        return header + seq.to_bytes(SEQ_BYTES, "big") + bytes(opus)

    def parse(self, data: bytes) -> LinkPacket:
        """A datagram -> :class:`LinkPacket`; :class:`LinkPacketError` for anything else.

        Reasons: ``oversized``, ``short``, ``magic``, ``version``, ``kind``,
        ``weights`` (another fingerprint), ``size`` (wrong payload length),
        ``payload`` (tokens that do not unpack: non-zero padding bits).
        """
        n = len(data)
        if n > self.max_size:
            raise LinkPacketError("oversized", f"{n} bytes, at most {self.max_size}")
        if n < HEADER_SIZE + SEQ_BYTES:
            raise LinkPacketError("short", f"{n} bytes")
        magic, version, kind, stream_id, timestamp, send_us, fingerprint = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise LinkPacketError("magic", "not a streamvox link packet")
        if version != VERSION:
            raise LinkPacketError("version", f"version {version}, this streamvox reads {VERSION}")
        if kind != self.kind:
            raise LinkPacketError("kind", f"a {KIND_NAMES.get(kind, kind)} packet")
        if fingerprint != self.fingerprint:
            raise LinkPacketError("weights", f"fingerprint {fingerprint.hex()}")
        payload = bytes(data[HEADER_SIZE:])
        if self.codec is not None:
            if len(payload) != self.codec.size:
                raise LinkPacketError(
                    "size", f"{len(payload)} payload bytes, not {self.codec.size}"
                )
            try:
                packet = self.codec.unpack(payload)
            except PacketError as exc:
                raise LinkPacketError("payload", str(exc)) from None
            return LinkPacket(kind, stream_id, timestamp, send_us, packet.seq, tokens=packet.tokens)
        seq = int.from_bytes(payload[:SEQ_BYTES], "big")
        opus = payload[SEQ_BYTES:]
        if not opus:
            raise LinkPacketError("size", "an Opus packet of 0 bytes")
        return LinkPacket(kind, stream_id, timestamp, send_us, seq, opus=opus)


class SeqUnwrapper:
    """16-bit sequence numbers -> a monotonic count, relative to the highest seen.

    A number within half the modulo of the highest one seen is taken as the
    nearest; the first one seen is taken as is.
    """

    def __init__(self) -> None:
        self.highest: int | None = None

    def reset(self) -> None:
        """Forget the stream (a new one starts)."""
        self.highest = None

    def __call__(self, seq: int) -> int:
        """The extended sequence number of ``seq`` (may be below earlier ones: reordering)."""
        if self.highest is None:
            self.highest = seq
            return seq
        half = SEQ_MODULO // 2
        delta = (seq - self.highest + half) % SEQ_MODULO - half
        ext = self.highest + delta
        self.highest = max(self.highest, ext)
        return ext
