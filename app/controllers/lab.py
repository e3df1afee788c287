"""The Lab tab's behaviour: files, chains, a background evaluation, results, A/B playback.

The evaluation is :func:`engine.lab.runner.run_lab` (the numbers of ``streamvox
evaluate``) in a :class:`~app.worker.Worker` thread; progress and results
come back through queued signals. A thread, not a process: the work is
torch, PESQ and STOI in C, and a measured run kept the GUI's event loop
responsive (see ``tests/gui/test_lab.py``), while a process would have to
reload the models and ship every output back.

Playback uses :class:`engine.lab.player.PairPlayer` on the live panel's
output device; its stream runs in a child process, so a device or audio
server that dies mid-play shows as an error under the table (the pair and
the position are kept; Play tries again) and never hangs the GUI for longer
than the player's timeouts. While the live stream runs, the Lab does not
play: both would fight over the same output (an ALSA device may refuse the
second stream outright), and a person comparing offline results does not
want the microphone in their ears. Starting the live stream stops Lab
playback.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.settings_store import SettingsStore
from app.views.lab_view import PLOT_METRICS, LabView
from app.worker import Worker
from engine.classic.reference_stages import unavailable_reason
from engine.evaluate import (
    METRIC_DIGITS,
    METRICS,
    ChainSummary,
    EvaluationCancelled,
    UtteranceResult,
    alignment_text,
    collect_files,
    format_mean_ci,
)
from engine.lab.player import PairPlayer
from engine.lab.runner import LabResult, run_lab, split_chains

LIVE_BUSY = "Stop the live stream first: the Lab plays on the same output device."
Row = tuple[list[str], list[float | None], tuple[str, str] | None]


class LabController(QObject):
    """Connects :class:`LabView` to the engine's Lab API."""

    run_finished = Signal(str)  # "done", "cancelled" or "failed"
    exported = Signal(object)  # {"csv": Path, "md": Path, "png": Path}

    def __init__(
        self,
        view: LabView,
        settings: SettingsStore,
        live_running: Callable[[], bool] = lambda: False,
        make_player: Callable[[], PairPlayer] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.view, self.settings, self.live_running = view, settings, live_running
        self._make_player = make_player or self._default_player
        self.files: list[str] = []
        self.result: LabResult | None = None
        self.worker: Worker | None = None
        self.player: PairPlayer | None = None
        self.cell: tuple[str, str] | None = None  # what the player holds
        self._tmp = tempfile.TemporaryDirectory(prefix="streamvox-lab-")
        self._runs = 0
        self._busy = False
        self._export_worker: Worker | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._show_player)
        self._connect()
        self.chains_changed()
        view.set_chunk_note(settings.value.chunk)

    def _connect(self) -> None:
        v = self.view
        v.files_added.connect(self.add_paths)
        v.remove_requested.connect(self._remove_selected)
        v.clear_requested.connect(lambda: self._set_files([]))
        v.chains_changed.connect(self.chains_changed)
        v.run_requested.connect(self.run)
        v.cancel_requested.connect(self.cancel)
        v.per_utterance_toggled.connect(lambda _on: self._show_table())
        v.metric_changed.connect(lambda _m: self._show_plots())
        v.selection_changed.connect(self._selection_changed)
        v.play_requested.connect(self.play)
        v.flip_requested.connect(self.flip)
        v.stop_requested.connect(self.stop)
        v.export_requested.connect(self.export)

    # -- inputs ------------------------------------------------------------------------
    def add_paths(self, paths: list[str]) -> None:
        """Add files, and the audio files found in folders (recursively)."""
        try:
            found = [str(p) for p in collect_files(paths)]
        except (OSError, ValueError) as exc:
            self.view.set_status(str(exc))
            return
        self._set_files(self.files + [f for f in found if f not in self.files])

    def _remove_selected(self) -> None:
        drop = set(self.view.selected_files())
        self._set_files([f for i, f in enumerate(self.files) if i not in drop])

    def _set_files(self, files: list[str]) -> None:
        self.files = files
        self.view.set_files(files)
        self.view.set_status(f"{len(files)} file(s) chosen.")

    def chains(self) -> list[str]:
        """Ticked chains plus the typed ones (raises ``ValueError`` for an unknown one)."""
        names = self.view.checked_chains()
        names += [c for c in split_chains(self.view.more_chains.text()) if c not in names]
        return names

    def chains_changed(self) -> None:
        """Check the typed chains as they are typed."""
        try:
            chains = self.chains()
        except ValueError as exc:
            self.view.set_chain_error(str(exc))
            self.view.run.setEnabled(False)
            return
        missing = next((r for c in chains if (r := unavailable_reason(c))), None)
        if missing:
            self.view.set_chain_error(missing)
            self.view.run.setEnabled(False)
            return
        self.view.set_chain_error("" if chains else "Pick at least one chain.")
        self.view.run.setEnabled(bool(chains) and not self.running)

    # -- running -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while an evaluation runs."""
        return self._busy

    def run(self) -> Worker | None:
        """Start the evaluation in a worker thread (returns it, or None if not possible)."""
        if self.running:
            return None
        try:
            chains = self.chains()
        except ValueError as exc:
            self.view.set_chain_error(str(exc))
            return None
        if not self.files or not chains:
            self.view.set_status("Add at least one file and pick at least one chain.")
            return None
        s = self.settings.value
        self._runs += 1
        audio_dir = Path(self._tmp.name) / f"run{self._runs}"
        files = [Path(f) for f in self.files]

        def job(w: Worker) -> LabResult:
            return run_lab(
                files,
                chains,
                audio_dir,
                chunk=s.chunk,
                codec_weights=s.codec_weights or None,
                vocoder_weights=s.vocoder_weights or None,
                progress=w.progress.emit,
                cancel=w.cancelled,
            )

        self.stop()
        self.cell = None  # the player's pair belongs to the previous run
        self.worker = Worker(job, self)
        self.worker.progress.connect(self.view.set_progress)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(self._failed)
        self._busy = True
        self.view.set_running(True)
        self.view.set_progress(0, len(files) * len(chains))
        self.view.set_status(f"Evaluating {len(files)} file(s) through {len(chains)} chain(s)…")
        return self.worker.start()

    def cancel(self) -> None:
        """Stop after the utterance being scored; the previous results stay on show."""
        if self.running:
            self.worker.cancel()
            self.view.cancel.setEnabled(False)
            self.view.set_status("Cancelling after the current utterance…")

    def _ended(self) -> None:
        self._busy = False
        self.view.set_running(False)
        self.chains_changed()

    def _done(self, result: LabResult) -> None:
        self._ended()
        self.result = result
        self.view.export.setEnabled(True)
        self._show_table()
        self._show_plots()
        self.view.set_status(f"Done: {len(result.rows)} utterance scores.")
        self.run_finished.emit("done")

    def _failed(self, exc: BaseException) -> None:
        self._ended()
        if isinstance(exc, EvaluationCancelled):
            self.view.set_status("Cancelled: nothing was reported.")
            self.run_finished.emit("cancelled")
            return
        self.view.set_status(f"Evaluation failed: {exc}")
        self.run_finished.emit("failed")

    # -- results ---------------------------------------------------------------------------
    def _show_table(self) -> None:
        if self.result is None:
            return
        per_utt = self.view.per_utterance.isChecked()
        rows: list[Row] = []
        for s in self.result.summaries:
            chain_rows = [r for r in self.result.rows if r.chain == s.chain]
            first = chain_rows[0].file if chain_rows else None
            rows.append(summary_row(s, (s.chain, first) if first else None))
            if per_utt:
                rows += [utterance_row(r, s) for r in chain_rows]
        self.view.set_rows(rows)

    def _show_plots(self) -> None:
        if self.result is None:
            return
        metric = self.view.metric_name()
        label = dict(PLOT_METRICS)[metric]
        sums = self.result.summaries
        self.view.plot_quality(
            [(s.chain, s.bitrate_kbps, s.means[metric], s.ci95[metric]) for s in sums], label
        )
        groups = [
            (s.chain, [getattr(r, metric) for r in self.result.rows if r.chain == s.chain])
            for s in sums
        ]
        self.view.plot_spread(groups, label)

    # -- playback -----------------------------------------------------------------------------
    def _selection_changed(self) -> None:
        key = self.view.selected_key()
        self.view.set_player_enabled(key is not None, self._playing())
        if key is not None:
            chain, file = key
            self.view.set_player_text(f"{chain} · {Path(file).name}: press Play")

    def _playing(self) -> bool:
        return self.player is not None and self.player.playing

    def play(self, source: str) -> bool:
        """Play ``source`` of the selected cell; False (and a message) when it cannot."""
        key = self.view.selected_key()
        if key is None or self.result is None:
            self.view.set_player_text("Select a result row first.")
            return False
        if self.live_running():
            self.view.set_player_text(LIVE_BUSY)
            return False
        try:
            if self.player is None:
                self.player = self._make_player()
            if key != self.cell or not self.player.loaded:
                original, processed = self.result.pair(*key)
                self.player.load(original, processed)
                self.cell = key
            self.player.play(source)
        except Exception as exc:  # noqa: BLE001 - device errors are shown, never raised into Qt
            self.view.set_player_text(f"Cannot play: {exc}", error=True)
            return False
        self._timer.start()
        self._show_player()
        return True

    def flip(self) -> None:
        """Switch between processed and original at the same position."""
        if self._playing():
            self.player.flip()
            self._show_player()

    def stop(self) -> None:
        """Stop playback."""
        if self.player is not None:
            self.player.stop()
        self._show_player()

    def stop_for_live(self) -> None:
        """The live stream started: give the output device back."""
        if self._playing():
            self.stop()
            self.view.set_player_text("Lab playback stopped: the live stream is running.")

    def _show_player(self) -> None:
        playing = self._playing()
        self.view.set_player_enabled(self.view.selected_key() is not None, playing)
        if self.player is None or self.cell is None:
            return
        st = self.player.state()
        chain, file = self.cell
        heard = "original" if st.source == "original" else chain
        if playing:
            self.view.set_player_text(
                f"▶ {heard} · {Path(file).name} · {st.position_s:.1f}/{st.duration_s:.1f} s"
            )
        elif st.error:
            self._timer.stop()
            self.view.set_player_text(f"Playback stopped: {st.error}. Play tries again.", True)
        else:
            self._timer.stop()
            self.view.set_player_text(f"■ {chain} · {Path(file).name} (stopped)")

    def _default_player(self) -> PairPlayer:
        s = self.settings.value
        return PairPlayer(device=s.output_device.name or None, hostapi=s.host_api or None)

    # -- export ----------------------------------------------------------------------------------
    def export(self, folder: str) -> Worker | None:
        """Write CSV, Markdown and PNG into ``folder`` (in the background)."""
        result = self.result
        if result is None:
            self.view.set_status("Nothing to export yet: run an evaluation first.")
            return None
        w = Worker(lambda _w: result.export(Path(folder)), self)
        w.done.connect(self._exported)
        w.failed.connect(lambda exc: self.view.set_status(f"Export failed: {exc}"))
        self._export_worker = w
        return w.start()

    def _exported(self, paths: dict) -> None:
        self.view.set_status("Exported: " + ", ".join(p.name for p in paths.values()))
        self.exported.emit(paths)

    # -- teardown ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Cancel a run, stop playback, remove the kept outputs."""
        if self.worker is not None and self.worker.thread is not None:
            self.worker.cancel()
            self.worker.thread.join(timeout=30)
        self._timer.stop()
        if self.player is not None:
            self.player.close()
        self._tmp.cleanup()


