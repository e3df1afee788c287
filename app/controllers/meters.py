"""Display-rate polling: read the engine's latest snapshot, feed the meter views.

A 30 Hz QTimer reads one immutable snapshot (never waits on the engine) and
updates only the views that are visible; an unchanged snapshot (same
object) costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from app.views.main_view import MainView
from app.views.timing_view import StageTiming
from app.views.token_view import TokenView
from engine.live.snapshot import Snapshot

CLIP_DB = -0.1  # a peak this close to full scale counts as a clip
FRAME_MS = 33


class MetersController(QObject):
    """Polls ``snapshot()`` and draws waveforms, levels, latency, timings, stats and tokens."""

    snapshot_seen = Signal(object)  # every new Snapshot, for the session controller

    def __init__(
        self,
        view: MainView,
        snapshot: Callable[[], Snapshot | None],
        interval_ms: int = FRAME_MS,
        parent: QObject | None = None,
        tokens: TokenView | None = None,
    ) -> None:
        super().__init__(parent)
        self.view = view
        self.tokens = tokens
        self._snapshot = snapshot
        self.last: Snapshot | None = None
        self.frames_drawn = 0
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    def start(self) -> None:
        """Start polling."""
        self.timer.start()

    def stop(self) -> None:
        """Stop polling."""
        self.timer.stop()

    def poll(self) -> None:
        """Read the latest snapshot and draw it if it is new."""
        snap = self._snapshot()
        if snap is None or snap is self.last:
            return
        self.last = snap
        self.draw(snap)
        self.snapshot_seen.emit(snap)

    def draw(self, s: Snapshot) -> None:
        """Update every visible meter from ``s``."""
        v = self.view
        self.frames_drawn += 1
        if v.waveforms.isVisible() and s.wave_in.shape[0]:
            if s.wave_seconds and s.wave_seconds != v.waveforms.seconds:
                v.waveforms.set_seconds(s.wave_seconds)
            v.waveforms.set_waveforms(s.wave_in, s.wave_out)
        if v.levels.isVisible():
            v.levels.set_levels(
                (s.input_peak_db, s.output_peak_db), (s.input_rms_db, s.output_rms_db)
            )
        if s.input_peak_db >= CLIP_DB:
            v.levels.note_clip("in")
        if s.output_peak_db >= CLIP_DB:
            v.levels.note_clip("out")
        if v.latency.isVisible():
            v.latency.set_breakdown(latency_rows(s))
        if v.timing.isVisible():
            v.timing.push(stage_timings(s))
        if v.stats.isVisible():
            v.stats.set_load(s.load)
            v.stats.set_xruns(
                {
                    "input_overflow": s.xruns.input_overflow,
                    "output_underflow": s.xruns.output_underflow,
                    "ring_overrun": s.xruns.ring_overrun,
                    "ring_underrun": s.xruns.ring_underrun,
                }
            )
            v.stats.set_bitrate(s.codec_bitrate_bps, s.codec_tokens_per_s)
        if self.tokens is not None and self.tokens.isVisible():
            self.tokens.set_stats(s.tokens)


def latency_rows(s: Snapshot) -> dict[str, float | None]:
    """The latency panel's rows (None where the stream is not running)."""
    lat = s.latency
    if s.state != "running":
        return {}
    return {
        "device_in": lat.device_in_ms,
        "device_out": lat.device_out_ms,
        "buffers": lat.ring_ms,
        "resampling": lat.resampler_ms,
        "codec": lat.codec_ms,
        "vocoder": lat.vocoder_ms,
        "total": lat.total_ms,
    }


def stage_timings(s: Snapshot) -> list[StageTiming]:
    """One :class:`StageTiming` per timed stage against its real-time budget.

    A stage steps once per hop, so one step must take less than one hop of
    audio; a stage's hop is its algorithmic latency, which the engine reports.
    The whole engine block must take less than one device block.
    """
    out = []
    for name, t in s.timings.items():
        out.append(StageTiming(name, t.last_ms, t.p99_ms, t.max_ms, budget_ms(name, s)))
    return out


def budget_ms(name: str, s: Snapshot) -> float:
    """Real-time budget of the stage labelled ``name`` (0 when unknown)."""
    if "vocoder" in name:  # a vocoder step, alone or fused after a codec: one chunk of audio
        frame_ms = s.status.vocoder_frame_ms or 20.0
        return frame_ms * float(s.status.chunk or 1)
    if name.startswith("codec") and not name.startswith("codec2"):  # Codec 2 is not ours
        return s.latency.codec_ms
    block = s.status.device_block or s.status.block
    rate = s.status.rate
    if name == "engine block" and block and rate:
        return 1000.0 * float(block) / float(rate)
    return 0.0
