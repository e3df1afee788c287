"""Objective A/B evaluation: run chains on speech files and score them.

Each chain runs through the same streaming path as live (block by block,
``Chain.process``). The output is aligned to the input by the chain's
declared latency, and that alignment is checked by cross-correlation: the
measured lag is reported next to the declared one.
"""

from __future__ import annotations

import csv
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from engine.audiofile import AudioFileError, read_mono_16k
from engine.chain import Chain, build_stages, parse_chain
from engine.classic.reference_stages import expand_groups
from engine.dsp import metrics
from engine.stage import DEFAULT_CHUNK, SAMPLE_RATE

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".aiff", ".aif"}
METRICS = ("pesq_wb", "stoi", "si_sdr", "mel_l1")
METRIC_DIGITS = {"pesq_wb": 2, "stoi": 3, "si_sdr": 1, "mel_l1": 3}  # decimals shown in reports
LAG_SEARCH = 4000  # samples beyond the declared latency searched by cross-correlation
#: How far an envelope lag may be from the declared latency (a waveform lag: 1 ms)
ENVELOPE_TOLERANCE_MS = 5.0
#: Shortest file scored: PESQ needs a quarter of a second.
MIN_SECONDS = 0.25
#: File names of the reports in the ``--out`` folder.
REPORT_NAMES = {"csv": "utterances.csv", "md": "summary.md", "png": "summary.png"}


@dataclass(frozen=True)
class UtteranceResult:
    """Scores of one file through one chain."""

    chain: str
    file: str
    seconds: float
    pesq_wb: float
    stoi: float
    si_sdr: float
    mel_l1: float
    declared_latency_ms: float
    measured_lag_ms: float
    rtf: float
    #: Lag of the 5 ms energy envelopes: where outputs that make their own phase
    #: (vocoders, Codec 2) line up; their waveform lag means nothing
    envelope_lag_ms: float = math.nan


@dataclass(frozen=True)
class ChainSummary:
    """Per-chain means with 95% confidence half-widths."""

    chain: str
    n: int
    means: dict[str, float]
    ci95: dict[str, float]
    bitrate_kbps: float
    latency_ms: float
    rtf: float
    alignment_ok: bool
    #: how: "waveform" (within 1 ms), "envelope" (within 5 ms) or "NO"
    alignment_by: str = "waveform"


