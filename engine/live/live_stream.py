"""One open live stream: the audio host, the processor, and the watchdogs that keep them in time.

:meth:`LiveStream.open` starts an audio host process and a
:class:`~engine.live.processor.Processor` for it; :meth:`LiveStream.pump`
waits for the callback, moves every block the input ring holds through
the processor into the output ring, and watches what can go wrong:

* a stream that stops calling back (device unplugged, audio server gone);
* the start skew of two separate streams (settled once, see
  :meth:`~engine.audio.host.AudioHost.settle_skew`);
* an output underrun: the automatic margin grows by a block (or 5 ms);
* a codec link started after the stream: once its coding time is
  measured, the automatic margin grows to what it would have been sized
  at with the link's cost counted;
* input lost to a full ring: as much silence on the output keeps the two
  in step;
* two clocks: what a faster input would pile up beyond the margin is
  dropped.

Engine thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.audio import shm
from engine.audio.host import AudioHost
from engine.live import control as cmd
from engine.live.processor import MixSettings, Processor
from engine.live.snapshot import Xruns
from engine.live.taps import StageSet


@dataclass(frozen=True)
class StreamOptions:
    """What a stream needs of the engine's options (see ``EngineOptions``)."""

    crossfade_ms: float
    ceiling_db: float
    quality: str
    warm_all: bool
    stall_s: float
    first_callback_s: float
    auto_margin_floor_ms: float
    auto_margin_ceiling_ms: float
    max_margin_ms: float
    jack_client_name: str | None
    max_block: int