def summary_row(s: ChainSummary, key: tuple[str, str] | None) -> Row:
    """One chain's mean ± 95% CI, formatted exactly as the Markdown report."""
    metric_texts = [format_mean_ci(s.means[m], s.ci95[m], METRIC_DIGITS[m]) for m in METRICS]
    texts = [s.chain, "", str(s.n), *metric_texts]
    texts += [f"{s.bitrate_kbps:.1f}", f"{s.latency_ms:.1f}", f"{s.rtf:.3f}"]
    texts.append(alignment_text(s))
    values: list[float | None] = [None, None, float(s.n), *(s.means[m] for m in METRICS)]
    values += [s.bitrate_kbps, s.latency_ms, s.rtf, None]
    return texts, values, key


def utterance_row(r: UtteranceResult, s: ChainSummary) -> Row:
    """One utterance's scores (values as in the CSV report, rounded for display)."""
    metric_texts = [_num(getattr(r, m), METRIC_DIGITS[m]) for m in METRICS]
    lag = f"lag {r.measured_lag_ms:.1f} ms"
    texts = [r.chain, Path(r.file).name, "", *metric_texts]
    texts += [f"{s.bitrate_kbps:.1f}", f"{r.declared_latency_ms:.1f}", f"{r.rtf:.3f}", lag]
    values: list[float | None] = [None, None, None, *(getattr(r, m) for m in METRICS)]
    values += [s.bitrate_kbps, r.declared_latency_ms, r.rtf, r.measured_lag_ms]
    return texts, values, (r.chain, r.file)


def _num(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
