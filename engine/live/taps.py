"""Taps: the signals a listener compares, and the stages that make them.

A *tap* is any chain :func:`engine.chain.parse_chain` accepts, named by its
canonical form: ``dry``, ``codec``, ``vocoder`` (the vocoder alone, on the
dry signal), ``codec+vocoder``, a reference codec (``opus@9.3/20ms``,
``mulaw@64`` ...) or a reference codec feeding the vocoder
(``opus@12/20ms+vocoder``). Per-stage bypass (of the Tiny ``codec`` and the
``vocoder``) and master bypass map a selected tap to the one actually heard
(:func:`effective_tap`).

A tap's stages form a path: its last stage is fed by the tap made of the
stages before it (:func:`parent_tap`), so ``codec+vocoder`` shares the
``codec`` stage, and ``opus@12/20ms+vocoder`` the Opus one.

A :class:`StageSet` is one *generation* of stage instances, one per tap
(that tap's last stage). It is built and warmed off the audio thread
(:func:`build_stage_set`) for the taps in the A/B slots and what their
bypasses reach (:func:`needed_taps`), not for every possible tap; assigning
another tap adds its stages to the generation. A chunk change or a weight
swap builds a new generation and the engine crossfades to it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.chain import chain_name, fuse_series, model_variant, parse_chain
from engine.classic.reference_stages import build_reference, is_reference
from engine.stage import SAMPLE_RATE, HopStage, check_chunk

#: The taps of our own models (keys 1-4 in the GUI).
TAPS = ("dry", "codec", "vocoder", "codec+vocoder")
#: Stage kinds that can be bypassed live.
STAGE_KINDS = ("codec", "vocoder")

WARM_STEPS = 5

#: ``factory(kind, chunk) -> fresh stage``; kind is "codec" or "vocoder".
StageFactory = Callable[[str, int], HopStage]


def check_tap(tap: str) -> str:
    """The canonical name of ``tap`` (``'opus@9.3'`` -> ``'opus@9.3/20ms'``); ValueError if bad."""
    try:
        return chain_name(parse_chain(tap))
    except ValueError as exc:
        raise ValueError(f"unknown tap '{tap}': {exc}") from exc


def tap_stages(tap: str) -> tuple[str, ...]:
    """Stage kinds a tap runs through, in order."""
    return parse_chain(tap)


def tap_for(stages: Iterable[str]) -> str:
    """The tap made of exactly these stage kinds, in this order."""
    return chain_name(tuple(stages))


def parent_tap(tap: str) -> str | None:
    """The tap whose output feeds ``tap``'s last stage (None: the 16 kHz input)."""
    stages = tap_stages(tap)
    return tap_for(stages[:-1]) if len(stages) > 1 else None


def available_taps(chain: str) -> tuple[str, ...]:
    """Taps a chain offers: every subset of its stages in order, dry first, full chain last."""
    kinds = parse_chain(chain)
    subsets = (c for r in range(len(kinds) + 1) for c in itertools.combinations(kinds, r))
    return tuple(tap_for(c) for c in subsets)


def effective_tap(tap: str, bypassed: Iterable[str] = (), master_bypass: bool = False) -> str:
    """What is heard when ``tap`` is selected and some stages are bypassed."""
    if master_bypass:
        return "dry"
    skip = set(bypassed)
    return tap_for(k for k in tap_stages(tap) if stage_kind(k) not in skip)


def stage_kind(stage: str) -> str:
    """The bypass switch a stage answers to: ``'vocoder@lookahead'`` -> ``'vocoder'``.

    Our models' variants (``codec@oas``, ``vocoder@lookahead``) are the codec
    and the vocoder; any other stage (reference codecs, ``pghi``, links) is its own.
    """
    ours = model_variant(stage)
    return ours[0] if ours is not None else stage


def needed_taps(taps: Iterable[str]) -> tuple[str, ...]:
    """Wet taps whose stages must exist so that ``taps`` can be heard under any bypass.

    Each tap with any subset of its bypassable stages removed, plus the
    taps feeding them; parents come before children.
    """
    out: set[str] = set()
    for tap in taps:
        kinds = tap_stages(tap)
        optional = [k for k in kinds if stage_kind(k) in STAGE_KINDS]
        for r in range(len(optional) + 1):
            for skip in itertools.combinations(optional, r):
                kept = tuple(k for k in kinds if k not in skip)
                out.update(tap_for(kept[:i]) for i in range(1, len(kept) + 1))
    return tuple(sorted(out, key=lambda t: (len(tap_stages(t)), t)))


