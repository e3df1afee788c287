"""Reference stages by name for chains: ``opus``, ``mulaw``, ``alaw`` codecs, ``pghi`` vocoder.

- ``opus``: Opus at 18.7 kbit/s (what TinyTransformerCodec's overlap-save
  stream really needs), 20 ms frames. ``opus@12`` sets the bitrate in
  kbit/s (6..32, decimals allowed: ``opus@9.3``); ``opus@12/10ms`` also
  sets the frame (10 or 20 ms).
- ``mulaw``, ``alaw``: G.711 proper, 8 kHz narrowband, 64 kbit/s
  (``mulaw@64`` is the same). ``mulaw@128`` / ``alaw@128`` compand every
  16 kHz sample instead (wideband, 128 kbit/s).
- ``amrwb@KBPS``: AMR-WB at one of its nine modes (6.6 ... 23.85 kbit/s;
  ``amrwb`` is 12.65), 20 ms frames (:mod:`engine.classic.amrwb_codec`).
- ``speex@KBPS``: Speex wideband at the quality whose rate is nearest KBPS
  (3.95 ... 42.2 kbit/s; ``speex`` is 9.8); the name becomes the real rate
  (``speex@10`` -> ``speex@9.8``) (:mod:`engine.classic.speex_codec`).
- ``codec2@KBPS``: Codec 2 at one of its modes (3.2, 2.4, 1.6, 1.4, 1.3, 1.2,
  0.7 kbit/s; ``codec2`` is 3.2), 8 kHz narrowband inside the 16 kHz chain
  (:mod:`engine.classic.codec2_codec`).
- ``pghi``: not a codec but the DSP floor of the vocoder (it stands where
  the vocoder does in a chain: ``codec+pghi``). The vocoder's causal log-mel,
  its filterbank's pseudo-inverse, RTPGHI phase (:mod:`engine.classic.pghi_stage`);
  n_fft 512 / hop 128 by default, ``pghi@1024/320`` is the seed's geometry.

:func:`parse_reference` normalises a name (``"opus"`` ->
``"opus@18.7/20ms"``) and rejects malformed ones with a ``ValueError`` that
shows the syntax; :func:`build_reference` makes a fresh stage from it.
The classic codecs (AMR-WB, Speex, Codec 2) need system libraries;
:func:`unavailable_reason` says in one line why one cannot run here (the
name still parses, so a chooser can show it greyed out with that reason).
:data:`OPUS_LADDER` names the Opus rates a codec is compared against
(``opus-ladder`` in a list of chains, see :func:`expand_groups`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.dsp.opus_codec import CODEC_BITRATE_BPS
from engine.stage import HopStage

REFERENCE_CODECS = ("opus", "mulaw", "alaw", "amrwb", "speex", "codec2")
#: Reference stages that take the vocoder's place in a chain.
REFERENCE_VOCODERS = ("pghi",)
DEFAULT_OPUS_KBPS = CODEC_BITRATE_BPS / 1000
#: Opus rates (kbit/s) shown beside a codec: low, the seed's nominal 9.3 kbit/s,
#: 12, and the 18.7 kbit/s the overlap-save codec really sends.
OPUS_LADDER_KBPS = (6, 9.3, 12, 18.7)
OPUS_LADDER = tuple(f"opus@{k:g}" for k in OPUS_LADDER_KBPS)
#: Names that stand for several chains in a list of chains.
CHAIN_GROUPS = {"opus-ladder": OPUS_LADDER}
SYNTAX = (
    "opus[@KBPS][/10ms|/20ms] (KBPS 6..32), mulaw[@64|@128], alaw[@64|@128], "
    "amrwb[@KBPS] (6.6, 8.85, 12.65, 14.25, 15.85, 18.25, 19.85, 23.05, 23.85), "
    "speex[@KBPS] (wideband, 3.95..42.2, nearest quality), "
    "codec2[@KBPS] (3.2, 2.4, 1.6, 1.4, 1.3, 1.2, 0.7), "
    "pghi[@N_FFT/HOP] (N_FFT 256..2048, a power of two; N_FFT/16 <= HOP <= N_FFT/2)"
)

_OPUS = re.compile(r"opus(?:@(?P<kbps>\d+(?:\.\d+)?)k?)?(?:/(?P<ms>\d+)ms)?")
_G711 = re.compile(r"(?P<law>mulaw|alaw)(?:@(?P<kbps>\d+)k?)?")
_PGHI = re.compile(r"pghi(?:@(?P<n_fft>\d+)/(?P<hop>\d+))?")
_CLASSIC = re.compile(r"(?P<family>amrwb|speex|codec2)(?:@(?P<kbps>\d+(?:\.\d+)?)k?)?")


def is_reference(name: str) -> bool:
    """Whether ``name`` asks for a reference stage (well formed or not)."""
    return name.strip().lower().startswith(REFERENCE_CODECS + REFERENCE_VOCODERS)


def is_reference_vocoder(name: str) -> bool:
    """Whether ``name`` is a reference stage in the vocoder's place (``pghi...``)."""
    return name.strip().lower().startswith(REFERENCE_VOCODERS)


