"""Build the processing chain (dry, codec, vocoder, codec+vocoder, opus+vocoder...) from names.

The same chain object serves the offline ``process`` command, ``evaluate``
and the live engine, so what is heard live is what is measured offline.

``codec`` streams the codec in the mode its weights were trained for;
``codec@oas`` (overlap-save, 18.7 kbit/s) and ``codec@reuse`` (token reuse,
9.33 kbit/s) choose one (:mod:`engine.models.codec.stage`). ``codec@fadeN``
cross-fades each hop's seam over N samples whatever the weights record
(``codec@fade0``: the seed's hard cut; ``codec@reuse/fade32``: both), so a
checkpoint trained without the fade can be heard and measured with it.
``codec@searchK`` lets the encoder search K candidates per token
(:mod:`engine.models.codec.search`): the same bits, chosen by their sound.

Reference codecs for A/B comparison are chains of their own
(:mod:`engine.classic.reference_stages`):

- ``opus``: Opus at the codec's true 18.7 kbit/s, 20 ms frames; ``opus@KBPS`` picks the bitrate
  in kbit/s (6..32, e.g. ``opus@12``, ``opus@9.3``) and ``opus@KBPS/10ms``
  the frame (10 or 20 ms).
- ``mulaw``, ``alaw``: G.711, 8 kHz narrowband, 64 kbit/s; ``mulaw@128`` /
  ``alaw@128`` compand the 16 kHz samples directly (128 kbit/s).
- ``amrwb@KBPS``, ``speex@KBPS``, ``codec2@KBPS``: the classic speech codecs
  at their modes (AMR-WB 6.6..23.85, Speex wideband 3.95..42.2, Codec 2
  0.7..3.2 kbit/s), through their system libraries.

A reference codec can also feed the vocoder (``opus,vocoder``,
``opus@12+vocoder``, ``mulaw,vocoder``, ``amrwb@8.85+vocoder``), to hear
what the vocoder makes of a conventional codec's output; see
:func:`parse_chain` for the syntax.

``pghi`` (``pghi@N_FFT/HOP``, default 512/128) is the classical vocoder, the
DSP floor a trained one must beat: it takes the vocoder's place (``pghi``
alone, ``codec+pghi``, ``opus@12+pghi``); see :mod:`engine.classic.pghi_stage`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import resources
from engine.classic.reference_stages import (
    build_reference,
    is_reference,
    is_reference_vocoder,
    parse_reference,
)
from engine.models.errors import CheckpointError
from engine.stage import DEFAULT_CHUNK, REFERENCE, SAMPLE_RATE, HopStage

CHAINS = (
    "dry", "codec", "vocoder", "codec,vocoder", "opus", "mulaw", "alaw", "amrwb@8.85",
    "speex@9.8", "codec2@3.2", "pghi",
)  # fmt: skip
#: The codec's stream modes (``engine.models.codec.model.STREAM_MODES``, named
#: here so that parsing a chain name does not import torch).
CODEC_STREAMS = ("oas", "reuse")
#: One option of ``codec@...``: a stream mode, ``fadeN`` (the seam fade asked of the
#: stage) or ``searchK`` (the encoder's token search, K candidates per token).
_CODEC_OPTION = re.compile(
    rf"(?P<stream>{'|'.join(CODEC_STREAMS)})|fade(?P<fade>\d{{1,4}})|search(?P<search>\d{{1,2}})"
)
#: The vocoder with one frame of phase look-ahead (RTPGHI-phase weights only): one hop
#: (8 ms at the default's frames) more latency for a better phase (engine/training/README.md).
VOCODER_LOOKAHEAD = "vocoder@lookahead"
#: The live engine's link tap: what the codec link receives (engine.link.live); no offline form.
LINK_STAGE = "link"
#: Live A/B taps over a simulated link (engine.link.sim_tap): the input sent and played back.
SIM_LINK_STAGES = ("simlink@codec", "simlink@opus")
_ALIASES = {"vocos": "vocoder", "none": "dry"}
SYNTAX = (
    "dry, or [CODEC][,VOCODER] where CODEC is codec (TinyTransformerCodec in the stream mode "
    "of its weights; codec@oas or codec@reuse to choose, codec@fadeN for an N-sample seam "
    "fade, codec@searchK for the encoder's token search, joined as codec@reuse/fade32/search4) "
    "or a reference "
    "codec (opus[@KBPS][/10ms], mulaw, alaw, amrwb@KBPS, speex@KBPS, codec2@KBPS) and "
    "VOCODER is vocoder (vocoder@lookahead: one frame of phase look-ahead) or the classical "
    "pghi[@N_FFT/HOP]; stages are separated by ',' or '+'; live only: link (what the "
    "codec link receives, also link+vocoder), simlink@codec and simlink@opus (the input over "
    "a simulated link)"
)


def parse_chain(text: str) -> tuple[str, ...]:
    """Normalise a chain name to its stage names, in order.

    ``'codec+vocoder'`` -> ``('codec', 'vocoder')``, ``'opus@12,vocoder'`` ->
    ``('opus@12/20ms', 'vocoder')``, ``'dry'`` -> ``()``. A chain is at most
    one codec (ours or a reference) followed by at most one vocoder (ours
    or the classical ``pghi``): the vocoder re-synthesises what a codec let
    through, the other way round would code a vocoder's output, which
    nothing here is built to compare.
    """
    key = text.strip().lower()
    names = [_ALIASES.get(p.strip(), p.strip()) for p in re.split(r"[,+]", key)]
    if names == ["dry"]:
        return ()
    stages = tuple(_stage_name(n, text) for n in names)
    vocoders = [i for i, n in enumerate(stages) if _is_vocoder(n)]
    codecs = [i for i in range(len(stages)) if i not in vocoders]
    backwards = bool(codecs and vocoders and codecs[0] > vocoders[0])
    problem = (
        "more than one codec" if len(codecs) > 1
        else "more than one vocoder" if len(vocoders) > 1
        else "the vocoder must come after the codec" if backwards
        else None
    )  # fmt: skip
    if problem:
        raise ValueError(f"unsupported chain '{text}': {problem}; expected {SYNTAX}")
    return stages


def _is_vocoder(stage: str) -> bool:
    """Whether a normalised stage name takes the vocoder's place in a chain."""
    return stage in ("vocoder", VOCODER_LOOKAHEAD) or is_reference_vocoder(stage)