@dataclass
class StageSet:
    """One generation of stages: ``stages[tap]`` is that tap's last stage."""

    generation: int
    chunk: int
    stages: dict[str, HopStage] = field(default_factory=dict)
    step_ms: dict[str, float] = field(default_factory=dict)  # measured at warm-up

    def path(self, tap: str) -> list[str]:
        """The taps on ``tap``'s path, itself first, that this set has stages for."""
        out: list[str] = []
        node: str | None = tap
        while node is not None and node in self.stages:
            out.append(node)
            node = self.feeder(node)
        return out

    def feeder(self, tap: str) -> str | None:
        """The tap feeding ``tap``'s stage (None: the input, also for a fused stage)."""
        stage = self.stages.get(tap)
        if stage is not None and stage.whole_path:
            return None
        return parent_tap(tap)

    def path_latency(self, tap: str) -> int:
        """Algorithmic latency of a tap at 16 kHz (its stages' latencies add)."""
        return sum(self.stages[t].latency for t in self.path(tap))

    def path_step_ms(self, tap: str) -> float:
        """Measured time of one step of every stage on a tap's path (worst case: all at once)."""
        return sum(self.step_ms.get(t, 0.0) for t in self.path(tap))

    def vocoder_frame_ms(self) -> float | None:
        """Audio per vocoder frame in this set (what one chunk step adds), if a vocoder runs.

        20 ms for the seed's hop of 320; a vocoder trained at another hop
        changes what "chunk N" means, and the GUI says so.
        """
        for stage in self.stages.values():
            for part in stage.parts():
                if part.name == "vocoder" and part.hop % self.chunk == 0:
                    return 1000.0 * part.hop / self.chunk / SAMPLE_RATE
        return None

    def metric(self, name: str) -> float | None:
        """A numeric property of the codec stage (e.g. ``bitrate_bps``), if present."""
        codec = self.stages.get("codec")
        value = getattr(codec, name, None) if codec is not None else None
        return float(value) if isinstance(value, int | float) else None

    def merged(self, extra: StageSet) -> StageSet:
        """The same generation with ``extra``'s stages added (taps assigned since it was built)."""
        stages = {**extra.stages, **self.stages}
        step_ms = {**extra.step_ms, **self.step_ms}
        return StageSet(self.generation, self.chunk, stages, step_ms)


def build_stage_set(
    taps: str | Iterable[str],
    chunk: int,
    factory: StageFactory,
    generation: int,
    warm: bool = True,
) -> StageSet:
    """Create (and warm up) one stage per wet tap.

    ``taps`` is a chain (every tap it offers, see :func:`available_taps`)
    or the taps to build (with what feeds them, see :func:`needed_taps`).
    Our models come from ``factory``; reference codecs are built by name.
    Warm-up runs each stage for a few hops of quiet noise, then resets it,
    so the first real step does not pay for lazy initialisation on the audio
    path; the median step time is kept in ``step_ms`` (the engine sizes its
    safety margin from it).
    """
    check_chunk(chunk)
    wanted = available_taps(taps) if isinstance(taps, str) else tuple(taps)
    out = StageSet(generation=generation, chunk=chunk)
    rng = np.random.default_rng(0)
    for tap in needed_taps(wanted):
        stage = _tap_stage(tap, chunk, factory)
        if warm:
            out.step_ms[tap] = _warm(stage, rng)
        out.stages[tap] = stage
    return out


def _warm(stage: HopStage, rng: np.random.Generator) -> float:
    """Run a few steps of quiet noise, reset; the median step time in ms.

    A fused stage's worst block runs a step of each part: their times add.
    """
    total = 0.0
    for part in stage.parts():
        times = []
        for _ in range(WARM_STEPS):
            hop = (1e-3 * rng.standard_normal(part.hop)).astype(np.float32)
            t0 = time.perf_counter()
            part.process(hop)
            times.append(time.perf_counter() - t0)
        total += 1e3 * float(np.median(times[1:]))
    stage.reset()
    return total


def _tap_stage(tap: str, chunk: int, factory: StageFactory) -> HopStage:
    """The stage that makes ``tap`` from its parent's output, or fused from the input."""
    kinds = tap_stages(tap)
    made = [build_reference(k) if is_reference(k) else factory(k, chunk) for k in kinds]
    fused = fuse_series(made)
    return fused[0] if len(fused) == 1 else made[-1]


class ModelStageFactory:
    """Stage factory over the real models; each model file is loaded once.

    Stage instances keep their own streaming state, so several of them (the
    vocoder after the codec and on the dry signal, old and new chunk sizes)
    can share one model.
    """

    def __init__(
        self, codec_weights: str | Path | None = None, vocoder_weights: str | Path | None = None
    ) -> None:
        self.codec_weights = codec_weights
        self.vocoder_weights = vocoder_weights
        self._codec = None
        self._vocoder = None

    def __call__(self, kind: str, chunk: int) -> HopStage:
        """A fresh stage of ``kind`` at ``chunk`` frames.

        ``kind``: "codec" or "vocoder", or a variant (``codec@oas``,
        ``codec@reuse``, ``vocoder@lookahead``).
        """
        from engine import chain

        ours = chain.model_variant(kind)
        if ours is not None and ours[0] == "codec":
            if self._codec is None:
                self._codec = chain.load_codec_model(self.codec_weights)
            return chain.model_stage("codec", self._codec, chunk, **ours[1])
        if ours is not None:
            if self._vocoder is None:
                self._vocoder = chain.load_vocoder_model(self.vocoder_weights)
            return chain.model_stage("vocoder", self._vocoder, chunk, **ours[1])
        raise ValueError(f"unknown stage kind '{kind}'; choose one of {STAGE_KINDS}")
