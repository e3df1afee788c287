"""Loading the system speech-codec libraries (AMR-WB, Speex, Codec 2) through ctypes.

The classic codecs are reference stages only: streamvox must start, and
every other chain work, when one of them is not installed. So a library is
opened when a codec is first created, by its Debian soname first (what the
.deb declares; a frozen app has no ``ldconfig`` cache to search) and then by
``ctypes.util.find_library``; failing both raises
:class:`CodecUnavailableError` with a one-line reason saying what to install.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import weakref
from dataclasses import dataclass
from functools import cache

import numpy as np


class CodecUnavailableError(RuntimeError):
    """A reference codec's system library cannot be loaded."""


@dataclass(frozen=True)
class NativeLib:
    """Where to find one library: its soname, its short name, and its Debian package."""

    soname: str
    short: str
    package: str
    what: str


@cache
def open_lib(lib: NativeLib) -> ctypes.CDLL:
    """The loaded library (once per process); :class:`CodecUnavailableError` if absent."""
    for name in (lib.soname, ctypes.util.find_library(lib.short)):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise CodecUnavailableError(
        f"{lib.what} needs the system library {lib.soname}: apt install {lib.package}"
    )


def unavailable(libs: tuple[NativeLib, ...]) -> str | None:
    """Why these libraries cannot be used (the first missing one), or None when they can."""
    for lib in libs:
        try:
            open_lib(lib)
        except CodecUnavailableError as exc:
            return str(exc)
    return None


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> contiguous int16 (rounded, clipped), as a codec reads them."""
    scaled = np.rint(np.asarray(x, np.float64) * 32768.0)
    return np.ascontiguousarray(np.clip(scaled, -32768, 32767).astype(np.int16))


def from_pcm16(pcm: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 in [-1, 1)."""
    return (np.asarray(pcm, np.float32) / 32768.0).astype(np.float32)


def ptr(a: np.ndarray, ctype) -> ctypes._Pointer:
    """A ctypes pointer to a contiguous numpy array's data (the array must outlive it)."""
    return a.ctypes.data_as(ctypes.POINTER(ctype))


class NativeHandle:
    """A C state pointer freed exactly once: by :meth:`close` or when garbage collected."""

    def __init__(self, create, destroy) -> None:
        self.value = ctypes.c_void_p(create())
        if not self.value.value:
            raise MemoryError("a codec library could not create its state")
        self._finalizer = weakref.finalize(self, destroy, self.value)

    def close(self) -> None:
        """Free the state now (idempotent)."""
        self._finalizer()


class FrameCodec:
    """What the native frame codecs share: an encoder and a decoder that ``_open`` makes.

    Subclasses set ``_enc``/``_dec`` (:class:`NativeHandle`) and their counters in
    ``_open`` and define ``encode``/``decode`` of one frame.
    """

    _enc: NativeHandle
    _dec: NativeHandle

    def _open(self) -> None:
        raise NotImplementedError

    def encode(self, frame: np.ndarray) -> bytes:
        raise NotImplementedError

    def decode(self, packet: bytes) -> np.ndarray:
        raise NotImplementedError

    def roundtrip(self, frame: np.ndarray) -> np.ndarray:
        """Encode then decode one frame."""
        return self.decode(self.encode(frame))

    def reset(self) -> None:
        """Fresh encoder and decoder states, counters cleared (``_open`` again)."""
        self._enc.close()
        self._dec.close()
        self._open()


def sent_bitrate(bytes_sent: int, frames: int, frame: int, rate: int) -> float:
    """Bits per second of ``bytes_sent`` over ``frames`` frames (NaN before the first)."""
    if frames == 0:
        return float("nan")
    return 8 * bytes_sent * rate / (frames * frame)
