"""Stage supply: which stage set plays, which one is being built, which taps cannot be built.

The engine asks for stages in three ways, and this is the one place that
knows how each is answered:

* a new *generation* (chunk change, new weights): built off the audio path
  by the :class:`~engine.live.builder.StageBuilder` while the old one plays,
  installed once built; with new weights, the new factory is adopted only
  once it has built a working set (a failure is reported, the old stages
  play on);
* an *extension* of the playing generation (a tap newly assigned to a slot):
  only its stages are built and merged in, the taps already running are left
  alone;
* the stages for a stream about to open, built at once (the stream waits).

Engine thread only. It reports through two callbacks: ``install`` (a set to
hand to the processor) and ``report`` (a build failure, for the snapshot).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from engine.live import control as cmd
from engine.live.builder import StageBuilder
from engine.live.taps import ModelStageFactory, StageFactory, StageSet, needed_taps
from engine.stage import HopStage


class StageSupply:
    """The playing stage set and the builds on their way."""

    def __init__(
        self,
        factory: StageFactory | None,
        codec_weights: str | None,
        vocoder_weights: str | None,
        install: Callable[[StageSet], None],
        report: Callable[[str], None],
        build_timeout_s: float,
        extra: dict[str, Callable[[int], HopStage]] | None = None,
    ) -> None:
        self.own_factory = factory is None
        self._extra = dict(extra or {})  # stage kinds the engine makes itself (the link tap)
        self.factory = factory or ModelStageFactory(codec_weights, vocoder_weights)
        self.stage_set: StageSet | None = None
        self._install_cb, self._report = install, report
        self._build_timeout_s = build_timeout_s
        self._builder = StageBuilder()
        self._generation = 0  # the generation being built or installed
        self._tickets = itertools.count(1)  # build requests: generations and extensions
        self._extensions: dict[int, tuple[int, frozenset[str]]] = {}  # ticket -> (base gen, taps)
        self._extending: set[str] = set()  # taps requested for the installed generation
        self._unbuildable: dict[str, str] = {}  # tap -> why its stages failed to build
        self._building = False  # a whole generation is being built while running
        self._candidate: StageFactory | None = None

    def close(self) -> None:
        """End the builder thread."""
        self._builder.close()

    def forget_failures(self) -> None:
        """Try every tap again (a new Start)."""
        self._unbuildable.clear()

    # -- requests ------------------------------------------------------------------------------
    def rebuild(
        self, slots: tuple[str, str], chunk: int, live: bool, factory: StageFactory | None = None
    ) -> None:
        """New generation for the slots' taps at ``chunk`` (crossfaded in when built).

        ``live``: a stream is running and needs wet stages; otherwise the
        stages are built when the stream (re)opens.
        """
        factory = factory or self.factory
        self._generation = next(self._tickets)
        if live:
            self._candidate = factory
            self._building = True
            self._builder.request(self._generation, slots, chunk, self._with_extra(factory))
        else:
            self.factory = factory
            self.stage_set = None  # built when the stream (re)opens

    def swap(self, c: cmd.SwapWeights, slots: tuple[str, str], chunk: int, live: bool) -> None:
        """New weights: a new generation from a factory over them (an injected factory stays)."""
        factory = None
        if self.own_factory:
            f = self.factory
            factory = ModelStageFactory(c.codec or f.codec_weights, c.vocoder or f.vocoder_weights)
        self.rebuild(slots, chunk, live, factory)

    def extend(self, slots: tuple[str, str], chunk: int, live: bool) -> None:
        """Build the stages of newly assigned taps into the playing generation.

        The taps already running are left alone (no restart, no fade); only
        the new ones start, once built off the audio path.
        """
        if not live:
            return
        s = self.stage_set
        if s is None:
            if not self._building and not set(slots) <= set(self._unbuildable):
                self.rebuild(slots, chunk, live)
            return
        if s.generation != self._generation:
            return  # a whole new generation is on its way; it builds what the slots hold
        have = set(s.stages) | self._extending | set(self._unbuildable)
        missing = frozenset(t for t in needed_taps(slots) if t not in have)
        if missing:
            ticket = next(self._tickets)
            self._extensions[ticket] = (s.generation, missing)
            self._extending |= missing
            self._builder.request(
                ticket, tuple(sorted(missing)), s.chunk, self._with_extra(self.factory)
            )

    def for_stream(self, slots: tuple[str, str], chunk: int, wet: bool) -> StageSet | None:
        """The stages a stream about to open needs, built now if what is there does not fit."""
        if not wet:
            return None
        s = self.stage_set
        needed = set(needed_taps(slots))
        if s is None or s.chunk != chunk or not needed <= set(s.stages):
            self._generation = next(self._tickets)
            s = self._builder.build(
                self._generation, slots, chunk, self._with_extra(self.factory),
                self._build_timeout_s,
            )  # fmt: skip
            self.stage_set = s
            self._extending.clear()
        return s

    def _with_extra(self, factory: StageFactory) -> StageFactory:
        """``factory``, except for the kinds the engine makes itself."""
        if not self._extra:
            return factory
        extra = self._extra

        def build(kind: str, chunk: int) -> HopStage:
            make = extra.get(kind)
            return make(chunk) if make is not None else factory(kind, chunk)

        return build

    # -- results -------------------------------------------------------------------------------
    def collect(self, slots: tuple[str, str], chunk: int, live: bool) -> int | None:
        """Take finished builds; the chunk still playing if a new generation failed, else None."""
        results = self._builder.results()
        if not results:
            return None
        playing_chunk = None
        for ticket, result in results:
            if ticket in self._extensions:
                self._extended(ticket, result)
                continue
            if ticket != self._generation:
                continue
            self._building = False
            if isinstance(result, Exception):
                self._report(f"cannot build the stages: {result}")
                if self.stage_set is None:  # do not retry these until the slots change
                    self._unbuildable.update(dict.fromkeys(slots, str(result)))
                else:
                    playing_chunk = chunk = self.stage_set.chunk  # what still plays
                    self._generation = self.stage_set.generation
                continue
            self.factory = self._candidate or self.factory
            self._install(result)
        self.extend(slots, chunk, live)
        return playing_chunk

    def _install(self, stage_set: StageSet) -> None:
        self.stage_set = stage_set
        self._extending.clear()
        self._unbuildable.clear()
        self._install_cb(stage_set)

    def _extended(self, ticket: int, result) -> None:
        base, taps = self._extensions.pop(ticket)
        s = self.stage_set
        if s is None or s.generation != base:
            return  # superseded by a new generation
        self._extending -= taps
        if isinstance(result, Exception):
            self._unbuildable.update(dict.fromkeys(taps, str(result)))
            self._report(f"cannot build tap {', '.join(sorted(taps))}: {result}")
            return
        merged = s.merged(result)
        self.stage_set = merged
        self._install_cb(merged)