def _stage_name(name: str, text: str) -> str:
    """One stage's normalised name; ValueError naming the whole chain otherwise."""
    if name in ("codec", "vocoder", VOCODER_LOOKAHEAD, LINK_STAGE, *SIM_LINK_STAGES):
        return name
    if name.startswith("codec@"):
        return _codec_variant(name[len("codec@") :], text)
    if is_reference(name):
        return parse_reference(name)
    raise ValueError(f"unknown chain '{text}' (stage '{name}'); expected {SYNTAX}")


def _codec_parts(variant: str) -> dict[str, str] | None:
    """``'reuse/fade32'`` -> ``{'stream': 'reuse', 'fade': '32'}``; None if not a codec variant.

    At most one stream mode, one ``fadeN`` and one ``searchK``, in any order.
    """
    parts: dict[str, str] = {}
    for part in variant.split("/") if variant else ():
        option = _CODEC_OPTION.fullmatch(part)
        if option is None:
            return None
        kind = "stream" if option["stream"] else "fade" if option["fade"] else "search"
        if kind in parts:
            return None
        parts[kind] = option[kind]
    return parts


def _codec_variant(options: str, text: str) -> str:
    """``'fade032/reuse'`` -> ``'codec@reuse/fade32'``: the canonical name, or ValueError."""
    parts = _codec_parts(options)
    if not parts:
        raise ValueError(
            f"unknown codec stream mode, fade or search in '{text}': codec@MODE, codec@fadeN, "
            f"codec@searchK or several joined by '/', as codec@reuse/fade32/search4 "
            f"(MODE: {' or '.join(CODEC_STREAMS)}; N: seam fade in samples, 0 = hard cut; "
            f"K: the encoder's candidates per token)"
        )
    names = {"stream": "{}", "fade": "fade{}", "search": "search{}"}
    canonical = [
        names[k].format(parts[k] if k == "stream" else int(parts[k])) for k in names if k in parts
    ]
    return "codec@" + "/".join(canonical)


