"""Codec 2 (the open low-rate codec of digital voice radio) through libcodec2, at 8 kHz.

Codec 2 is narrowband: 8 kHz input, a sinusoidal model sent as pitch,
voicing, energy and LSPs. Its modes (:data:`MODES`) run from 3.2 kbit/s
(64 bits per 20 ms frame) down to 0.7 kbit/s (28 bits per 40 ms frame);
the rate is the bits its decoder reads per second, exactly the nominal one.
Frames of 64, 48, 56... bits are packed into whole bytes
(:attr:`Codec2Codec.payload_bitrate_bps`).

:class:`Codec2Codec` works on 8 kHz frames; :class:`engine.classic.narrowband.NarrowbandFrames`
runs it inside the 16 kHz chain.

Delay: the encoder analyses each 10 ms step with a window centred 160 samples
behind its newest input; the decoder's overlap-add puts that step's peak at
the end of the 80 samples it returns, so the output lags by 160 samples
(20 ms). Codec 2 makes its own phase, so this shows only in the envelope:
the median envelope lag on 12 LibriSpeech utterances was 150-175 samples in
every mode but 700C, whose interpolation lags one step more (236: 240 is
used). A test checks them by envelope cross-correlation.

Determinism: the decoder draws the phases of unvoiced harmonics from
``codec2_rand()``, one linear congruential generator whose state is a static
of the library, shared by every codec in the process. Then one codec's
output would depend on how many others ran before it, and the stream would
not equal the offline form. :class:`RandState` finds that static (from the
RIP-relative operand of ``codec2_rand``'s first instruction, checked by
stepping the generator once) and gives each codec its own seed, swapped in
around its calls. Where it cannot be found (another build or CPU) the codec
still works, only not reproducibly (:attr:`Codec2Codec.reproducible`).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from engine.classic.native_lib import (
    FrameCodec,
    NativeHandle,
    NativeLib,
    from_pcm16,
    open_lib,
    ptr,
    to_pcm16,
    unavailable,
)

RATE = 8_000
#: codec2_rand(): ``next = next * A + C`` (64-bit), returns ``(next >> 16) & 0x7FFF``; seed 1.
_LCG_A, _LCG_C, _LCG_SEED = 1103515245, 12345, 1
_IMUL_RIP = b"\x48\x69\x05"  # imul rax, qword [rip + disp32], imm32 (11 bytes)


@dataclass(frozen=True)
class Mode:
    """One Codec 2 mode: its ``CODEC2_MODE_*`` number, bits and samples per frame, delay."""

    number: int
    bits: int
    samples: int
    #: Decoded output lags the 8 kHz input by this many samples (see the module docstring).
    delay: int = 160

    @property
    def bitrate_bps(self) -> int:
        """Bits the decoder reads per second."""
        return self.bits * RATE // self.samples


#: kbit/s -> mode (codec2.h, libcodec2 1.0).
MODES = {
    3.2: Mode(0, 64, 160),
    2.4: Mode(1, 48, 160),
    1.6: Mode(2, 64, 320),
    1.4: Mode(3, 56, 320),
    1.3: Mode(4, 52, 320),
    1.2: Mode(5, 48, 320),
    0.7: Mode(8, 28, 320, delay=240),
}

LIB = NativeLib("libcodec2.so.1.0", "codec2", "libcodec2-1.0", "Codec 2")


def unavailable_reason() -> str | None:
    """Why Codec 2 cannot run here (a missing library), or None."""
    return unavailable((LIB,))


def mode_for(kbps: float) -> Mode:
    """The mode of a rate in kbit/s; ``ValueError`` listing the modes otherwise."""
    for k, mode in MODES.items():
        if abs(k - kbps) < 1e-6:
            return mode
    rates = ", ".join(f"{k:g}" for k in MODES)
    raise ValueError(f"Codec 2 has no {kbps:g} kbit/s mode; choose one of {rates}")


def _bind() -> ctypes.CDLL:
    """libcodec2 with the signatures used here declared."""
    lib = open_lib(LIB)
    c2 = ctypes.c_void_p
    byte_p, short_p = ctypes.POINTER(ctypes.c_ubyte), ctypes.POINTER(ctypes.c_short)
    lib.codec2_create.restype = c2
    lib.codec2_create.argtypes = [ctypes.c_int]
    lib.codec2_destroy.argtypes = [c2]
    lib.codec2_encode.argtypes = [c2, byte_p, short_p]
    lib.codec2_decode.argtypes = [c2, short_p, byte_p]
    for name in ("codec2_samples_per_frame", "codec2_bits_per_frame", "codec2_bytes_per_frame"):
        getattr(lib, name).argtypes = [c2]
    lib.codec2_rand.restype = ctypes.c_int
    lib.codec2_rand.argtypes = []
    return lib


class RandState:
    """The library's ``codec2_rand`` state, swapped per codec (see the module docstring)."""

    _lock = threading.Lock()

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._state = _find_rand_state(lib)

    @property
    def found(self) -> bool:
        """Whether the generator's state was found (calls are then reproducible)."""
        return self._state is not None

    def run(self, seed: int, call) -> int:
        """``call()`` with the generator at ``seed``; returns the seed it left behind."""
        if self._state is None:
            call()
            return seed
        with self._lock:
            self._state.value = seed
            call()
            return self._state.value


