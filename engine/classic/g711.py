"""ITU-T G.711 μ-law and A-law companding, written from the Recommendation.

G.711 maps a uniform PCM sample to an 8-bit code with 8 segments (chords) of
16 steps each; the step doubles from one segment to the next. As in the
Recommendation, μ-law works on 14-bit linear samples (-8192..8191) and A-law
on 13-bit ones (-4096..4095). Floats in [-1, 1] are scaled to those ranges
(1.0 -> 8192 or 4096), floored to the integer grid and clipped, so that a
16-bit PCM sample scaled to float gives the same code as the ITU reference
software (G.191 STL, which drops the low bits the same way).

Negative samples use the one's complement of the integer (``-v - 1``) as
magnitude, which makes the quantiser symmetric about -0.5 LSB as in the
Recommendation's tables (there is a +0 and a -0 code).

μ-law (14-bit, bias 33): ``b = min(m + 33, 8191)``, segment ``s`` with
``32 * 2**s <= b < 64 * 2**s``, step ``q = (b >> (s + 1)) & 15``, code =
``~(sign << 7 | s << 4 | q)``; decoding gives ``((2q + 33) << s) - 33``.
Zero -> 0xFF, full scale -> 0x80 (decoded 8031).

A-law (13-bit): segment 0 covers ``m < 32`` with step 2 (``q = m >> 1``),
segment ``s >= 1`` covers ``16 * 2**s <= m < 32 * 2**s`` with
``q = (m >> s) & 15``; code = ``(sign << 7 | s << 4 | q) ^ 0x55`` (the even
bits are inverted) with sign 1 for positive. Decoding gives ``2q + 1`` in
segment 0 and ``(2q + 33) << (s - 1)`` above. Zero -> 0xD5, full scale -> 0xAA
(decoded 4032).

All functions are vectorised over numpy arrays of any shape.
"""

from __future__ import annotations

import numpy as np

MULAW_SCALE = 8192  # 14-bit linear: float 1.0 == 2**13
ALAW_SCALE = 4096  # 13-bit linear: float 1.0 == 2**12
MULAW_BIAS = 33

_MULAW_SEG_END = 64 * 2 ** np.arange(8) - 1  # biased magnitude at the top of each segment
_ALAW_SEG_END = np.array([31] + [32 * 2**s - 1 for s in range(1, 8)])


def _linear(x: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Float samples -> (is_negative, magnitude) on the ``scale``-sized integer grid."""
    v = np.floor(np.asarray(x, dtype=np.float64) * scale)
    v = np.clip(np.nan_to_num(v), -scale, scale - 1).astype(np.int32)
    negative = v < 0
    return negative, np.where(negative, -v - 1, v)


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> G.711 μ-law codes (uint8, same shape)."""
    negative, mag = _linear(x, MULAW_SCALE)
    biased = np.minimum(mag + MULAW_BIAS, _MULAW_SEG_END[-1])
    seg = np.searchsorted(_MULAW_SEG_END, biased).astype(np.int32)
    step = (biased >> (seg + 1)) & 0xF
    code = (negative.astype(np.int32) << 7) | (seg << 4) | step
    return (~code & 0xFF).astype(np.uint8)


def mulaw_decode_int(code: np.ndarray) -> np.ndarray:
    """G.711 μ-law codes -> 14-bit linear values (int32), the Recommendation's table."""
    c = ~np.asarray(code, dtype=np.int32) & 0xFF
    seg = (c >> 4) & 0x7
    mag = ((((c & 0xF) << 1) + MULAW_BIAS) << seg) - MULAW_BIAS
    return np.where(c & 0x80, -mag, mag)


def mulaw_decode(code: np.ndarray) -> np.ndarray:
    """G.711 μ-law codes -> float32 samples (14-bit value / 8192)."""
    return (mulaw_decode_int(code) / MULAW_SCALE).astype(np.float32)


def alaw_encode(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> G.711 A-law codes (uint8, same shape)."""
    negative, mag = _linear(x, ALAW_SCALE)
    seg = np.searchsorted(_ALAW_SEG_END, mag).astype(np.int32)
    step = np.where(seg == 0, mag >> 1, (mag >> np.maximum(seg, 1)) & 0xF)
    code = ((~negative).astype(np.int32) << 7) | (seg << 4) | step
    return (code ^ 0x55).astype(np.uint8)


def alaw_decode_int(code: np.ndarray) -> np.ndarray:
    """G.711 A-law codes -> 13-bit linear values (int32), the Recommendation's table."""
    c = np.asarray(code, dtype=np.int32) ^ 0x55
    seg = (c >> 4) & 0x7
    q = c & 0xF
    mag = np.where(seg == 0, 2 * q + 1, (2 * q + 33) << np.maximum(seg - 1, 0))
    return np.where(c & 0x80, mag, -mag)


def alaw_decode(code: np.ndarray) -> np.ndarray:
    """G.711 A-law codes -> float32 samples (13-bit value / 4096)."""
    return (alaw_decode_int(code) / ALAW_SCALE).astype(np.float32)


def mulaw_segment(code: np.ndarray) -> np.ndarray:
    """Segment number 0..7 of μ-law codes (the quantisation step is ``2**(s+1)``)."""
    return ((~np.asarray(code, dtype=np.int32) & 0xFF) >> 4) & 0x7


def alaw_segment(code: np.ndarray) -> np.ndarray:
    """Segment number 0..7 of A-law codes (step 2 in segments 0-1, ``2**s`` above)."""
    return ((np.asarray(code, dtype=np.int32) ^ 0x55) >> 4) & 0x7