def model_variant(name: str) -> tuple[str, dict] | None:
    """Which of our models a stage name runs, and with what: None for any other stage.

    ``'codec'`` -> ``('codec', {'stream': None})`` (the weights' own mode and fade),
    ``'codec@oas'`` -> ``('codec', {'stream': 'oas'})``, ``'codec@fade32'`` ->
    ``('codec', {'stream': None, 'seam_fade': 32})``, ``'vocoder@lookahead'``
    -> ``('vocoder', {'lookahead': True})``: the keyword arguments of
    :func:`model_stage`, the one reading of these names for every front end.
    """
    base, _, variant = name.partition("@")
    parts = _codec_parts(variant) if base == "codec" else None
    if parts is not None:
        options: dict = {"stream": parts.get("stream")}
        options.update({"seam_fade": int(parts["fade"])} if "fade" in parts else {})
        options.update({"search": int(parts["search"])} if "search" in parts else {})
        return "codec", options
    if name in ("vocoder", VOCODER_LOOKAHEAD):
        return "vocoder", {"lookahead": name == VOCODER_LOOKAHEAD}
    return None


def chain_name(stages: Sequence[str]) -> str:
    """Canonical name of a stage sequence: ``'dry'``, ``'codec+vocoder'``, ``'opus@12/20ms'``."""
    return "+".join(stages) if stages else "dry"


def _resolve_weights(path: str | Path | None, default: Path, what: str) -> Path:
    """A file path, a model-store name (``streamvox models list``), or the bundled default."""
    if path is None:
        if not default.exists():
            raise CheckpointError(
                default, f"the bundled {what} weights are missing: reinstall streamvox"
            )
        return default
    candidate = Path(path)
    if candidate.exists() or candidate.suffix:
        return candidate
    from engine.store import ModelStore

    return ModelStore().resolve(str(path))


def load_codec_model(path: str | Path | None = None):
    """Load codec weights: a file, a model-store name, or (``None``) the bundled default."""
    from engine.models.codec.checkpoint import load_codec

    return load_codec(_resolve_weights(path, resources.DEFAULT_CODEC_WEIGHTS, "codec"))


def load_vocoder_model(path: str | Path | None = None):
    """Load vocoder weights: a file, a model-store name, or (``None``) the bundled default."""
    from engine.models.vocos.checkpoint import load_vocos

    return load_vocos(_resolve_weights(path, resources.DEFAULT_VOCODER_WEIGHTS, "vocoder"))


# Inference paths used by default: the TorchScript codec hop is exact (about
# 2e-8 from the model); int8 Vocos stays within about 55-60 dB SNR of fp32 on
# speech and is 4-8x faster (see ``streamvox bench --speech``).
DEFAULT_PRECISION = "int8"
#: One vocabulary for both models' stages: ``reference`` runs the plain PyTorch
#: models; any other runs the codec's fast path (exact, fp32) and the vocoder's
#: fast path at that precision.
PRECISIONS = (REFERENCE, "fp32", "fp16", "bf16", "int8")