class LiveStream:
    """An audio host and the processor its blocks go through."""

    def __init__(
        self, host: AudioHost, proc: Processor, start: cmd.Start, options: StreamOptions
    ) -> None:
        self.host, self.proc, self.info = host, proc, host.info
        self._start, self._o = start, options
        self._inbuf = np.zeros(options.max_block, np.float32)
        self.callbacks_seen, self._cb_time = 0, time.monotonic()
        self._lost_seen = 0
        self._under_seen = 0
        self.drift_dropped = 0
        self._skew_settled = False
        self._stages_ms = 0.0  # the stages' step time the automatic margin was sized from
        self._link_ms = 0.0  # the link coding time the margin counts

    @classmethod
    def open(
        cls,
        start: cmd.Start,
        settings: MixSettings,
        stage_set: StageSet | None,
        options: StreamOptions,
    ) -> LiveStream:
        """Open the devices of ``start`` and a processor at their rate (callbacks not started)."""
        host = AudioHost(start.stream, options.jack_client_name)
        try:
            info = host.open()
            proc = Processor(
                info.rate,
                start.chain,
                settings,
                max_block=options.max_block,
                crossfade_ms=options.crossfade_ms,
                ceiling_db=options.ceiling_db,
                quality=options.quality,
                warm_all=options.warm_all,
            )
            if stage_set is not None:
                proc.install(stage_set, immediate=True)
        except BaseException:
            host.stop()
            raise
        return cls(host, proc, start, options)

    def go(self, stage_set: StageSet | None) -> None:
        """Prefill the output ring with the margin and let the callbacks run."""
        self.host.go(self._margin_ms(stage_set))
        self.callbacks_seen, self._cb_time = 0, time.monotonic()

    def close(self) -> None:
        """Stop the audio host process."""
        self.host.stop()

    def _margin_ms(self, stage_set: StageSet | None) -> float:
        """The fixed margin asked for, or one sized from the stages' step time."""
        if self._start.margin_ms is not None:
            return self._start.margin_ms
        if stage_set is not None:
            taps = stage_set.stages
            self._stages_ms = max((stage_set.path_step_ms(t) for t in taps), default=0.0)
        link = self.proc.link
        self._link_ms = (link.coding_ms if link is not None else None) or 0.0
        return self._auto_margin_ms(self._stages_ms + self._link_ms)

    def _auto_margin_ms(self, step_ms: float) -> float:
        """The automatic margin for blocks that take ``step_ms`` of work at worst.

        Worst case, every stage on the slowest tap runs a step within one
        block; three times that, plus scheduling slack, covers the spread
        seen on a busy machine.
        """
        o = self._o
        return min(o.auto_margin_ceiling_ms, max(o.auto_margin_floor_ms, 3.0 * step_ms + 3.0))

    def _count_link(self) -> None:
        """A link's coding runs in the engine's blocks too: grow the automatic margin for it."""
        link = self.proc.link
        cost = link.coding_ms if link is not None else None
        if cost is None or cost <= self._link_ms or self._start.margin_ms is not None:
            return
        self._link_ms = cost
        want = self._auto_margin_ms(self._stages_ms + cost)
        frames = int((want - self.margin_ms()) * 1e-3 * self.info.rate)
        if frames > 0:
            self.host.grow(frames)

    # -- running -------------------------------------------------------------------------------
    def pump(self, account: Callable[[np.ndarray, np.ndarray, float], None]) -> str | None:
        """Wait for the callback, then process every block in the input ring.

        ``account(x, y, seconds)`` sees each block in and out and the time
        the processor took. Returns why the stream failed, or None.
        """
        host, proc = self.host, self.proc
        host.wait(0.02)
        failure = host.failure() or self._stalled()
        if failure:
            return failure
        in_ring, out_ring = host.shared.in_ring, host.shared.out_ring
        if not self._skew_settled:
            self._skew_settled = host.settle_skew()
        self._adapt_margin()
        self._count_link()
        lost = in_ring.overrun_frames - self._lost_seen
        if lost:  # keep input and output indices in step
            out_ring.write_silence(lost)
            self._lost_seen += lost
        while True:
            n = in_ring.read(self._inbuf)
            if n == 0:
                return None
            x = self._inbuf[:n]
            t0 = time.perf_counter()
            y = proc.process(x)
            busy = time.perf_counter() - t0
            out_ring.write(self._drift_trim(out_ring, y))
            account(x, y, busy)

    def _adapt_margin(self) -> None:
        """After an output underrun, give the engine one more block (or 5 ms) of margin."""
        host = self.host
        under = host.shared.out_ring.underruns
        if under == self._under_seen:
            return
        self._under_seen = under
        info = self.info
        limit = info.block + int(self._o.max_margin_ms * 1e-3 * info.rate)
        step = min(max(info.block, int(0.005 * info.rate)), limit - host.prefill)
        if self._start.adaptive and step > 0:
            host.grow(step)

    def _drift_trim(self, out_ring, y: np.ndarray) -> np.ndarray:
        """Two streams on two clocks: drop what would push the output past its margin.

        (An output clock faster than the input one needs nothing: the ring
        then runs short now and then, plays silence and stays on time.)
        """
        if self.info.duplex:
            return y
        excess = out_ring.fill() + y.shape[0] - (self.host.prefill + 2 * self.info.block)
        if excess <= 0:
            return y
        self.drift_dropped += min(excess, y.shape[0])
        return y[min(excess, y.shape[0]) :]

    def _stalled(self) -> str | None:
        count, now = self.host.counter(shm.CALLBACKS), time.monotonic()
        if count != self.callbacks_seen:
            self.callbacks_seen, self._cb_time = count, now
            return None
        limit = self._o.stall_s if count else self._o.first_callback_s
        if now - self._cb_time > limit:
            return (
                f"no audio callbacks for {now - self._cb_time:.1f} s: "
                "device disconnected or audio server gone"
            )
        return None

    # -- what it reports -----------------------------------------------------------------------
    def xruns(self) -> Xruns:
        """Dropouts of this stream by cause."""
        host = self.host
        if host.shared is None:
            return Xruns()
        return Xruns(
            input_overflow=host.counter(shm.IN_OVERFLOW),
            output_underflow=host.counter(shm.OUT_UNDERFLOW),
            ring_overrun=host.shared.in_ring.overruns,
            ring_underrun=host.shared.out_ring.underruns,
            ring_underrun_frames=host.shared.out_ring.underrun_frames,
        )

    def margin_ms(self) -> float:
        """Audio kept in hand beyond one block, in ms."""
        info = self.info
        return 1000.0 * (self.host.ring_latency() - info.block) / info.rate