def collect_files(items: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of audio files."""
    found: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
        elif p.exists():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    if not found:
        raise ValueError("no audio files found in " + ", ".join(map(str, items)))
    return found


def split_chain_list(text: str) -> list[str]:
    """``"dry, codec+vocoder, opus-ladder"`` -> chain names, groups expanded.

    Commas separate chains (a two-stage chain is written ``codec+vocoder``);
    ``opus-ladder`` stands for Opus at 6, 9.3, 12 and 18.7 kbit/s.
    """
    return expand_groups(c.strip() for c in text.split(",") if c.strip())


def chain_bitrate_kbps(chain: Chain) -> float:
    """What the chain's decoder must receive: its codec's bitrate, else 16-bit PCM."""
    for s in chain.stages:
        rate = getattr(s, "bitrate_bps", None)
        if rate is not None:
            return rate / 1000
    return SAMPLE_RATE * 16 / 1000


def _stream_raw(chain: Chain, x: np.ndarray, block: int) -> np.ndarray:
    """Stream ``x`` plus enough zeros for the tail, without removing the delay."""
    chain.reset()
    padded = np.concatenate([x, np.zeros(chain.latency + LAG_SEARCH, np.float32)])
    out = np.empty_like(padded)
    for start in range(0, len(padded), block):
        out[start : start + block] = chain.process(padded[start : start + block])
    return out


class EvaluationCancelled(Exception):
    """The caller's cancel flag was set; nothing was reported."""


#: Receives each utterance's aligned 16 kHz output ``(L,)`` as it is scored.
OutputSink = Callable[[UtteranceResult, np.ndarray], None]
#: Receives each file that is not scored and why.
SkipSink = Callable[[Path, str], None]


def usable_files(files: Sequence[Path], on_skip: SkipSink | None = None) -> list[Path]:
    """The files that can be scored; the others go to ``on_skip(path, reason)``.

    Checked before any chain runs, so one bad or too-short file is reported
    and left out instead of ending the run after the others were processed.
    """
    usable = []
    for path in files:
        reason = _unusable(path)
        if reason is None:
            usable.append(path)
        elif on_skip is not None:
            on_skip(path, reason)
    return usable


def _unusable(path: Path) -> str | None:
    try:
        seconds = len(read_mono_16k(path).samples) / SAMPLE_RATE
    except AudioFileError as exc:
        return str(exc).removeprefix(f"{path}: ")
    if seconds < MIN_SECONDS:
        return f"too short ({seconds:.3f} s; PESQ needs at least {MIN_SECONDS} s)"
    return None


def score_utterance(chain_name: str, chain: Chain, path: Path, block: int) -> UtteranceResult:
    """Run one file through ``chain`` and compute every metric."""
    return run_utterance(chain_name, chain, path, block)[0]


def run_utterance(
    chain_name: str, chain: Chain, path: Path, block: int
) -> tuple[UtteranceResult, np.ndarray]:
    """Like :func:`score_utterance`, also returning the aligned output ``(L,)`` at 16 kHz."""
    x = read_mono_16k(path).samples
    t0 = time.perf_counter()
    raw = _stream_raw(chain, x, block)
    elapsed = time.perf_counter() - t0
    lat = chain.latency
    lag = metrics.find_delay(x, raw, lat + LAG_SEARCH)
    envelope_lag = metrics.envelope_delay(x, raw, lat + LAG_SEARCH)
    y = raw[lat : lat + len(x)]
    seconds = len(x) / SAMPLE_RATE
    result = UtteranceResult(
        chain=chain_name,
        file=str(path),
        seconds=seconds,
        pesq_wb=metrics.pesq_wb(x, y),
        stoi=metrics.stoi(x, y),
        si_sdr=metrics.si_sdr(x, y),
        mel_l1=metrics.log_mel_l1(x, y),
        declared_latency_ms=1000 * lat / SAMPLE_RATE,
        measured_lag_ms=1000 * lag / SAMPLE_RATE,
        rtf=elapsed / seconds,
        envelope_lag_ms=1000 * envelope_lag / SAMPLE_RATE,
    )
    return result, y


def evaluate(
    files: Sequence[Path],
    chains: Sequence[str],
    *,
    chunk: int = DEFAULT_CHUNK,
    block: int = 256,
    codec_weights: str | Path | None = None,
    vocoder_weights: str | Path | None = None,
    progress: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
    on_output: OutputSink | None = None,
    on_skip: SkipSink | None = None,
) -> tuple[list[UtteranceResult], list[ChainSummary]]:
    """Score every file through every chain; return per-file rows and summaries.

    ``progress()`` is called once per scored utterance. ``cancel`` is checked
    before each chain and each utterance; once set, :class:`EvaluationCancelled`
    is raised and nothing is returned, so no partial report can be written.
    ``on_output(row, y)`` receives each aligned output (for listening to it).
    Files that cannot be scored are left out and given to ``on_skip(path,
    reason)``; if none is left, ``ValueError``.
    """
    rows: list[UtteranceResult] = []
    summaries: list[ChainSummary] = []
    if block <= 0:
        raise ValueError(f"block must be a positive number of samples, got {block}")
    for name in chains:
        parse_chain(name)  # validate early, before loading anything
    files = usable_files(files, on_skip)
    if not files:
        raise ValueError("none of the files can be scored (see the skipped files above)")
    for name in chains:
        _check(cancel)
        chain = Chain(build_stages(name, chunk, codec_weights, vocoder_weights))
        chain_rows = []
        for path in files:
            _check(cancel)
            row, y = run_utterance(name, chain, path, block)
            chain_rows.append(row)
            if on_output is not None:
                on_output(row, y)
            if progress is not None:
                progress()
        rows += chain_rows
        summaries.append(summarize(name, chain, chain_rows))
    return rows, summaries


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise EvaluationCancelled("evaluation cancelled")


def lags_agree(rows: Sequence[UtteranceResult], tolerance_ms: float = 1.0) -> bool:
    """True when the measured (waveform) lags confirm the declared latency.

    A lossy codec's cross-correlation peak can sit a sample or so off on a
    few badly coded utterances, so at least 90% of the utterances (and so
    the median) must lie within ``tolerance_ms``; a wrongly declared
    latency moves them all. Only rows whose output resembles the input
    (STOI > 0.5) count.
    """
    return _mostly(rows, lambda r: abs(r.measured_lag_ms - r.declared_latency_ms) <= tolerance_ms)


def alignment(rows: Sequence[UtteranceResult]) -> str:
    """``"waveform"`` (lags within 1 ms), ``"envelope"`` (within 5 ms) or ``"NO"``.

    An output that makes its own phase (a vocoder) cannot be aligned on its
    waveform; its energy envelope still says whether the declared latency
    is right to within a few milliseconds. A row counts as aligned on the
    envelope if either of its lags is close enough.
    """
    if lags_agree(rows):
        return "waveform"
    if _mostly(rows, _envelope_ok):
        return "envelope"
    return "NO"


def _envelope_ok(r: UtteranceResult) -> bool:
    off = min(
        abs(r.measured_lag_ms - r.declared_latency_ms),
        abs(r.envelope_lag_ms - r.declared_latency_ms),
    )
    return off <= ENVELOPE_TOLERANCE_MS


def _mostly(rows: Sequence[UtteranceResult], ok: Callable[[UtteranceResult], bool]) -> bool:
    """At least 90% of the rows that resemble the input (STOI > 0.5) pass ``ok``."""
    passed = [ok(r) for r in rows if not math.isnan(r.stoi) and r.stoi > 0.5]
    return not passed or float(np.mean(passed)) >= 0.9


def summarize(name: str, chain: Chain, rows: Sequence[UtteranceResult]) -> ChainSummary:
    """Means and 95% CIs of one chain's rows."""
    means, ci = {}, {}
    for m in METRICS:
        means[m], ci[m] = metrics.mean_ci95([getattr(r, m) for r in rows])
    aligned = alignment(rows)
    return ChainSummary(
        chain=name,
        n=len(rows),
        means=means,
        ci95=ci,
        bitrate_kbps=chain_bitrate_kbps(chain),
        latency_ms=1000 * chain.latency / SAMPLE_RATE,
        rtf=float(np.median([r.rtf for r in rows])),
        alignment_ok=aligned != "NO",
        alignment_by=aligned,
    )


def alignment_text(s: ChainSummary) -> str:
    """The report's ``aligned`` cell: ``yes``, ``yes (envelope)`` or ``NO``."""
    return {"waveform": "yes", "envelope": "yes (envelope)"}.get(s.alignment_by, "NO")


def format_mean_ci(mean: float, half: float, digits: int) -> str:
    """``"2.41 ± 0.07"`` as in the Markdown report (``n/a`` for NaN; no ± for one value)."""
    if math.isnan(mean):
        return "n/a"
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def markdown_table(summaries: Sequence[ChainSummary]) -> str:
    """The summary as a Markdown table (mean ± 95% CI)."""
    head = (
        "| chain | n | PESQ-WB | STOI | SI-SDR (dB) | log-mel L1 | bitrate (kbps) "
        "| latency (ms) | RTF | aligned |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for s in summaries:
        cells = [format_mean_ci(s.means[m], s.ci95[m], METRIC_DIGITS[m]) for m in METRICS]
        lines.append(
            f"| {s.chain} | {s.n} | {' | '.join(cells)} | {s.bitrate_kbps:.1f} "
            f"| {s.latency_ms:.1f} | {s.rtf:.3f} | {alignment_text(s)} |"
        )
    return head + "\n".join(lines) + "\n"


def skipped_list(skipped: Sequence[tuple[Path, str]]) -> str:
    """Markdown list of the files left out and why (empty when none)."""
    if not skipped:
        return ""
    return "\nSkipped:\n\n" + "".join(f"- {path}: {why}\n" for path, why in skipped)


def write_reports(
    rows: Sequence[UtteranceResult],
    summaries: Sequence[ChainSummary],
    out_dir: Path,
    skipped: Sequence[tuple[Path, str]] = (),
) -> dict[str, Path]:
    """Write per-utterance CSV, summary Markdown (with any skipped files) and a PNG plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in REPORT_NAMES.items()}
    with paths["csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(UtteranceResult)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    paths["md"].write_text(markdown_table(summaries) + skipped_list(skipped))
    _plot(rows, summaries, paths["png"])
    return paths


def _plot(rows: Sequence[UtteranceResult], summaries: Sequence[ChainSummary], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s.chain for s in summaries]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, metric, label in zip(axes[:2], ("pesq_wb", "stoi"), ("PESQ-WB", "STOI"), strict=True):
        data = [[getattr(r, metric) for r in rows if r.chain == n] for n in names]
        data = [[v for v in d if not math.isnan(v)] or [math.nan] for d in data]
        ax.boxplot(data, tick_labels=names)
        ax.set_title(f"{label} per utterance")
    ax = axes[2]
    for s in summaries:
        ax.errorbar(s.bitrate_kbps, s.means["pesq_wb"], yerr=s.ci95["pesq_wb"], fmt="o")
        ax.annotate(s.chain, (s.bitrate_kbps, s.means["pesq_wb"]))
    ax.set_xscale("log")
    ax.set_xlabel("bitrate (kbps)")
    ax.set_ylabel("PESQ-WB (mean ± 95% CI)")
    ax.set_title("quality vs bitrate")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
