"""The live signal path, block by block, without any I/O (testable offline).

    input (device rate, mono) -> input gain -> dry history
                              -> down-sample to 16 kHz -> wet nodes (codec, vocoder, opus, ...)
    heard tap (+ crossfade from the previous one) -> output gain / mute -> limiter

Only the nodes of the taps in the A/B slots (after bypasses) run. Every tap
is read at the same *aligned latency* (the delay of the slowest tap in the
two slots), so A/B comparisons are time-aligned and switching only
crossfades (equal power) between aligned signals. A switch to a tap whose node is not running
yet (cold start after a bypass change, a new chunk size or new weights)
waits until that node's output is warm, then fades. Settings arrive as an
immutable :class:`MixSettings`; changes apply at the next block boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.classic.reference_stages import is_reference_vocoder
from engine.dsp.mix import Crossfade, GainRamp, LevelTracker, Limiter, db_to_gain, match_gain
from engine.dsp.resample import make_resampler
from engine.live.nodes import PAD, DryNode, WetNode
from engine.live.taps import (
    STAGE_KINDS,
    TAPS,
    StageSet,
    check_tap,
    effective_tap,
    tap_stages,
)
from engine.stage import SAMPLE_RATE

SLOTS = ("A", "B")


@dataclass(frozen=True)
class MixSettings:
    """What the listener chose; the engine swaps in a new instance per change.

    Slots hold any tap (see :mod:`engine.live.taps`), stored by canonical name.
    """

    slot_a: str = "dry"
    slot_b: str = "codec+vocoder"
    selected: str = "B"
    bypass: frozenset[str] = field(default_factory=frozenset)
    master_bypass: bool = False
    input_gain_db: float = 0.0
    output_gain_db: float = 0.0
    mute: bool = False
    loudness_match: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "slot_a", check_tap(self.slot_a))
        object.__setattr__(self, "slot_b", check_tap(self.slot_b))
        if self.selected not in SLOTS:
            raise ValueError(f"selected must be one of {SLOTS}, got {self.selected!r}")
        unknown = set(self.bypass) - set(STAGE_KINDS)
        if unknown:
            raise ValueError(f"cannot bypass unknown stage(s) {sorted(unknown)}")
        for name in ("input_gain_db", "output_gain_db"):
            value = getattr(self, name)
            if not -60.0 <= value <= 24.0:
                raise ValueError(f"{name} must be within -60..24 dB, got {value}")


@dataclass
class Source:
    """A node read at a fixed offset (samples behind its newest output)."""

    node: DryNode | WetNode
    offset: int
    gain: GainRamp

    @property
    def key(self) -> tuple[str, int]:
        """Identity: the same node at the same offset is the same signal."""
        return (self.node.key, self.offset)


class Processor:
    """Runs taps, mixer, gains and limiter on mono blocks at ``rate``."""

    def __init__(
        self,
        rate: int,
        chain: str,
        settings: MixSettings | None = None,
        *,
        max_block: int = 8192,
        crossfade_ms: float = 15.0,
        ramp_ms: float = 10.0,
        ceiling_db: float = -1.0,
        quality: str = "fir",
        warm_all: bool = False,
    ) -> None:
        if not 5.0 <= crossfade_ms <= 50.0:
            raise ValueError(f"crossfade_ms must be 5..50, got {crossfade_ms}")
        self.rate = int(rate)
        self.chain = check_tap(chain)
        self.quality = quality
        self.warm_all = warm_all
        self.max_block = int(max_block)
        self._history = int(0.6 * self.rate) + self.max_block
        self.dry = DryNode(self._history)
        # Always running, so that a tap assigned mid-stream starts on a known grid.
        self.down = make_resampler(self.rate, SAMPLE_RATE, quality)
        self.up_delay = make_resampler(SAMPLE_RATE, self.rate, quality).delay
        self._j = 0  # 16 kHz samples produced by the down-sampler
        self.link = None  # engine.link.live.LinkPort: sends the 16 kHz input, feeds the link tap
        self.nodes: dict[str, WetNode] = {}
        self.stage_set: StageSet | None = None
        self.align = 0
        ramp = max(1, int(ramp_ms * 1e-3 * self.rate))
        self._ramp = ramp
        self.in_gain = GainRamp(ramp)
        self.out_gain = GainRamp(ramp)
        self.fade = Crossfade(max(1, int(crossfade_ms * 1e-3 * self.rate)))
        self.limiter = Limiter(db_to_gain(ceiling_db), self.rate)
        self.levels: dict[str, LevelTracker] = {"dry": LevelTracker(self.rate)}
        self.settings = settings or MixSettings(slot_b=self.chain)
        self.heard = Source(self.dry, 0, GainRamp(ramp))
        self.fading_from: Source | None = None
        self.pending: Source | None = None
        self._capture: tuple[np.ndarray, np.ndarray] | None = None
        self._captured = 0
        self._probe: np.ndarray | None = None
        self._probe_pos = 0
        self.apply(self.settings)

    # -- control ---------------------------------------------------------------
    def apply(self, settings: MixSettings) -> None:
        """Adopt new settings; taps switch (crossfaded) from the next block on."""
        self.settings = settings
        self.in_gain.set(db_to_gain(settings.input_gain_db))
        self.out_gain.set(0.0 if settings.mute else db_to_gain(settings.output_gain_db))
        if self.stage_set is not None:
            self.align = self._aligned_latency(self.stage_set)
        self._retarget()

    def install(self, stage_set: StageSet, immediate: bool = False) -> None:
        """Adopt a new generation of stages.

        Mid-stream the switch is crossfaded once the new nodes are warm;
        ``immediate`` (before the first block) switches at once.
        """
        self.stage_set = stage_set
        self.align = self._aligned_latency(stage_set)
        self._retarget()
        if immediate and self.pending is not None:
            self.heard, self.pending = self.pending, None
            self._update_nodes()

    def heard_tap(self) -> str:
        """The tap now reaching the output (after any fade)."""
        return self.heard.node.tap

    def wanted_tap(self) -> str | None:
        """The tap the settings ask for, given bypasses; None while its stages are built."""
        s = self.settings
        if s.master_bypass:
            return "dry"
        tap = s.slot_a if s.selected == "A" else s.slot_b
        return self._reachable(tap, s.bypass)

    def _reachable(self, tap: str, bypass) -> str | None:
        """``tap`` after bypasses; dry without stages, None if not built (yet)."""
        tap = effective_tap(tap, bypass)
        if tap == "dry" or self.stage_set is None:
            return "dry"
        return tap if tap in self.stage_set.stages else None

    def slot_taps(self) -> tuple[str, str]:
        """What slots A and B hold (canonical tap names)."""
        return self.settings.slot_a, self.settings.slot_b

    # -- latency -----------------------------------------------------------------
    def tap_delay(self, stage_set: StageSet, tap: str) -> float:
        """Device-rate delay of a tap's node (before alignment)."""
        if tap == "dry":
            return 0.0
        ratio = self.rate / SAMPLE_RATE
        path = stage_set.path_latency(tap)
        return PAD + self.up_delay + (path + self.down.delay) * ratio

    def slowest_tap(self, stage_set: StageSet | None = None) -> str:
        """The slot tap with the largest latency (built ones; bypasses do not count)."""
        stage_set = stage_set or self.stage_set
        built = [t for t in self.slot_taps() if stage_set is not None and t in stage_set.stages]
        return max(built, key=lambda t: self.tap_delay(stage_set, t), default="dry")

    def _aligned_latency(self, stage_set: StageSet) -> int:
        """The slowest slot tap's delay: every tap is read at it, whatever is bypassed."""
        tap = self.slowest_tap(stage_set)
        if tap == "dry":
            return 0
        slack = 0.0 if self.rate % SAMPLE_RATE == 0 else 0.5
        return int(math.ceil(self.tap_delay(stage_set, tap) + slack - 1e-9))

    # -- processing ------------------------------------------------------------------
    def process(self, x: np.ndarray) -> np.ndarray:
        """One block: ``(n,)`` input samples -> ``(n,)`` output samples."""
        n = x.shape[0]
        if n > self.max_block:
            raise ValueError(f"block of {n} exceeds max_block {self.max_block}")
        x = np.array(x, dtype=np.float32, copy=True).reshape(-1)
        self._record(0, x)
        if self._probe is not None:
            self._substitute(x)
        self.in_gain.apply(x)
        self.dry.run(x)
        self.levels["dry"].update(x)
        x16 = self.down.process(x)
        self._j += x16.shape[0]
        if self.link is not None:  # before the nodes: the link tap reads what it plays
            self.link.feed(x16)
        outs: dict[str, np.ndarray] = {}
        for node in list(self.nodes.values()):
            feed = x16 if node.parent is None else outs[node.parent.key]
            outs[node.key] = node.run(feed, n)
            self.levels.setdefault(node.key, LevelTracker(self.rate)).update(
                node.history.read(n, 0)
            )
        out = self._mix(n)
        self.out_gain.apply(out)
        self.limiter.process(out)
        self._record(1, out)
        self._advance()
        return out

    def _mix(self, n: int) -> np.ndarray:
        heard = self._read(self.heard, n)
        if self.fading_from is None or not self.fade.active:
            return heard
        old = self._read(self.fading_from, n)
        return self.fade.mix(old, heard, np.empty(n, np.float32))

    def _read(self, source: Source, n: int) -> np.ndarray:
        y = source.node.history.read(n, source.offset)
        if self.settings.loudness_match and source.node.key != "dry":
            source.gain.set(match_gain(self.levels["dry"], self.levels[source.node.key]))
        else:
            source.gain.set(1.0)
        return source.gain.apply(y)

    # -- switching ---------------------------------------------------------------------
    def _retarget(self) -> None:
        tap = self.wanted_tap()
        if tap is None:  # its stages are being built: keep playing what plays
            self.pending = None
            self._update_nodes()
            return
        desired = self._source_for(tap)
        if desired.key == self.heard.key:
            self.pending = None
        elif self.pending is None or self.pending.key != desired.key:
            self.pending = desired
        self._update_nodes()

    def _advance(self) -> None:
        if self.fading_from is not None and not self.fade.active:
            self.fading_from = None
            self._update_nodes()
        if self.pending is not None and not self.fade.active and self._warm(self.pending):
            self.fading_from, self.heard, self.pending = self.heard, self.pending, None
            self.fade.start()
            self._update_nodes()

    def _warm(self, source: Source) -> bool:
        return self.dry.history.total - source.offset >= source.node.valid_from

    def _source_for(self, tap: str) -> Source:
        node = self.dry if tap == "dry" else self._node(tap)
        offset = self.align - int(round(node.delay))
        if self.heard.key == (node.key, offset):
            return self.heard
        if self.pending is not None and self.pending.key == (node.key, offset):
            return self.pending
        return Source(node, offset, GainRamp(self._ramp))

    def _node(self, tap: str) -> WetNode:
        assert self.stage_set is not None
        key = f"{tap}@{self.stage_set.generation}"
        node = self.nodes.get(key)
        if node is None:
            feeder = self.stage_set.feeder(tap)
            parent = self._node(feeder) if feeder else None
            node = WetNode(
                key,
                tap,
                self.stage_set.stages[tap],
                parent,
                self.rate,
                self._history,
                self.quality,
                self.down.delay,
                started=self.dry.history.total,
                j0=self._j,
            )
            self.nodes[key] = node
        return node

    def _update_nodes(self) -> None:
        """Start the nodes that may be heard soon, drop those that cannot."""
        keep: set[str] = set()
        for source in (self.heard, self.fading_from, self.pending):
            if source is not None:
                keep.add(source.node.key)
        if self.stage_set is not None:
            s = self.settings
            wanted = {self._reachable(t, s.bypass) for t in (s.slot_a, s.slot_b)}
            if self.warm_all:
                wanted |= set(self.stage_set.stages)
            for tap in wanted - {"dry", None}:
                keep.add(self._node(tap).key)
        closure = set(keep)
        for key in keep:
            node = self.nodes.get(key)
            while node is not None:
                closure.add(node.key)
                node = node.parent
        for key in [k for k in self.nodes if k not in closure]:
            del self.nodes[key]
            self.levels.pop(key, None)

    # -- capture and probe (diagnostics, latency measurement, tests) -----------------------
    def inject(self, probe: np.ndarray) -> None:
        """From the next block, replace the input by ``probe`` (then input again)."""
        self._probe = np.asarray(probe, dtype=np.float32).reshape(-1)
        self._probe_pos = 0

    def _substitute(self, x: np.ndarray) -> None:
        take = min(x.shape[0], self._probe.shape[0] - self._probe_pos)
        x[:take] = self._probe[self._probe_pos : self._probe_pos + take]
        self._probe_pos += take
        if self._probe_pos >= self._probe.shape[0]:
            self._probe = None

    def arm_capture(self, samples: int) -> None:
        """Record the next ``samples`` of raw input and final output."""
        self._capture = (np.zeros(samples, np.float32), np.zeros(samples, np.float32))
        self._captured = 0

    def capture(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(input, output)`` once the armed capture is complete, else None."""
        if self._capture is None or self._captured < self._capture[0].shape[0]:
            return None
        return self._capture

    def _record(self, which: int, x: np.ndarray) -> None:
        if self._capture is None:
            return
        buf = self._capture[which]
        start = self._captured
        take = max(0, min(x.shape[0], buf.shape[0] - start))
        buf[start : start + take] = x[:take]
        if which == 1:
            self._captured += take

    # -- reporting -------------------------------------------------------------------------
    def stage_latency_ms(self) -> dict[str, float]:
        """Stage latencies of the slowest slot tap (the one setting the alignment), in ms.

        ``"codec"`` is its codec stage, ours or a reference one; ``"vocoder"`` its vocoder,
        ours or the classical ``pghi``.
        """
        out: dict[str, float] = {}
        if self.stage_set is None:
            return out
        ms = 1000.0 / SAMPLE_RATE
        for tap in self.stage_set.path(self.slowest_tap()):
            stage = self.stage_set.stages[tap]
            last = tap_stages(tap)[-1]
            kind = "vocoder" if last == "vocoder" or is_reference_vocoder(last) else "codec"
            out[kind] = ms * stage.latency
            if stage.whole_path:  # fused: the vocoder adds what is left
                out["codec"] = ms * stage.first.latency
                out["vocoder"] = ms * (stage.latency - stage.first.latency)
        return out

    def resampler_latency_ms(self) -> float:
        """Down + up resampler delay plus alignment padding, in ms."""
        ratio = self.rate / SAMPLE_RATE
        return 1000.0 * (PAD + self.up_delay + self.down.delay * ratio) / self.rate

    def take_step_times(self) -> list[tuple[str, float]]:
        """``(label, seconds)`` of each stage step run since the last call.

        A fused stage (a codec feeding the vocoder) times each of its parts.
        """
        labels = self.node_labels()
        out = []
        for key, node in self.nodes.items():
            if node.stage.whole_path:  # fused: time each part
                for part, seconds in node.stage.take_step_seconds().items():
                    out.append((labels[f"{key}/{part}"], seconds))
                node.step_seconds = None
            elif node.step_seconds is not None:
                out.append((labels[key], node.step_seconds))
                node.step_seconds = None
        if self.link is not None and self.link.step_seconds is not None:  # its ends' coding
            out.append(("link", self.link.step_seconds))
            self.link.step_seconds = None
        return out

    def node_labels(self) -> dict[str, str]:
        """Readable stage label of each running node (for timings)."""
        vocoders = sum(node.kind == "vocoder" for node in self.nodes.values())
        out = {}
        for key, node in self.nodes.items():
            label = node.kind
            if node.kind == "vocoder" and node.parent is None and vocoders > 1:
                label = "vocoder (dry tap)"
            elif node.kind == "vocoder" and node.parent is not None and node.parent.kind != "codec":
                label = f"vocoder after {node.parent.kind}"
            out[key] = label
            if node.stage.whole_path:  # fused stages: one label per part
                first = node.stage.first.name
                out[f"{key}/first"] = first
                out[f"{key}/second"] = "vocoder" if first == "codec" else f"vocoder after {first}"
        return out


__all__ = ["MixSettings", "Processor", "SLOTS", "TAPS"]
