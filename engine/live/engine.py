"""The engine thread: owns the stages, runs the live chain, talks through two channels.

    front end --send(command)--> queue --> engine thread --> Processor
    front end <--snapshot()----- latest Snapshot <-- engine thread

The thread lives as long as the :class:`Engine`; streams come and go with
``Start``/``Stop``. Audio I/O happens in an :class:`AudioHost` process; this
thread waits for its wake-up, drains the input ring, processes, fills the
output ring. Any failure (device gone, audio server killed, rate refused,
no input device, bad weights) becomes ``state="error"`` plus a message in
the snapshot; with ``auto_restart`` the last ``Start`` is retried every
``retry_s`` seconds until it works again.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from engine.audio import shm
from engine.audio.errors import AudioError
from engine.audio.host import AudioHost
from engine.audio.stream import StreamInfo
from engine.chain import DEFAULT_CHUNK
from engine.live import control as cmd
from engine.live.builder import StageBuilder
from engine.live.latency import latency_breakdown
from engine.live.meters import (
    LevelMeter,
    LoadMeter,
    Snapshot,
    StepTimer,
    WaveBuffer,
    Xruns,
)
from engine.live.processor import MixSettings, Processor
from engine.live.taps import ModelStageFactory, StageFactory, StageSet, check_tap, needed_taps
from engine.live.token_meter import token_stats


@dataclass(frozen=True)
class EngineOptions:
    """Engine-wide choices that do not change while running."""

    crossfade_ms: float = 15.0
    ceiling_db: float = -1.0
    quality: str = "fir"  # resampler, see engine.dsp.resample
    warm_all: bool = False  # run every tap all the time (instant switches, more CPU)
    auto_restart: bool = True
    retry_s: float = 1.0
    stall_s: float = 0.5  # no callback for this long while running: the stream is dead
    first_callback_s: float = 5.0  # ... or before the very first callback
    auto_margin_floor_ms: float = 5.0
    auto_margin_ceiling_ms: float = 80.0
    max_margin_ms: float = 150.0  # adaptive growth stops here
    jack_client_name: str | None = "streamvox"
    wave_seconds: float = 2.0
    wave_points: int = 1000
    publish_hz: float = 60.0
    max_block: int = 8192
    build_timeout_s: float = 120.0
    # Python hands the GIL over every 5 ms by default: too long for a thread
    # with a 10 ms budget that shares the process with others. Process-wide.
    switch_interval_s: float | None = 0.001
    # One torch thread: steady step times, and the cores stay free for the
    # audio host and the GUI. Process-wide; None leaves torch alone.
    torch_threads: int | None = 1
    # Python's full (generation 2) garbage collection walks every object of
    # the process with the GIL held: measured up to 99 ms with torch and the
    # CLI loaded, i.e. ~30 blocks of silence at block 128. At each stream
    # start the engine collects once and freezes what exists (the models, the
    # libraries), so later collections only walk what is new. Process-wide.
    freeze_gc: bool = True


class Engine:
    """Live chain on a thread of its own. Thread-safe: ``send``, ``snapshot``, ``close``."""

    def __init__(
        self,
        factory: StageFactory | None = None,
        options: EngineOptions | None = None,
        codec_weights: str | None = None,
        vocoder_weights: str | None = None,
    ) -> None:
        self.options = options or EngineOptions()
        if self.options.switch_interval_s is not None:
            sys.setswitchinterval(self.options.switch_interval_s)
        if self.options.torch_threads is not None:
            import torch

            torch.set_num_threads(self.options.torch_threads)
        self._own_factory = factory is None
        self._factory = factory or ModelStageFactory(codec_weights, vocoder_weights)
        self._queue: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._snapshot = Snapshot()
        self._builder = StageBuilder()
        # engine-thread state
        self._state = "stopped"
        self._error: str | None = None
        self._start: cmd.Start | None = None
        self._chunk = DEFAULT_CHUNK
        self._settings = MixSettings()
        self._stage_set: StageSet | None = None
        self._generation = 0  # the generation being built or installed
        self._tickets = itertools.count(1)  # build requests: generations and extensions
        self._extensions: dict[int, tuple[int, frozenset[str]]] = {}  # ticket -> (base gen, taps)
        self._extending: set[str] = set()  # taps requested for the installed generation
        self._unbuildable: dict[str, str] = {}  # tap -> why its stages failed to build
        self._assigned: set[str] = set()  # slots given a tap explicitly (AssignTap)
        self._building = False  # a whole generation is being built while running
        self._candidate: StageFactory | None = None
        self._host: AudioHost | None = None
        self._proc: Processor | None = None
        self._info: StreamInfo | None = None
        self._retry_at = 0.0
        self._restarts = 0
        self._cb_seen = 0
        self._measured_ms: float | None = None
        self._pending: tuple[str, object] | None = None  # ("capture" | "measure", extra)
        self._early_capture = 0.0
        self._xrun_base = Xruns()
        self._last_publish = 0.0
        self._reset_meters(48000)
        self._alive = True
        self._thread = threading.Thread(target=self._run, name="streamvox-engine", daemon=True)
        self._thread.start()

    # -- front-end API (any thread) ------------------------------------------------------------
    def send(self, command: cmd.Command) -> None:
        """Queue a command; it is applied at the next block boundary."""
        self._queue.put(command)

    def snapshot(self) -> Snapshot:
        """The latest metrics (never blocks)."""
        return self._snapshot

    def capture(self, seconds: float, timeout: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
        """Record ``seconds`` of raw input and final output (blocks the caller only).

        Sent while stopped, the capture starts with the next stream's first block.
        """
        self.send(cmd.Capture(seconds))
        return self.capture_result(timeout)

    def capture_result(self, timeout: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
        """Wait for the capture armed by a ``Capture`` command."""
        return self._wait_result("capture", timeout)

    def measure(self, probe: np.ndarray, seconds: float = 1.0, timeout: float = 30.0):
        """Loopback: feed ``probe`` into the chain, return ``(delay_frames, recording)``."""
        self.send(cmd.Measure(probe, seconds))
        return self._wait_result("measure", timeout)

    def _wait_result(self, kind: str, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            try:
                got, value = self._results.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty as exc:
                raise TimeoutError(f"{kind} did not finish within {timeout:g} s") from exc
            if got == kind:
                if isinstance(value, Exception):
                    raise value
                return value

    def close(self, timeout: float = 5.0) -> None:
        """Stop streaming and end the thread."""
        self._queue.put(None)
        self._thread.join(timeout)
        self._builder.close()

    # -- engine thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        while self._alive:
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - the engine must outlive any bug
                traceback.print_exc(file=sys.stderr)
                self._fail(f"internal error: {type(exc).__name__}: {exc}")
        self._close_stream()

    def _step(self) -> None:
        if self._state == "running":
            self._drain_commands()
            self._collect_builds()
            if self._state == "running":
                self._pump()
        else:
            try:
                self._handle(self._queue.get(timeout=0.05))
            except queue.Empty:
                pass
            self._drain_commands()
            self._collect_builds()
            if self._state == "error" and self._start is not None and self.options.auto_restart:
                if time.monotonic() >= self._retry_at:
                    self._restarts += 1
                    self._open_stream(retry=True)
        self._publish()

    def _drain_commands(self) -> None:
        while self._alive:
            try:
                self._handle(self._queue.get_nowait())
            except queue.Empty:
                return

    def _handle(self, c) -> None:
        if c is None:
            self._alive = False
        elif isinstance(c, cmd.Start):
            self._start, self._chunk = c, c.chunk
            if "B" not in self._assigned:  # the chain started is what B holds
                self._settings = dataclasses.replace(self._settings, slot_b=check_tap(c.chain))
            self._unbuildable.clear()
            self._close_stream()
            self._open_stream()
        elif isinstance(c, cmd.Stop):
            self._start = None
            self._close_stream()
            self._state, self._error = "stopped", None
        elif isinstance(c, cmd.SetChunk):
            self._chunk = c.chunk
            self._rebuild()
        elif isinstance(c, cmd.SwapWeights):
            self._swap(c)
        elif isinstance(c, cmd.Capture | cmd.Measure):
            self._arm(c)
        else:
            self._apply(self._settings_after(c))
            self._extend()

    def _settings_after(self, c) -> MixSettings:
        s = self._settings
        if isinstance(c, cmd.SelectSlot):
            return dataclasses.replace(s, selected=c.slot)
        if isinstance(c, cmd.AssignTap):
            self._assigned.add(c.slot)
            key = "slot_a" if c.slot == "A" else "slot_b"
            return dataclasses.replace(s, **{key: c.tap})
        if isinstance(c, cmd.SetBypass):
            bypass = s.bypass | {c.stage} if c.on else s.bypass - {c.stage}
            return dataclasses.replace(s, bypass=frozenset(bypass))
        if isinstance(c, cmd.SetMasterBypass):
            return dataclasses.replace(s, master_bypass=c.on)
        if isinstance(c, cmd.SetGain):
            key = "input_gain_db" if c.which == "input" else "output_gain_db"
            return dataclasses.replace(s, **{key: c.db})
        if isinstance(c, cmd.SetMute):
            return dataclasses.replace(s, mute=c.on)
        if isinstance(c, cmd.SetLoudnessMatch):
            return dataclasses.replace(s, loudness_match=c.on)
        raise ValueError(f"unknown command {c!r}")

    def _apply(self, settings: MixSettings) -> None:
        self._settings = settings
        if self._proc is not None:
            self._proc.apply(settings)

    # -- stages ------------------------------------------------------------------------------------
    def _slot_taps(self) -> tuple[str, str]:
        return self._settings.slot_a, self._settings.slot_b

    def _wet(self) -> bool:
        return self._start is not None and bool(needed_taps(self._slot_taps()))

    def _rebuild(self, factory: StageFactory | None = None) -> None:
        """New generation for the slots' taps at the current chunk (crossfaded in when built).

        While running, ``factory`` (new weights) is only adopted once it has
        built a working set; a failure is reported and the old stages play on.
        """
        factory = factory or self._factory
        self._generation = next(self._tickets)
        if self._state == "running" and self._wet():
            self._candidate = factory
            self._building = True
            self._builder.request(self._generation, self._slot_taps(), self._chunk, factory)
        else:
            self._factory = factory
            self._stage_set = None  # built when the stream (re)opens

    def _swap(self, c: cmd.SwapWeights) -> None:
        factory = None
        if self._own_factory:
            f = self._factory
            factory = ModelStageFactory(c.codec or f.codec_weights, c.vocoder or f.vocoder_weights)
        self._rebuild(factory)

    def _collect_builds(self) -> None:
        results = self._builder.results()
        if not results:
            return
        for ticket, result in results:
            if ticket in self._extensions:
                self._extended(ticket, result)
                continue
            if ticket != self._generation:
                continue
            self._building = False
            if isinstance(result, Exception):
                self._error = f"cannot build the stages: {result}"
                if self._stage_set is None:  # do not retry these until the slots change
                    self._unbuildable.update(dict.fromkeys(self._slot_taps(), str(result)))
                else:
                    self._chunk = self._stage_set.chunk  # what still plays
                    self._generation = self._stage_set.generation
                continue
            self._factory = self._candidate or self._factory
            self._install(result)
        self._extend()

    def _install(self, stage_set: StageSet) -> None:
        self._stage_set = stage_set
        self._extending.clear()
        self._unbuildable.clear()
        if self._proc is not None:
            self._proc.install(stage_set)

    def _extend(self) -> None:
        """Build the stages of newly assigned taps into the playing generation.

        The taps already running are left alone (no restart, no fade); only
        the new ones start, once built off the audio path.
        """
        if self._state != "running" or not self._wet():
            return
        s = self._stage_set
        if s is None:
            if not self._building and not set(self._slot_taps()) <= set(self._unbuildable):
                self._rebuild()
            return
        if s.generation != self._generation:
            return  # a whole new generation is on its way; it builds what the slots hold
        have = set(s.stages) | self._extending | set(self._unbuildable)
        missing = frozenset(t for t in needed_taps(self._slot_taps()) if t not in have)
        if missing:
            ticket = next(self._tickets)
            self._extensions[ticket] = (s.generation, missing)
            self._extending |= missing
            self._builder.request(ticket, tuple(sorted(missing)), s.chunk, self._factory)

    def _extended(self, ticket: int, result) -> None:
        base, taps = self._extensions.pop(ticket)
        s = self._stage_set
        if s is None or s.generation != base:
            return  # superseded by a new generation
        self._extending -= taps
        if isinstance(result, Exception):
            self._unbuildable.update(dict.fromkeys(taps, str(result)))
            self._error = f"cannot build tap {', '.join(sorted(taps))}: {result}"
            return
        merged = s.merged(result)
        self._stage_set = merged
        if self._proc is not None:
            self._proc.install(merged)

    def _current_stage_set(self) -> StageSet | None:
        if not self._wet():
            return None
        s = self._stage_set
        needed = set(needed_taps(self._slot_taps()))
        if s is None or s.chunk != self._chunk or not needed <= set(s.stages):
            self._generation = next(self._tickets)
            s = self._builder.build(
                self._generation,
                self._slot_taps(),
                self._chunk,
                self._factory,
                self.options.build_timeout_s,
            )
            self._stage_set = s
            self._extending.clear()
        return s

    # -- stream ------------------------------------------------------------------------------------
    def _open_stream(self, retry: bool = False) -> None:
        """Open devices and processor; a retry keeps showing the error until it works."""
        start = self._start
        if not retry:
            self._state = "starting"
            self._publish(force=True)
        host = None
        try:
            stage_set = self._current_stage_set()
            host = AudioHost(start.stream, self.options.jack_client_name)
            info = host.open()
            o = self.options
            proc = Processor(
                info.rate,
                start.chain,
                self._settings,
                max_block=o.max_block,
                crossfade_ms=o.crossfade_ms,
                ceiling_db=o.ceiling_db,
                quality=o.quality,
                warm_all=o.warm_all,
            )
            if stage_set is not None:
                proc.install(stage_set, immediate=True)
            if self._early_capture:
                proc.arm_capture(int(self._early_capture * info.rate))
                self._pending, self._early_capture = ("capture", None), 0.0
            self._reset_meters(info.rate)
            if self.options.freeze_gc:
                gc.collect()
                gc.freeze()
            host.go(self._margin_ms(start, stage_set))
        except Exception as exc:  # noqa: BLE001 - reported in the snapshot
            if host is not None:
                host.stop()
            self._fail(str(exc) if isinstance(exc, AudioError) else f"{type(exc).__name__}: {exc}")
            return
        self._host, self._proc, self._info = host, proc, info
        self._state, self._error = "running", None
        self._cb_seen, self._cb_time = 0, time.monotonic()
        self._lost_seen = 0
        self._under_seen = 0
        self._drift_dropped = 0
        self._skew_settled = False

    def _margin_ms(self, start: cmd.Start, stage_set: StageSet | None) -> float:
        """The fixed margin asked for, or one sized from the stages' step time.

        Worst case, every stage on the slowest tap runs a step within one
        block; three times that, plus scheduling slack, covers the spread
        seen on a busy machine.
        """
        if start.margin_ms is not None:
            return start.margin_ms
        o = self.options
        worst = max((stage_set.path_step_ms(t) for t in stage_set.stages), default=0.0) if (
            stage_set is not None) else 0.0  # fmt: skip
        return min(o.auto_margin_ceiling_ms, max(o.auto_margin_floor_ms, 3.0 * worst + 3.0))

    def _adapt_margin(self, host: AudioHost) -> None:
        """After an output underrun, give the engine one more block (or 5 ms) of margin."""
        under = host.shared.out_ring.underruns
        if under == self._under_seen:
            return
        self._under_seen = under
        info = self._info
        limit = info.block + int(self.options.max_margin_ms * 1e-3 * info.rate)
        step = min(max(info.block, int(0.005 * info.rate)), limit - host.prefill)
        if self._start.adaptive and step > 0:
            host.grow(step)

    def _close_stream(self) -> None:
        host = self._host
        if host is not None:
            self._xrun_base = self._xruns()
            host.stop()
        self._host, self._proc = None, None
        if self._pending is not None:
            self._results.put((self._pending[0], AudioError("the stream stopped")))
            self._pending = None

    def _fail(self, message: str) -> None:
        self._close_stream()
        self._state, self._error = "error", message
        self._retry_at = time.monotonic() + self.options.retry_s

    def _pump(self) -> None:
        host, proc = self._host, self._proc
        host.wait(0.02)
        failure = host.failure() or self._stalled(host)
        if failure:
            self._fail(failure)
            return
        in_ring, out_ring = host.shared.in_ring, host.shared.out_ring
        if not self._skew_settled:
            self._skew_settled = host.settle_skew()
        self._adapt_margin(host)
        lost = in_ring.overrun_frames - self._lost_seen
        if lost:  # keep input and output indices in step
            out_ring.write_silence(lost)
            self._lost_seen += lost
        while True:
            n = in_ring.read(self._inbuf)
            if n == 0:
                return
            x = self._inbuf[:n]
            t0 = time.perf_counter()
            y = proc.process(x)
            busy = time.perf_counter() - t0
            out_ring.write(self._drift_trim(host, out_ring, y))
            self._account(x, y, busy)

    def _drift_trim(self, host: AudioHost, out_ring, y: np.ndarray) -> np.ndarray:
        """Two streams on two clocks: drop what would push the output past its margin.

        (An output clock faster than the input one needs nothing: the ring
        then runs short now and then, plays silence and stays on time.)
        """
        if self._info.duplex:
            return y
        excess = out_ring.fill() + y.shape[0] - (host.prefill + 2 * self._info.block)
        if excess <= 0:
            return y
        self._drift_dropped += min(excess, y.shape[0])
        return y[min(excess, y.shape[0]) :]

    def _stalled(self, host: AudioHost) -> str | None:
        count, now = host.counter(shm.CALLBACKS), time.monotonic()
        if count != self._cb_seen:
            self._cb_seen, self._cb_time = count, now
            return None
        limit = self.options.stall_s if count else self.options.first_callback_s
        if now - self._cb_time > limit:
            return (
                f"no audio callbacks for {now - self._cb_time:.1f} s: "
                "device disconnected or audio server gone"
            )
        return None

    # -- metrics -----------------------------------------------------------------------------------
    def _reset_meters(self, rate: int) -> None:
        o = self.options
        self._inbuf = np.zeros(o.max_block, np.float32)
        self._meter_in, self._meter_out = LevelMeter(), LevelMeter()
        decim = int(o.wave_seconds * rate / o.wave_points)
        self._wave_in = WaveBuffer(o.wave_points, decim)
        self._wave_out = WaveBuffer(o.wave_points, decim)
        self._load = LoadMeter(rate)
        self._timers: dict[str, StepTimer] = {"engine block": StepTimer()}
        self._frames = 0

    def _account(self, x: np.ndarray, y: np.ndarray, busy: float) -> None:
        self._meter_in.add(x)
        self._meter_out.add(y)
        self._wave_in.add(x)
        self._wave_out.add(y)
        self._load.add(busy, x.shape[0])
        self._timers["engine block"].add(busy)
        self._frames += x.shape[0]
        proc = self._proc
        labels = proc.node_labels()
        for key, node in proc.nodes.items():
            if node.stage.whole_path:  # fused: time each part
                for part, seconds in node.stage.take_step_seconds().items():
                    self._timers.setdefault(labels[f"{key}/{part}"], StepTimer()).add(seconds)
                node.step_seconds = None
            elif node.step_seconds is not None:
                self._timers.setdefault(labels[key], StepTimer()).add(node.step_seconds)
                node.step_seconds = None
        if self._pending is not None:
            self._finish_pending()

    def _arm(self, c) -> None:
        if self._proc is None:
            if isinstance(c, cmd.Capture):  # armed for the next stream, from its first block
                self._early_capture = c.seconds
                return
            self._results.put(("measure", AudioError("the engine is not running")))
            return
        samples = int(c.seconds * self._info.rate)
        self._proc.arm_capture(samples)
        if isinstance(c, cmd.Measure):
            self._proc.inject(c.probe)
            self._pending = ("measure", c.probe)
        else:
            self._pending = ("capture", None)

    def _finish_pending(self) -> None:
        got = self._proc.capture()
        if got is None:
            return
        kind, probe = self._pending
        self._pending = None
        if kind == "capture":
            self._results.put(("capture", got))
            return
        from engine.live.loopback import find_delay

        delay, quality = find_delay(probe, got[0])
        if delay is not None:
            self._measured_ms = 1000.0 * delay / self._info.rate
        self._results.put(("measure", (delay, quality, got[0])))

    def _xruns(self) -> Xruns:
        b, host = self._xrun_base, self._host
        if host is None or host.shared is None:
            return b
        return Xruns(
            input_overflow=b.input_overflow + host.counter(shm.IN_OVERFLOW),
            output_underflow=b.output_underflow + host.counter(shm.OUT_UNDERFLOW),
            ring_overrun=b.ring_overrun + host.shared.in_ring.overruns,
            ring_underrun=b.ring_underrun + host.shared.out_ring.underruns,
            ring_underrun_frames=b.ring_underrun_frames + host.shared.out_ring.underrun_frames,
        )

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_publish < 1.0 / self.options.publish_hz:
            return
        self._last_publish = now
        in_peak, in_rms = self._meter_in.take()
        out_peak, out_rms = self._meter_out.take()
        proc, stage_set = self._proc, self._stage_set
        codec = stage_set is not None and "codec" in stage_set.stages
        state = self._state
        if state == "running" and self._cb_seen == 0:
            state = "starting"  # opened, but no callback yet
        self._snapshot = Snapshot(
            time=now,
            state=state,
            error=self._error,
            input_peak_db=in_peak,
            input_rms_db=in_rms,
            output_peak_db=out_peak,
            output_rms_db=out_rms,
            wave_in=self._wave_in.snapshot(),
            wave_out=self._wave_out.snapshot(),
            wave_seconds=self.options.wave_seconds,
            timings={k: t.summary() for k, t in self._timers.items()},
            load=self._load.value,
            xruns=self._xruns(),
            latency=latency_breakdown(self._info, self._host, proc, self._measured_ms),
            codec_bitrate_bps=stage_set.metric("bitrate_bps") if codec else None,
            codec_tokens_per_s=stage_set.metric("tokens_per_second") if codec else None,
            tokens=token_stats(proc),
            limiter_reduction_db=proc.limiter.reduction_db if proc is not None else None,
            heard_tap=proc.heard_tap() if proc is not None else "dry",
            settings=MappingProxyType(self._settings_dict()),
            frames=self._frames,
            restarts=self._restarts,
        )

    def _settings_dict(self) -> dict:
        s, start, info = self._settings, self._start, self._info
        out = {
            "slot_a": s.slot_a,
            "slot_b": s.slot_b,
            "selected": s.selected,
            "bypass": sorted(s.bypass),
            "master_bypass": s.master_bypass,
            "input_gain_db": s.input_gain_db,
            "output_gain_db": s.output_gain_db,
            "mute": s.mute,
            "loudness_match": s.loudness_match,
            "chunk": self._chunk,
            "resampler": self.options.quality,
        }
        if self._stage_set is not None:
            out["generation"] = self._stage_set.generation
            out["vocoder_frame_ms"] = self._stage_set.vocoder_frame_ms()
        if self._proc is not None:  # only these run: the slots' taps after bypasses
            out["taps_running"] = sorted({node.tap for node in self._proc.nodes.values()})
        if isinstance(self._factory, ModelStageFactory):
            out["codec_weights"] = str(self._factory.codec_weights or "bundled")
            out["vocoder_weights"] = str(self._factory.vocoder_weights or "bundled")
        if start is not None:
            out.update(chain=start.chain, block=start.stream.block, adaptive=start.adaptive)
        if info is not None and self._host is not None:
            out["margin_ms"] = 1000.0 * (self._host.ring_latency() - info.block) / info.rate
            out["drift_dropped_frames"] = self._drift_dropped
            out.update(
                rate=info.rate,
                device_block=info.block,  # JACK runs at its own period, whatever was asked
                input_device=info.input_name,
                output_device=info.output_name,
                duplex=info.duplex,
                in_channels=info.in_channels,
                out_channels=info.out_channels,
            )
        return out