def parse_reference(name: str) -> str:
    """Validate and normalise a reference codec name; ``ValueError`` if malformed."""
    key = name.strip().lower()
    if m := _OPUS.fullmatch(key):
        kbps = float(m["kbps"]) if m["kbps"] else DEFAULT_OPUS_KBPS
        ms = int(m["ms"]) if m["ms"] else 20
        from engine.dsp.opus_codec import OpusConfig

        OpusConfig(bitrate_bps=round(kbps * 1000), frame_ms=ms)  # range checks
        return f"opus@{kbps:g}/{ms}ms"
    if m := _G711.fullmatch(key):
        kbps = int(m["kbps"]) if m["kbps"] else 64
        if kbps not in (64, 128):
            raise ValueError(f"'{name}': G.711 runs at 64 (8 kHz) or 128 (16 kHz) kbit/s")
        return f"{m['law']}@{kbps}"
    if m := _PGHI.fullmatch(key):
        n_fft, hop = _pghi_geometry(name, m["n_fft"], m["hop"])
        return f"pghi@{n_fft}/{hop}"
    if m := _CLASSIC.fullmatch(key):
        from engine.classic import classic_codecs

        return classic_codecs.normalise(m["family"], m["kbps"], name)
    raise ValueError(f"malformed reference stage '{name}'; syntax: {SYNTAX}")


def _pghi_geometry(name: str, n_fft_text: str | None, hop_text: str | None) -> tuple[int, int]:
    """``(n_fft, hop)`` of a ``pghi`` name, default 512/128; ``ValueError`` if out of range."""
    from engine.classic.pghi_stage import DEFAULT_HOP, DEFAULT_N_FFT

    if n_fft_text is None:
        return DEFAULT_N_FFT, DEFAULT_HOP
    n_fft, hop = int(n_fft_text), int(hop_text)
    if n_fft not in (256, 512, 1024, 2048):
        raise ValueError(f"'{name}': pghi's N_FFT must be 256, 512, 1024 or 2048, got {n_fft}")
    if not n_fft // 16 <= hop <= n_fft // 2:
        raise ValueError(
            f"'{name}': pghi's HOP must be {n_fft // 16}..{n_fft // 2} for N_FFT {n_fft} "
            f"(at least 2x overlap for the phase, at most 16x for the CPU), got {hop}"
        )
    return n_fft, hop


def expand_groups(names: Iterable[str]) -> list[str]:
    """Replace each group name (``opus-ladder``) by its chains, keeping order, no repeats."""
    out: list[str] = []
    for name in names:
        for chain in CHAIN_GROUPS.get(name.strip().lower(), (name,)):
            if chain not in out:
                out.append(chain)
    return out


def build_reference(name: str) -> HopStage:
    """A fresh streaming stage for a reference stage name (see the module docstring)."""
    key = parse_reference(name)
    if _CLASSIC.fullmatch(key):
        from engine.classic import classic_codecs

        return classic_codecs.build(key)
    if m := _PGHI.fullmatch(key):
        from engine.classic.pghi_stage import PghiStage

        return PghiStage(int(m["n_fft"]), int(m["hop"]))
    if key.startswith("opus"):
        from engine.classic.opus_stage import OpusStage

        m = _OPUS.fullmatch(key)
        return OpusStage(bitrate_bps=round(float(m["kbps"]) * 1000), frame_ms=int(m["ms"]))
    from engine.classic.g711_stage import G711Stage

    law, kbps = key.split("@")
    return G711Stage(law, narrowband_8k=kbps == "64")


def unavailable_reason(chain: str) -> str | None:
    """Why a chain's reference codec cannot run here (a missing library), or None.

    Only the classic codecs' system libraries are checked (Opus comes with
    the Python packages); a malformed name is the parser's business.
    """
    from engine.classic import classic_codecs

    for stage in re.split(r"[,+]", chain.strip().lower()):
        if m := _CLASSIC.fullmatch(stage.strip()):
            if reason := classic_codecs.unavailable_reason(m["family"]):
                return reason
    return None
