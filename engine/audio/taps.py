"""Taps: the signals a listener compares, and the stages that make them.

A *tap* is a point of the chain one can listen to: ``dry``, ``codec``,
``vocoder`` (the vocoder alone, on the dry signal) and ``codec+vocoder``.
Per-stage bypass and master bypass map a selected tap to the one actually
heard (:func:`effective_tap`).

A :class:`StageSet` is one *generation* of stage instances, one per wet tap
(each tap's last stage; ``codec+vocoder`` is fed by the ``codec`` tap). It is
built and warmed off the audio thread (:func:`build_stage_set`); a chunk
change or a weight swap builds a new generation and the engine crossfades
to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.stage import HopStage

TAPS = ("dry", "codec", "vocoder", "codec+vocoder")
STAGE_KINDS = ("codec", "vocoder")
_TAP_STAGES = {
    "dry": (),
    "codec": ("codec",),
    "vocoder": ("vocoder",),
    "codec+vocoder": ("codec", "vocoder"),
}
# Which tap feeds each wet tap's last stage (None: the 16 kHz input).
PARENT = {"codec": None, "vocoder": None, "codec+vocoder": "codec"}

WARM_STEPS = 5

#: ``factory(kind, chunk) -> fresh stage``; kind is "codec" or "vocoder".
StageFactory = Callable[[str, int], HopStage]


def check_tap(tap: str) -> str:
    """Return ``tap`` if it is a known tap name, else raise ValueError."""
    if tap not in TAPS:
        raise ValueError(f"unknown tap '{tap}'; choose one of: {', '.join(TAPS)}")
    return tap


def tap_stages(tap: str) -> tuple[str, ...]:
    """Stage kinds a tap runs through, in order."""
    return _TAP_STAGES[check_tap(tap)]


def tap_for(stages: Iterable[str]) -> str:
    """The tap made of exactly these stage kinds."""
    given = set(stages)
    want = tuple(k for k in STAGE_KINDS if k in given)
    return next(t for t, s in _TAP_STAGES.items() if s == want)


def available_taps(chain: str) -> tuple[str, ...]:
    """Taps a chain offers: every subset of its stages, dry first, full chain last."""
    from engine.chain import parse_chain

    kinds = parse_chain(chain)
    return tuple(t for t in TAPS if set(_TAP_STAGES[t]) <= set(kinds))


def effective_tap(tap: str, bypassed: Iterable[str] = (), master_bypass: bool = False) -> str:
    """What is heard when ``tap`` is selected and some stages are bypassed."""
    if master_bypass:
        return "dry"
    skip = set(bypassed)
    return tap_for(k for k in tap_stages(tap) if k not in skip)


@dataclass
class StageSet:
    """One generation of stages: ``stages[tap]`` is that tap's last stage."""

    generation: int
    chunk: int
    stages: dict[str, HopStage] = field(default_factory=dict)
    step_ms: dict[str, float] = field(default_factory=dict)  # measured at warm-up

    def path_latency(self, tap: str) -> int:
        """Algorithmic latency of a tap at 16 kHz (its stages' latencies add)."""
        total = 0
        while tap in self.stages:
            total += self.stages[tap].latency
            tap = PARENT[tap] or ""
        return total

    def path_step_ms(self, tap: str) -> float:
        """Measured time of one step of every stage on a tap's path (worst case: all at once)."""
        total = 0.0
        while tap in self.stages:
            total += self.step_ms.get(tap, 0.0)
            tap = PARENT[tap] or ""
        return total

    def metric(self, name: str) -> float | None:
        """A numeric property of the codec stage (e.g. ``bitrate_bps``), if present."""
        codec = self.stages.get("codec")
        value = getattr(codec, name, None) if codec is not None else None
        return float(value) if isinstance(value, int | float) else None


def build_stage_set(
    chain: str, chunk: int, factory: StageFactory, generation: int, warm: bool = True
) -> StageSet:
    """Create (and warm up) one stage per wet tap of ``chain``.

    Warm-up runs each stage for a few hops of quiet noise, then resets it,
    so the first real step does not pay for lazy initialisation on the audio
    path; the median step time is kept in ``step_ms`` (the engine sizes its
    safety margin from it).
    """
    if not 1 <= chunk <= 10:
        raise ValueError(f"chunk must be 1..10 frames, got {chunk}")
    out = StageSet(generation=generation, chunk=chunk)
    rng = np.random.default_rng(0)
    for tap in available_taps(chain):
        if tap == "dry":
            continue
        stage = factory(tap_stages(tap)[-1], chunk)
        if warm:
            times = []
            for _ in range(WARM_STEPS):
                hop = (1e-3 * rng.standard_normal(stage.hop)).astype(np.float32)
                t0 = time.perf_counter()
                stage.process(hop)
                times.append(time.perf_counter() - t0)
            stage.reset()
            out.step_ms[tap] = 1e3 * float(np.median(times[1:]))
        out.stages[tap] = stage
    return out


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
        """A fresh stage of ``kind`` ("codec" or "vocoder") at ``chunk`` frames."""
        from engine import chain

        if kind == "codec":
            from engine.models.codec_stage import CodecStage

            if self._codec is None:
                self._codec = chain.load_codec_model(self.codec_weights)
            return CodecStage(self._codec, fast=True)
        if kind == "vocoder":
            from engine.models.vocos_stage import VocosStage

            if self._vocoder is None:
                self._vocoder = chain.load_vocoder_model(self.vocoder_weights)
            return VocosStage(self._vocoder, chunk, precision=chain.DEFAULT_PRECISION)
        raise ValueError(f"unknown stage kind '{kind}'; choose one of {STAGE_KINDS}")
