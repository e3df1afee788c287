"""The engine thread: the loop that takes commands, runs the live stream and publishes its state.

    front end --send(command)--> queue --> engine thread --> LiveStream --> Processor
    front end <--snapshot()----- latest Snapshot <-- engine thread

The thread lives as long as the :class:`Engine`; streams come and go with
``Start``/``Stop``. Each job has a helper of its own, all on this thread:

* :class:`~engine.live.supply.StageSupply`: which stage set plays and the
  builds on their way (chunk changes, new weights, newly assigned taps);
* :class:`~engine.live.live_stream.LiveStream`: the audio host process and
  the processor, and the watchdogs of the stream (stalls, margin, skew,
  drift);
* :class:`~engine.live.meters.StreamMeters`: levels, waveforms, load and
  step times, published in an immutable
  :class:`~engine.live.snapshot.Snapshot` with a typed
  :class:`~engine.live.snapshot.Status` (:func:`~engine.live.status.engine_status`);
* :class:`~engine.link.live.LinkPort`: the codec link's two ends
  (``LinkSend``, ``LinkListen``) and what the ``link`` tap plays.

Any failure (device gone, audio server killed, rate refused, no input
device, bad weights) becomes ``state="error"`` plus a message in the
snapshot; with ``auto_restart`` the last ``Start`` is retried every
``retry_s`` seconds until it works again.
"""

from __future__ import annotations

import dataclasses
import gc
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass

import numpy as np

