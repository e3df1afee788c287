"""The seed's streaming protocol: TCP, a 4-byte big-endian length, then a pickled list of indices.

The seed's streaming example has a server that encodes each 480-sample
window (overlap-save, hop 240) and a client that decodes it. Each message
is ``struct.pack(">I", len(body)) + body`` with ``body =
pickle.dumps(codec.encode_audio(window))``: a list of two int64 numpy arrays
of shape ``(1, 20)`` (one per codebook), i.e. all 40 tokens of the window,
18.7 kbit/s before the pickle's own overhead (about 500 bytes a message).

The seed's own client unpickles whatever a server sends, and unpickling
can run any code. streamvox reads these bodies only through
:class:`SeedUnpickler`, the restricted unpickler of
:mod:`engine.models.safe_pickle` with an allow-list of exactly what two
integer numpy arrays need (``numpy._core.multiarray._reconstruct``,
``numpy.ndarray`` as its argument only, ``numpy.dtype`` for integer type
codes, ``numpy._core.numeric._frombuffer`` for protocol 5, and their
``numpy.core`` names from numpy 1; ``_codecs.encode`` from latin-1 only,
which protocols 0-2 use for the arrays' bytes). Each of those is a checking wrapper:
no array larger than :data:`MAX_ELEMENTS` is ever allocated, whatever the
message says. Any other global is an inert placeholder whose call is
refused, so a message that asks to run code is refused and counted. A body
longer than :data:`MAX_MESSAGE` ends the connection (its framing can no
longer be trusted).
"""

from __future__ import annotations

import io
import math
import pickle
import struct
from typing import Any

import numpy as np

from engine.models import safe_pickle

LENGTH = struct.Struct(">I")
#: A seed message is about 500 bytes; anything over this is not one.
MAX_MESSAGE = 16 * 1024
#: Elements any array in a message may have (two codebooks x 20 frames need 40).
MAX_ELEMENTS = 4096
_INTEGER_CODES = frozenset(
    f"{order}{kind}{size}"
    for order in ("", "<", ">", "=", "|")
    for kind in "iu"
    for size in (1, 2, 4, 8)
)


class SeedMessageError(ValueError):
    """A message that is not two integer index arrays of the expected shape; ``reason`` tags it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class _NdarrayType:
    """Stands for ``numpy.ndarray`` as ``_reconstruct``'s first argument; never callable."""

    def __repr__(self) -> str:
        return "<numpy.ndarray (argument only)>"


NDARRAY = _NdarrayType()


def _check_shape(shape: Any, itemsize: int) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or len(shape) > 8:
        raise SeedMessageError("array", f"shape {shape!r}")
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape):
        raise SeedMessageError("array", f"shape {shape!r}")
    if math.prod(shape) > MAX_ELEMENTS or math.prod(shape) * itemsize > 8 * MAX_ELEMENTS:
        raise SeedMessageError("array", f"an array of {math.prod(shape)} elements")
    return shape


