"""Opus (RFC 6716) encoder + decoder pair through libopus, for reference A/B.

The binding is ``opuslib_next`` (ctypes over the system libopus; the
maintained fork of the unmaintained ``opuslib``), imported only when a codec
is created so that the rest of streamvox works without it. A missing package
or a missing libopus raises :class:`OpusUnavailableError` saying what to
install.

Settings, fixed for a fair comparison with TinyTransformerCodec: 16 kHz
mono, application VOIP by default (libopus' speech tuning: SILK at low
rates, the mode a voice call would use, which is what a speech codec
competes with; ``"audio"`` is available for comparison), constant bitrate
by default so that the configured rate is what is sent, no DTX, no FEC (the
codec link turns in-band FEC on: ``OpusConfig.fec``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPUS_RATE = 16_000
MIN_BITRATE_BPS = 6_000
MAX_BITRATE_BPS = 32_000
#: TinyTransformerCodec's true rate, overlap-save (40 x 7 bits / 15 ms = 18.67
#: kbit/s), to 0.1 kbit/s: Opus "at the codec's bitrate" (checked by a test).
CODEC_BITRATE_BPS = 18_700
FRAME_MS = (10, 20)
MAX_PACKET_BYTES = 1275  # RFC 6716 section 3.2.1
APPLICATIONS = ("voip", "audio")

# Audio bandwidth (upper edge, Hz) coded by a packet, from the config field of
# its TOC byte (RFC 6716 section 3.1, table 2).
_SILK_HZ = (4000, 6000, 8000)  # configs 0-11, four each: NB, MB, WB
_HYBRID_HZ = (12000, 20000)  # configs 12-15, two each: SWB, FB
_CELT_HZ = (4000, 8000, 12000, 20000)  # configs 16-31, four each: NB, WB, SWB, FB


class OpusUnavailableError(RuntimeError):
    """libopus or its Python binding cannot be loaded."""


def _binding():
    """Import ``opuslib_next``, turning its load failures into a clear error."""
    try:
        import opuslib_next
    except ImportError as exc:
        raise OpusUnavailableError(
            "the Opus reference codec needs the Python package opuslib_next "
            "(pip install opuslib_next; pinned in constraints.txt)"
        ) from exc
    except Exception as exc:  # opuslib_next raises a bare Exception without libopus
        raise OpusUnavailableError(
            f"libopus could not be loaded ({exc}); install it: apt install libopus0 "
            "(Debian/Ubuntu), dnf install opus (Fedora), brew install opus (macOS)"
        ) from exc
    return opuslib_next


def toc_bandwidth_hz(packet: bytes) -> int:
    """Upper edge (Hz) of the audio band an Opus packet codes, from its TOC byte."""
    if not packet:
        raise ValueError("empty Opus packet")
    config = packet[0] >> 3
    if config < 12:
        return _SILK_HZ[config // 4]
    if config < 16:
        return _HYBRID_HZ[(config - 12) // 2]
    return _CELT_HZ[(config - 16) // 4]


@dataclass(frozen=True)
class OpusConfig:
    """Encoder settings; invalid values raise ``ValueError``."""

    bitrate_bps: int = CODEC_BITRATE_BPS
    frame_ms: int = 20
    complexity: int = 10
    application: str = "voip"
    vbr: bool = False
    #: in-band FEC (the codec link): each packet also carries a coarse copy of
    #: the previous frame, sized for ``expected_loss_pct`` % loss
    fec: bool = False
    expected_loss_pct: int = 0

    def __post_init__(self) -> None:
        if not MIN_BITRATE_BPS <= self.bitrate_bps <= MAX_BITRATE_BPS:
            raise ValueError(
                f"Opus bitrate must be {MIN_BITRATE_BPS}..{MAX_BITRATE_BPS} bit/s, "
                f"got {self.bitrate_bps}"
            )
        if self.frame_ms not in FRAME_MS:
            raise ValueError(f"Opus frame must be 10 or 20 ms, got {self.frame_ms}")
        if not 0 <= self.complexity <= 10:
            raise ValueError(f"Opus complexity must be 0..10, got {self.complexity}")
        if self.application not in APPLICATIONS:
            raise ValueError(f"Opus application must be voip or audio, got {self.application}")
        if not 0 <= self.expected_loss_pct <= 100:
            raise ValueError(f"Opus expected loss must be 0..100 %, got {self.expected_loss_pct}")

    @property
    def frame_size(self) -> int:
        """Samples per frame at 16 kHz (160 or 320)."""
        return OPUS_RATE * self.frame_ms // 1000


class OpusCodec:
    """One libopus encoder and decoder in a row: a frame in, its decoded frame out.

    The decoded signal lags the input by :attr:`lookahead` samples (what
    libopus reports through ``OPUS_GET_LOOKAHEAD``). Counts the bytes sent so
    that the real payload rate can be checked against the configured one.
    """

    def __init__(self, config: OpusConfig | None = None) -> None:
        self.config = config or OpusConfig()
        lib = _binding()
        app = {"voip": lib.APPLICATION_VOIP, "audio": lib.APPLICATION_AUDIO}
        self._enc = lib.Encoder(OPUS_RATE, 1, app[self.config.application])
        self._enc.bitrate = self.config.bitrate_bps
        self._enc.vbr = int(self.config.vbr)
        self._enc.complexity = self.config.complexity
        self._enc.inband_fec = int(self.config.fec)
        self._enc.packet_loss_perc = self.config.expected_loss_pct
        self._enc.dtx = 0
        self._dec = lib.Decoder(OPUS_RATE, 1)
        self.lookahead: int = int(self._enc.lookahead)
        self.delay = self.lookahead  # the FrameCodec name (engine.classic.framed_stage)
        self.bytes_sent = 0
        self.frames = 0
        self.last_bandwidth_hz = 0

    @property
    def frame_size(self) -> int:
        """Samples per frame at 16 kHz."""
        return self.config.frame_size

    @property
    def payload_bitrate_bps(self) -> float:
        """Bits actually sent per second since the last reset (NaN before a frame)."""
        if self.frames == 0:
            return float("nan")
        return 8 * self.bytes_sent * OPUS_RATE / (self.frames * self.frame_size)

    def encode(self, frame: np.ndarray) -> bytes:
        """Encode one ``(frame_size,)`` float frame in [-1, 1] to a packet."""
        frame = np.ascontiguousarray(frame, dtype=np.float32)
        if frame.shape != (self.frame_size,):
            raise ValueError(f"Opus frame must have {self.frame_size} samples, got {frame.shape}")
        packet = self._enc.encode_float(frame.tobytes(), self.frame_size)
        self.bytes_sent += len(packet)
        self.frames += 1
        self.last_bandwidth_hz = toc_bandwidth_hz(packet)
        return packet

    def decode(self, packet: bytes) -> np.ndarray:
        """Decode one packet to ``(frame_size,)`` float32."""
        pcm = self._dec.decode_float(packet, self.frame_size)
        return np.frombuffer(pcm, dtype=np.float32).copy()

    def conceal(self, next_packet: bytes | None = None) -> np.ndarray:
        """A lost frame: from the next packet's in-band FEC if given, else libopus' PLC."""
        pcm = self._dec.decode_float(next_packet or b"", self.frame_size, next_packet is not None)
        return np.frombuffer(pcm, dtype=np.float32).copy()

    def roundtrip(self, frame: np.ndarray) -> np.ndarray:
        """Encode then decode one frame: ``(frame_size,)`` -> ``(frame_size,)``."""
        return self.decode(self.encode(frame))

    def reset(self) -> None:
        """OPUS_RESET_STATE on both sides: as freshly created, counters cleared."""
        self._enc.reset_state()
        self._dec.reset_state()
        self.bytes_sent = 0
        self.frames = 0
        self.last_bandwidth_hz = 0