from engine.audio.errors import AudioError
from engine.chain import DEFAULT_CHUNK
from engine.link.live import LinkPort
from engine.live import control as cmd
from engine.live.latency import latency_breakdown
from engine.live.live_stream import LiveStream, StreamOptions
from engine.live.meters import StreamMeters
from engine.live.processor import MixSettings
from engine.live.snapshot import Snapshot, Xruns
from engine.live.status import engine_status
from engine.live.supply import StageSupply
from engine.live.taps import StageFactory, StageSet, check_tap, needed_taps
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

    def stream(self) -> StreamOptions:
        """What a :class:`LiveStream` needs of these."""
        names = {f.name for f in dataclasses.fields(StreamOptions)}
        return StreamOptions(**{k: v for k, v in dataclasses.asdict(self).items() if k in names})


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
        self._queue: queue.Queue = queue.Queue()
        self._results: queue.Queue = queue.Queue()
        self._snapshot = Snapshot()
        # engine-thread state
        self._link = LinkPort(lambda: getattr(self._supply.factory, "codec_weights", None))
        self._supply = StageSupply(
            factory,
            codec_weights,
            vocoder_weights,
            install=self._install,
            report=self._report,
            build_timeout_s=self.options.build_timeout_s,
            extra=self._link.stage_makers(),
        )
        self._state = "stopped"
        self._error: str | None = None
        self._start: cmd.Start | None = None
        self._chunk = DEFAULT_CHUNK
        self._settings = MixSettings()
        self._assigned: set[str] = set()  # slots given a tap explicitly (AssignTap)
        self._stream: LiveStream | None = None
        self._retry_at = 0.0
        self._restarts = 0
        self._measured_ms: float | None = None
        self._pending: tuple[str, object] | None = None  # ("capture" | "measure", extra)
        self._early_capture = 0.0
        self._xrun_base = Xruns()
        self._last_publish = 0.0
        self._meters = self._new_meters(48000)
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
        self._supply.close()

    # -- engine thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        while self._alive:
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - the engine must outlive any bug
                traceback.print_exc(file=sys.stderr)
                self._fail(f"internal error: {type(exc).__name__}: {exc}")
        self._close_stream()
        self._link.close()

    def _step(self) -> None:
        if self._state == "running":
            self._drain_commands()
            self._collect_builds()
            if self._state == "running":
                failure = self._stream.pump(self._account)
                if failure:
                    self._fail(failure)
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
            self._supply.forget_failures()
            self._close_stream()
            self._open_stream()
        elif isinstance(c, cmd.Stop):
            self._start = None
            self._close_stream()
            self._state, self._error = "stopped", None
        elif isinstance(c, cmd.SetChunk):
            self._chunk = c.chunk
            self._supply.rebuild(self._slot_taps(), self._chunk, self._live())
        elif isinstance(c, cmd.SwapWeights):
            self._supply.swap(c, self._slot_taps(), self._chunk, self._live())
        elif isinstance(c, cmd.Capture | cmd.Measure):
            self._arm(c)
        elif isinstance(c, cmd.LinkSend | cmd.LinkListen):
            end = "send" if isinstance(c, cmd.LinkSend) else "listen"
            self._link.apply(end, c)
        else:
            self._apply(self._settings_after(c))
            self._supply.extend(self._slot_taps(), self._chunk, self._live())

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
        if self._stream is not None:
            self._stream.proc.apply(settings)

    # -- stages (the supply's calls back) --------------------------------------------------------
    def _slot_taps(self) -> tuple[str, str]:
        return self._settings.slot_a, self._settings.slot_b

    def _wet(self) -> bool:
        return self._start is not None and bool(needed_taps(self._slot_taps()))

    def _live(self) -> bool:
        """A stream runs and needs wet stages: they are built while it plays."""
        return self._state == "running" and self._wet()

    def _collect_builds(self) -> None:
        playing_chunk = self._supply.collect(self._slot_taps(), self._chunk, self._live())
        if playing_chunk is not None:
            self._chunk = playing_chunk

    def _install(self, stage_set: StageSet) -> None:
        if self._stream is not None:
            self._stream.proc.install(stage_set)

    def _report(self, message: str) -> None:
        self._error = message

    # -- stream ------------------------------------------------------------------------------------
    def _open_stream(self, retry: bool = False) -> None:
        """Open devices and processor; a retry keeps showing the error until it works."""
        start = self._start
        if not retry:
            self._state = "starting"
            self._publish(force=True)
        stream = None
        try:
            stage_set = self._supply.for_stream(self._slot_taps(), self._chunk, self._wet())
            stream = LiveStream.open(start, self._settings, stage_set, self.options.stream())
            stream.proc.link = self._link
            if self._early_capture:
                stream.proc.arm_capture(int(self._early_capture * stream.info.rate))
                self._pending, self._early_capture = ("capture", None), 0.0
            self._meters = self._new_meters(stream.info.rate)
            if self.options.freeze_gc:
                gc.collect()
                gc.freeze()
            stream.go(stage_set)
        except Exception as exc:  # noqa: BLE001 - reported in the snapshot
            if stream is not None:
                stream.close()
            self._fail(str(exc) if isinstance(exc, AudioError) else f"{type(exc).__name__}: {exc}")
            return
        self._stream = stream
        self._state, self._error = "running", None

    def _close_stream(self) -> None:
        stream = self._stream
        if stream is not None:
            self._xrun_base = self._xruns()
            stream.close()
        self._stream = None
        if self._pending is not None:
            self._results.put((self._pending[0], AudioError("the stream stopped")))
            self._pending = None

    def _fail(self, message: str) -> None:
        self._close_stream()
        self._state, self._error = "error", message
        self._retry_at = time.monotonic() + self.options.retry_s

    # -- capture and loopback ----------------------------------------------------------------------
    def _account(self, x: np.ndarray, y: np.ndarray, busy: float) -> None:
        self._meters.add_block(x, y, busy, self._stream.proc.take_step_times())
        if self._pending is not None:
            self._finish_pending()

    def _arm(self, c) -> None:
        stream = self._stream
        if stream is None:
            if isinstance(c, cmd.Capture):  # armed for the next stream, from its first block
                self._early_capture = c.seconds
                return
            self._results.put(("measure", AudioError("the engine is not running")))
            return
        samples = int(c.seconds * stream.info.rate)
        stream.proc.arm_capture(samples)
        if isinstance(c, cmd.Measure):
            stream.proc.inject(c.probe)
            self._pending = ("measure", c.probe)
        else:
            self._pending = ("capture", None)

    def _finish_pending(self) -> None:
        stream = self._stream
        got = stream.proc.capture()
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
            self._measured_ms = 1000.0 * delay / stream.info.rate
        self._results.put(("measure", (delay, quality, got[0])))

    # -- snapshot ----------------------------------------------------------------------------------
    def _new_meters(self, rate: int) -> StreamMeters:
        return StreamMeters(rate, self.options.wave_seconds, self.options.wave_points)

    def _xruns(self) -> Xruns:
        if self._stream is None:
            return self._xrun_base
        return self._xrun_base + self._stream.xruns()

    def _publish(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_publish < 1.0 / self.options.publish_hz:
            return
        self._last_publish = now
        m, stream, stage_set = self._meters, self._stream, self._supply.stage_set
        in_peak, in_rms = m.level_in.take()
        out_peak, out_rms = m.level_out.take()
        proc = stream.proc if stream is not None else None
        codec = stage_set is not None and "codec" in stage_set.stages
        state = self._state
        if state == "running" and stream.callbacks_seen == 0:
            state = "starting"  # opened, but no callback yet
        self._snapshot = Snapshot(
            time=now,
            state=state,
            error=self._error,
            input_peak_db=in_peak,
            input_rms_db=in_rms,
            output_peak_db=out_peak,
            output_rms_db=out_rms,
            wave_in=m.wave_in.snapshot(),
            wave_out=m.wave_out.snapshot(),
            wave_seconds=self.options.wave_seconds,
            timings=m.timings(),
            load=m.load.value,
            xruns=self._xruns(),
            latency=latency_breakdown(
                stream.info if stream else None,
                stream.host if stream else None,
                proc,
                self._measured_ms,
            ),
            codec_bitrate_bps=stage_set.metric("bitrate_bps") if codec else None,
            codec_tokens_per_s=stage_set.metric("tokens_per_second") if codec else None,
            tokens=token_stats(proc),
            limiter_reduction_db=proc.limiter.reduction_db if proc is not None else None,
            heard_tap=proc.heard_tap() if proc is not None else "dry",
            status=engine_status(
                self._settings,
                self._chunk,
                self.options.quality,
                stage_set,
                self._supply.factory,
                self._start,
                stream,
            ),
            frames=m.frames,
            restarts=self._restarts,
            link=self._link.stats(),
        )