def _find_rand_state(lib: ctypes.CDLL) -> ctypes.c_uint64 | None:
    """The static ``codec2_rand`` steps, checked by stepping it once, or None."""
    fn = ctypes.cast(lib.codec2_rand, ctypes.c_void_p).value
    code = ctypes.string_at(fn, 11)
    if code[:3] != _IMUL_RIP or int.from_bytes(code[7:11], "little") != _LCG_A:
        return None
    state = ctypes.c_uint64.from_address(fn + 11 + int.from_bytes(code[3:7], "little", signed=True))
    before = state.value
    out = lib.codec2_rand()
    expected = (before * _LCG_A + _LCG_C) % 2**64
    ok = state.value == expected and out == (expected >> 16) & 0x7FFF
    state.value = before
    return state if ok else None


class Codec2Codec(FrameCodec):
    """One Codec 2 encoder and decoder in a row, at 8 kHz: a frame in, its decoded frame out."""

    def __init__(self, kbps: float = 3.2) -> None:
        self.mode = mode_for(kbps)
        self.delay = self.mode.delay
        self.kbps = kbps
        self._lib = _bind()
        self._rand = RandState(self._lib)
        self._open()
        state = self._enc.value
        self.frame_size = self._lib.codec2_samples_per_frame(state)
        self._bytes = self._lib.codec2_bytes_per_frame(state)
        if (self.frame_size, self._lib.codec2_bits_per_frame(state)) != (
            self.mode.samples,
            self.mode.bits,
        ):
            raise RuntimeError(f"libcodec2's {kbps:g} kbit/s mode is not the one expected")
        self._packet = np.zeros(self._bytes, np.uint8)
        self._pcm_out = np.zeros(self.frame_size, np.int16)

    def _open(self) -> None:
        lib, number = self._lib, self.mode.number
        # A sender and a receiver of their own, as over a real link.
        self._enc = NativeHandle(lambda: lib.codec2_create(number), lib.codec2_destroy)
        self._dec = NativeHandle(lambda: lib.codec2_create(number), lib.codec2_destroy)
        self._seeds = {"enc": _LCG_SEED, "dec": _LCG_SEED}
        self.frames = 0

    @property
    def reproducible(self) -> bool:
        """Whether the same frames from a fresh codec always decode the same."""
        return self._rand.found

    def _call(self, side: str, fn, *args) -> None:
        """``fn(*args)`` with ``side``'s own ``codec2_rand`` seed in place."""
        self._seeds[side] = self._rand.run(self._seeds[side], lambda: fn(*args))

    @property
    def bitrate_bps(self) -> int:
        """The mode's true rate: bits its decoder reads per second."""
        return self.mode.bitrate_bps

    @property
    def payload_bitrate_bps(self) -> float:
        """Whole bytes per frame, per second."""
        return 8 * self._bytes * RATE / self.frame_size

    def encode(self, frame: np.ndarray) -> bytes:
        """Encode one 8 kHz float frame to its packed bits."""
        pcm = to_pcm16(frame)
        if pcm.shape != (self.frame_size,):
            raise ValueError(f"Codec 2 frame must have {self.frame_size} samples, got {pcm.shape}")
        out = ptr(self._packet, ctypes.c_ubyte)
        self._call("enc", self._lib.codec2_encode, self._enc.value, out, ptr(pcm, ctypes.c_short))
        self.frames += 1
        return self._packet.tobytes()

    def decode(self, packet: bytes) -> np.ndarray:
        """Decode one packet to an 8 kHz float32 frame."""
        buf = np.frombuffer(packet, np.uint8).copy()
        out = ptr(self._pcm_out, ctypes.c_short)
        self._call("dec", self._lib.codec2_decode, self._dec.value, out, ptr(buf, ctypes.c_ubyte))
        return from_pcm16(self._pcm_out)