def model_stage(
    kind: str,
    model,
    chunk: int = DEFAULT_CHUNK,
    precision: str = DEFAULT_PRECISION,
    stream: str | None = None,
    lookahead: bool = False,
    seam_fade: int | None = None,
    search: int = 0,
) -> HopStage:
    """A fresh stage of one of our models (``kind`` "codec" or "vocoder") at ``precision``.

    ``stream`` is the codec's stream mode and ``seam_fade`` its seam fade in
    samples (None: what its weights record), ``search`` its encoder's token
    search (candidates per token, 0: none); ``lookahead`` gives an RTPGHI
    vocoder one frame of phase look-ahead. Both :func:`build_stages` and the
    live taps build through here.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    if kind == "codec":
        from engine.models.codec.stage import CodecStage

        codec_precision = REFERENCE if precision == REFERENCE else "fp32"  # exact either way
        return CodecStage(
            model, precision=codec_precision, stream=stream, seam_fade=seam_fade, search=search
        )
    if kind == "vocoder":
        from engine.models.vocos.stage import VocosStage

        return VocosStage(model, chunk, precision=precision, lookahead=lookahead)
    raise ValueError(f"unknown model stage '{kind}'; choose codec or vocoder")


def build_stages(
    chain: str,
    chunk: int = DEFAULT_CHUNK,
    codec_weights: str | Path | None = None,
    vocoder_weights: str | Path | None = None,
    precision: str = DEFAULT_PRECISION,
) -> list[HopStage]:
    """Create fresh streaming stages for ``chain`` (see :data:`CHAINS`).

    ``precision`` picks the vocoder's inference path; ``"reference"`` runs
    the plain PyTorch models (no fast paths at all), for checking.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    stages: list[HopStage] = []
    for name in parse_chain(chain):
        if name == LINK_STAGE or name in SIM_LINK_STAGES:
            raise ValueError(f"the '{name}' tap plays only live (streamvox run, the app)")
        ours = model_variant(name)
        if ours is None:
            stages.append(build_reference(name))
            continue
        kind, options = ours
        model = (
            load_codec_model(codec_weights) if kind == "codec"
            else load_vocoder_model(vocoder_weights)
        )  # fmt: skip
        stages.append(model_stage(kind, model, chunk, precision, **options))
    return fuse_series(stages)


def fuse_series(stages: list[HopStage]) -> list[HopStage]:
    """A stage feeding the vocoder runs fused with it (less latency, same output).

    See :class:`engine.series_stage.SeriesStage`: the vocoder steps as soon
    as the stage before it has made its input, not a whole hop later.
    """
    from engine.series_stage import SeriesStage

    if len(stages) == 2 and stages[1].name == "vocoder":
        return [SeriesStage(stages[0], stages[1])]
    return stages


@dataclass
class Chain:
    """Stages run one after another; latencies add up."""

    stages: Sequence[HopStage]

    @property
    def latency(self) -> int:
        """Total algorithmic latency in samples at 16 kHz."""
        return sum(s.latency for s in self.stages)

    @property
    def sample_rate(self) -> int:
        """Rate of the chain's input and output."""
        return SAMPLE_RATE

    def reset(self) -> None:
        """Reset every stage to the start of a stream."""
        for s in self.stages:
            s.reset()

    def process(self, block: np.ndarray) -> np.ndarray:
        """Stream ``block`` through every stage (same length out, delayed)."""
        out = np.asarray(block, dtype=np.float32)
        for s in self.stages:
            out = s.process(out)
        return out

    def run_aligned(self, x: np.ndarray, block: int, progress=None) -> np.ndarray:
        """Stream a whole signal block by block, then remove the latency.

        The input is followed by ``latency`` zeros so that the tail comes
        out; the result has ``len(x)`` samples aligned with ``x``. The block
        size does not change the result. ``progress(n)`` is called with the
        number of samples consumed after each block.
        """
        if block <= 0:
            raise ValueError(f"block size must be positive, got {block}")
        lat = self.latency
        padded = np.concatenate([np.asarray(x, np.float32), np.zeros(lat, np.float32)])
        out = np.empty_like(padded)
        for start in range(0, len(padded), block):
            stop = min(start + block, len(padded))
            out[start:stop] = self.process(padded[start:stop])
            if progress is not None:
                progress(stop - start)
        return out[lat : lat + len(x)]

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole-signal form of :meth:`run_aligned` built from each stage's offline form.

        Between stages the signal is delayed by the upstream latency, exactly
        as it is when streaming, because a hop-based stage is not invariant
        to shifts that are not multiples of its hop.
        """
        n = len(x)
        lat = self.latency
        z = np.concatenate([np.asarray(x, np.float32), np.zeros(lat, np.float32)])
        delay = 0
        for s in self.stages:
            z = s.offline(z)
            z = np.concatenate([np.zeros(s.latency, np.float32), z])[: len(z)]
            delay += s.latency
        return z[delay : delay + n]
