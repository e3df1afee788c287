"""AMR-WB (3GPP TS 26.171 / ITU-T G.722.2) encoder + decoder pair, for reference A/B.

The mobile-telephony wideband codec: 16 kHz, 20 ms frames, nine modes from
6.6 to 23.85 kbit/s. Encoding is VisualOn's ``libvo-amrwbenc`` (``E_IF_*``),
decoding opencore's ``libopencore-amrwb`` (``D_IF_*``), both through ctypes;
frames travel in the RFC 4867 storage format (one header byte with the mode,
then the mode's bits padded to whole bytes). DTX is off, so every frame is a
speech frame of the chosen mode.

The mode's rate is the bits its decoder reads per 20 ms frame (TS 26.201
table 2), which is exactly the nominal rate; the header byte and the byte
padding are storage framing and are counted separately
(:attr:`AmrWbCodec.payload_bitrate_bps`).

Delay: the encoder looks 5 ms ahead and works at 12.8 kHz internally; the
decoded signal lags the input by :data:`CODEC_DELAY` samples, measured with
speech (``tests/test_classic_codecs.py`` checks it by cross-correlation).
"""

from __future__ import annotations

import ctypes

import numpy as np

from engine.classic.native_lib import (
    FrameCodec,
    NativeHandle,
    NativeLib,
    from_pcm16,
    open_lib,
    ptr,
    sent_bitrate,
    to_pcm16,
    unavailable,
)

RATE = 16_000
FRAME = 320  # 20 ms
#: The nine modes (kbit/s) and the bits per frame their decoder reads (TS 26.201).
MODES_KBPS = (6.6, 8.85, 12.65, 14.25, 15.85, 18.25, 19.85, 23.05, 23.85)
MODE_BITS = (132, 177, 253, 285, 317, 365, 397, 461, 477)
#: Decoded output lags the input by this many samples: the 5 ms look-ahead (80)
#: plus 15 of the 16 <-> 12.8 kHz resampling filters (measured, 5.94 ms).
CODEC_DELAY = 95
_MAX_PACKET = 64

ENCODER = NativeLib("libvo-amrwbenc.so.0", "vo-amrwbenc", "libvo-amrwbenc0", "AMR-WB encoding")
DECODER = NativeLib(
    "libopencore-amrwb.so.0", "opencore-amrwb", "libopencore-amrwb0", "AMR-WB decoding"
)
LIBS = (ENCODER, DECODER)


def unavailable_reason() -> str | None:
    """Why AMR-WB cannot run here (a missing library), or None."""
    return unavailable(LIBS)


def mode_index(kbps: float) -> int:
    """The mode number 0..8 of a rate in kbit/s; ``ValueError`` listing the modes otherwise."""
    for i, k in enumerate(MODES_KBPS):
        if abs(k - kbps) < 1e-6:
            return i
    raise ValueError(f"AMR-WB has no {kbps:g} kbit/s mode; choose one of {_modes_text()}")


def _modes_text() -> str:
    return ", ".join(f"{k:g}" for k in MODES_KBPS)


def _bind() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    """The two libraries with their function signatures declared."""
    enc, dec = open_lib(ENCODER), open_lib(DECODER)
    enc.E_IF_init.restype = ctypes.c_void_p
    enc.E_IF_init.argtypes = []
    enc.E_IF_encode.restype = ctypes.c_int
    enc.E_IF_encode.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_short),
        ctypes.POINTER(ctypes.c_ubyte), ctypes.c_int,
    ]  # fmt: skip
    enc.E_IF_exit.argtypes = [ctypes.c_void_p]
    dec.D_IF_init.restype = ctypes.c_void_p
    dec.D_IF_init.argtypes = []
    dec.D_IF_decode.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(ctypes.c_ubyte), ctypes.POINTER(ctypes.c_short),
        ctypes.c_int,
    ]  # fmt: skip
    dec.D_IF_exit.argtypes = [ctypes.c_void_p]
    return enc, dec


class AmrWbCodec(FrameCodec):
    """One AMR-WB encoder and decoder in a row: a 20 ms frame in, its decoded frame out."""

    frame_size = FRAME
    delay = CODEC_DELAY

    def __init__(self, kbps: float = 12.65) -> None:
        self.mode = mode_index(kbps)
        self.kbps = MODES_KBPS[self.mode]
        self._enc_lib, self._dec_lib = _bind()
        self._packet = np.zeros(_MAX_PACKET, np.uint8)
        self._pcm_out = np.zeros(FRAME, np.int16)
        self._open()

    def _open(self) -> None:
        self._enc = NativeHandle(self._enc_lib.E_IF_init, self._enc_lib.E_IF_exit)
        self._dec = NativeHandle(self._dec_lib.D_IF_init, self._dec_lib.D_IF_exit)
        self.bytes_sent = 0
        self.frames = 0

    @property
    def bitrate_bps(self) -> int:
        """The mode's true rate: bits its decoder reads per second."""
        return MODE_BITS[self.mode] * RATE // FRAME

    @property
    def payload_bitrate_bps(self) -> float:
        """Stored bytes per second, header and padding included (NaN before a frame)."""
        return sent_bitrate(self.bytes_sent, self.frames, FRAME, RATE)

    def encode(self, frame: np.ndarray) -> bytes:
        """Encode one ``(320,)`` float frame to a storage-format packet."""
        pcm = to_pcm16(frame)
        if pcm.shape != (FRAME,):
            raise ValueError(f"AMR-WB frame must have {FRAME} samples, got {pcm.shape}")
        out = ptr(self._packet, ctypes.c_ubyte)
        n = self._enc_lib.E_IF_encode(self._enc.value, self.mode, ptr(pcm, ctypes.c_short), out, 0)
        self.bytes_sent += n
        self.frames += 1
        return self._packet[:n].tobytes()

    def decode(self, packet: bytes) -> np.ndarray:
        """Decode one packet to ``(320,)`` float32."""
        buf = np.zeros(_MAX_PACKET, np.uint8)
        buf[: len(packet)] = np.frombuffer(packet, np.uint8)
        self._dec_lib.D_IF_decode(
            self._dec.value, ptr(buf, ctypes.c_ubyte), ptr(self._pcm_out, ctypes.c_short), 0
        )
        return from_pcm16(self._pcm_out)
