"""The classic speech codecs as reference stages: AMR-WB, Speex wideband, Codec 2.

One place that knows the three families' names: ``amrwb@KBPS``,
``speex@KBPS``, ``codec2@KBPS`` (see :mod:`engine.classic.reference_stages`).
Names are checked without loading any library, so that a chain can be
named (and offered greyed out) on a machine without them; building a stage
is what needs the library, and raises
:class:`engine.classic.native_lib.CodecUnavailableError` when it is missing.
"""

from __future__ import annotations

from engine.classic import amrwb_codec, codec2_codec, speex_codec
from engine.classic.framed_stage import FramedCodecStage
from engine.classic.narrowband import NarrowbandFrames
from engine.classic.native_lib import CodecUnavailableError

FAMILIES = ("amrwb", "speex", "codec2")
DEFAULT_KBPS = {"amrwb": 12.65, "speex": 9.8, "codec2": 3.2}
#: Speex rates asked for outside this range (kbit/s) are refused, not rounded.
SPEEX_RANGE = (3.0, 45.0)

_REASONS = {
    "amrwb": amrwb_codec.unavailable_reason,
    "speex": speex_codec.unavailable_reason,
    "codec2": codec2_codec.unavailable_reason,
}


def normalise(family: str, kbps_text: str | None, name: str) -> str:
    """``family@KBPS`` with KBPS the real rate of the mode; ``ValueError`` if it has none."""
    kbps = float(kbps_text) if kbps_text else DEFAULT_KBPS[family]
    try:
        if family == "amrwb":
            kbps = amrwb_codec.MODES_KBPS[amrwb_codec.mode_index(kbps)]
        elif family == "codec2":
            codec2_codec.mode_for(kbps)
        else:
            kbps = _speex_rate(kbps)
    except ValueError as exc:
        raise ValueError(f"'{name}': {exc}") from exc
    return f"{family}@{kbps:g}"


def _speex_rate(kbps: float) -> float:
    """The wideband rate nearest ``kbps``; ``ValueError`` outside :data:`SPEEX_RANGE`."""
    low, high = SPEEX_RANGE
    if not low <= kbps <= high:
        raise ValueError(
            f"Speex wideband runs at {speex_codec.QUALITY_KBPS[0]:g}.."
            f"{speex_codec.QUALITY_KBPS[-1]:g} kbit/s (asked {kbps:g})"
        )
    return speex_codec.QUALITY_KBPS[speex_codec.nearest_quality(kbps)]


def unavailable_reason(family: str) -> str | None:
    """Why ``family``'s libraries cannot be loaded here, or None."""
    return _REASONS[family]()


def build(key: str) -> FramedCodecStage:
    """A fresh stage for a normalised name (``amrwb@8.85``); CodecUnavailableError if no library."""
    family, kbps_text = key.split("@")
    kbps = float(kbps_text)
    if reason := unavailable_reason(family):
        raise CodecUnavailableError(f"{key}: {reason}")
    if family == "amrwb":
        return FramedCodecStage(lambda: amrwb_codec.AmrWbCodec(kbps), key)
    if family == "speex":
        return FramedCodecStage(lambda: speex_codec.SpeexWbCodec(kbps), key)
    return FramedCodecStage(lambda: NarrowbandFrames(codec2_codec.Codec2Codec(kbps)), key)
