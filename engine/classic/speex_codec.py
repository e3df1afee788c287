"""Speex in wideband mode (16 kHz, 20 ms frames), encoder + decoder through libspeex.

Speex picks its bitrate through a quality setting 0..10; in wideband mode
each quality is one fixed rate, from 3.95 to 42.2 kbit/s
(:data:`QUALITY_KBPS`, what ``SPEEX_GET_BITRATE`` reports; a test checks
the table against the library). A rate asked for is served by the quality
whose rate is nearest (:func:`nearest_quality`), and that real rate is the
one reported. Constant bitrate, no VAD/DTX, complexity fixed at 3 (results do not
follow a build's default), the decoder's perceptual enhancer on (its default).

The bits of a frame are packed without padding between frames in a Speex
stream; here every frame is its own packet, padded to whole bytes
(:attr:`SpeexWbCodec.payload_bitrate_bps` counts those bytes).

Delay: the decoded signal lags the input by :data:`CODEC_DELAY` = 223 samples
(13.9 ms, measured by cross-correlation at every quality; the Speex manual's
34 ms wideband delay less the 20 ms frame). ``SPEEX_GET_LOOKAHEAD`` says 143,
5 ms less than the decoded output really lags, so it is not used.
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
#: Wideband rate (kbit/s) of each quality 0..10.
QUALITY_KBPS = (3.95, 5.75, 7.75, 9.8, 12.8, 16.8, 20.6, 23.8, 27.8, 34.2, 42.2)
COMPLEXITY = 3
CODEC_DELAY = 223
_MODEID_WB = 1
_GET_FRAME_SIZE, _SET_QUALITY, _SET_COMPLEXITY, _GET_BITRATE = 3, 4, 16, 19
_MAX_PACKET = 256

LIB = NativeLib("libspeex.so.1", "speex", "libspeex1", "Speex")


class _Bits(ctypes.Structure):
    """``SpeexBits`` (speex_bits.h)."""

    _fields_ = [
        ("chars", ctypes.c_char_p), ("nbBits", ctypes.c_int), ("charPtr", ctypes.c_int),
        ("bitPtr", ctypes.c_int), ("owner", ctypes.c_int), ("overflow", ctypes.c_int),
        ("buf_size", ctypes.c_int), ("reserved1", ctypes.c_int), ("reserved2", ctypes.c_void_p),
    ]  # fmt: skip


def unavailable_reason() -> str | None:
    """Why Speex cannot run here (a missing library), or None."""
    return unavailable((LIB,))


def nearest_quality(kbps: float) -> int:
    """The quality 0..10 whose wideband rate is nearest ``kbps``."""
    return int(np.argmin([abs(k - kbps) for k in QUALITY_KBPS]))


def _bind() -> ctypes.CDLL:
    """Libspeex with the signatures used here declared."""
    lib = open_lib(LIB)
    bits_p, short_p = ctypes.POINTER(_Bits), ctypes.POINTER(ctypes.c_short)
    lib.speex_lib_get_mode.restype = ctypes.c_void_p
    lib.speex_lib_get_mode.argtypes = [ctypes.c_int]
    void = ctypes.c_void_p
    for side in ("encoder", "decoder"):
        getattr(lib, f"speex_{side}_init").restype = void
        getattr(lib, f"speex_{side}_init").argtypes = [void]
        getattr(lib, f"speex_{side}_destroy").argtypes = [void]
        getattr(lib, f"speex_{side}_ctl").argtypes = [void, ctypes.c_int, void]
    lib.speex_encode_int.argtypes = [ctypes.c_void_p, short_p, bits_p]
    lib.speex_decode_int.argtypes = [ctypes.c_void_p, bits_p, short_p]
    for name in ("speex_bits_init", "speex_bits_destroy", "speex_bits_reset"):
        getattr(lib, name).argtypes = [bits_p]
    lib.speex_bits_write.argtypes = [bits_p, ctypes.c_char_p, ctypes.c_int]
    lib.speex_bits_read_from.argtypes = [bits_p, ctypes.c_char_p, ctypes.c_int]
    return lib


class SpeexWbCodec(FrameCodec):
    """One wideband Speex encoder and decoder in a row: a 20 ms frame in, decoded frame out."""

    frame_size = FRAME
    delay = CODEC_DELAY

    def __init__(self, kbps: float = 9.8) -> None:
        self.quality = nearest_quality(kbps)
        self._lib = _bind()
        self._mode = self._lib.speex_lib_get_mode(_MODEID_WB)
        self._bits = _Bits()
        self._lib.speex_bits_init(ctypes.byref(self._bits))
        self._packet = ctypes.create_string_buffer(_MAX_PACKET)
        self._pcm_out = np.zeros(FRAME, np.int16)
        self._open()
        self.bitrate_bps = self._ctl("encoder", _GET_BITRATE)

    def __del__(self) -> None:
        bits = getattr(self, "_bits", None)
        if bits is not None and bits.chars:
            self._lib.speex_bits_destroy(ctypes.byref(bits))

    def _open(self) -> None:
        lib, mode = self._lib, self._mode
        self._enc = NativeHandle(lambda: lib.speex_encoder_init(mode), lib.speex_encoder_destroy)
        self._dec = NativeHandle(lambda: lib.speex_decoder_init(mode), lib.speex_decoder_destroy)
        self._ctl("encoder", _SET_QUALITY, self.quality)
        self._ctl("encoder", _SET_COMPLEXITY, COMPLEXITY)
        if self._ctl("encoder", _GET_FRAME_SIZE) != FRAME:
            raise RuntimeError("libspeex wideband mode does not use 320-sample frames")
        self.bytes_sent = 0
        self.frames = 0

    def _ctl(self, side: str, request: int, value: int = 0) -> int:
        """``speex_{side}_ctl`` with an int argument; returns the int it leaves there."""
        arg = ctypes.c_int(value)
        handle = self._enc if side == "encoder" else self._dec
        getattr(self._lib, f"speex_{side}_ctl")(handle.value, request, ctypes.byref(arg))
        return arg.value

    @property
    def kbps(self) -> float:
        """The rate of the quality in use (kbit/s)."""
        return QUALITY_KBPS[self.quality]

    @property
    def payload_bitrate_bps(self) -> float:
        """Bytes sent per second, each frame padded to whole bytes (NaN before a frame)."""
        return sent_bitrate(self.bytes_sent, self.frames, FRAME, RATE)

    def encode(self, frame: np.ndarray) -> bytes:
        """Encode one ``(320,)`` float frame to a packet."""
        pcm = to_pcm16(frame)
        if pcm.shape != (FRAME,):
            raise ValueError(f"Speex wideband frame must have {FRAME} samples, got {pcm.shape}")
        bits = ctypes.byref(self._bits)
        self._lib.speex_bits_reset(bits)
        self._lib.speex_encode_int(self._enc.value, ptr(pcm, ctypes.c_short), bits)
        n = self._lib.speex_bits_write(bits, self._packet, _MAX_PACKET)
        self.bytes_sent += n
        self.frames += 1
        return self._packet.raw[:n]

    def decode(self, packet: bytes) -> np.ndarray:
        """Decode one packet to ``(320,)`` float32."""
        bits = ctypes.byref(self._bits)
        self._lib.speex_bits_read_from(bits, packet, len(packet))
        self._lib.speex_decode_int(self._dec.value, bits, ptr(self._pcm_out, ctypes.c_short))
        return from_pcm16(self._pcm_out)