def _safe_dtype(code: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """``numpy.dtype`` for the integer type codes a pickled index array names."""
    if not isinstance(code, str) or code not in _INTEGER_CODES:
        raise SeedMessageError("dtype", f"{code!r} is not an integer type")
    return np.dtype(code, False, True)  # a copy: its state (byte order) is set by the pickle


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """``numpy._core.multiarray._reconstruct``: an empty ``ndarray`` to be filled by its state."""
    if subtype is not NDARRAY:
        raise SeedMessageError("array", "only plain numpy arrays")
    if dtype not in (b"b", "b"):  # what numpy's pickles pass: the state sets the real dtype
        raise SeedMessageError("array", f"_reconstruct with dtype {dtype!r}")
    _check_shape(shape, 1)
    return np.ndarray.__new__(np.ndarray, shape, "b")


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """``numpy._core.numeric._frombuffer`` (protocol 5): an array over the message's bytes."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "iu":
        raise SeedMessageError("dtype", f"{dtype!r} is not an integer type")
    if not isinstance(buf, bytes | bytearray) or order not in ("C", "F"):
        raise SeedMessageError("array", "protocol-5 array without its bytes")
    _check_shape(shape, dtype.itemsize)
    if len(buf) != math.prod(shape) * dtype.itemsize:
        raise SeedMessageError("array", "buffer size does not match the shape")
    return np.frombuffer(bytes(buf), dtype=dtype).reshape(shape, order=order).copy()


def _safe_latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """``_codecs.encode(text, "latin1")``: how pickle protocols 0-2 write the arrays' bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise SeedMessageError("array", "bytes written in another way than latin-1")
    if len(text) > MAX_MESSAGE:
        raise SeedMessageError("array", "too many bytes")
    return text.encode("latin1")


#: ``(module, name)`` -> what the unpickler resolves it to; nothing else is resolved.
ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("_codecs", "encode"): _safe_latin1,
}


class SeedUnpickler(safe_pickle.Unpickler):
    """The restricted unpickler with the allow-list above instead of torch's."""

    def find_class(self, module: str, name: str) -> Any:
        """An allowed global's checking wrapper, or an inert placeholder class; never imports."""
        found = ALLOWED.get((module, name))
        if found is not None:
            return found
        return safe_pickle.placeholder_class(module, name)


def read_indices(body: bytes, codebooks: int, frames: int, codebook_size: int) -> np.ndarray:
    """A message body -> codes ``(codebooks, frames)`` int64, else :class:`SeedMessageError`."""
    if len(body) > MAX_MESSAGE:
        raise SeedMessageError("oversized", f"{len(body)} bytes")
    try:
        value = SeedUnpickler(io.BytesIO(body)).load()
    except SeedMessageError:
        raise
    except safe_pickle.UnsafeCheckpointError as exc:
        raise SeedMessageError("code", exc.problem) from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure: not a seed message
        raise SeedMessageError("pickle", f"{type(exc).__name__}: {exc}") from None
    if not isinstance(value, list | tuple) or len(value) != codebooks:
        raise SeedMessageError("shape", f"not a list of {codebooks} arrays")
    rows = []
    for a in value:
        if type(a) is not np.ndarray or a.dtype.kind not in "iu":
            raise SeedMessageError("dtype", "not an integer numpy array")
        if a.size != frames or a.ndim not in (1, 2) or (a.ndim == 2 and a.shape[0] != 1):
            raise SeedMessageError("shape", f"an array of shape {a.shape}, expected (1, {frames})")
        a = a.reshape(-1).astype(np.int64)
        if a.min() < 0 or a.max() >= codebook_size:
            raise SeedMessageError("range", f"indices outside 0..{codebook_size - 1}")
        rows.append(a)
    return np.stack(rows)


def write_message(codes: np.ndarray) -> bytes:
    """Codes ``(codebooks, frames)`` -> one message as the seed's server sends it."""
    indices = [np.asarray(row, dtype=np.int64).reshape(1, -1) for row in codes]
    body = pickle.dumps(indices)
    return LENGTH.pack(len(body)) + body


class MessageReader:
    """Bytes from a TCP stream in, whole message bodies out; bounded memory.

    :meth:`feed` raises :class:`SeedMessageError` (``oversized``) for a length
    over :data:`MAX_MESSAGE`: the connection must then be closed.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; the bodies completed by them."""
        self._buf += data
        bodies = []
        while len(self._buf) >= LENGTH.size:
            (n,) = LENGTH.unpack_from(self._buf)
            if n > MAX_MESSAGE:
                raise SeedMessageError("oversized", f"a message of {n} bytes announced")
            if len(self._buf) < LENGTH.size + n:
                break
            bodies.append(bytes(self._buf[LENGTH.size : LENGTH.size + n]))
            del self._buf[: LENGTH.size + n]
        return bodies
