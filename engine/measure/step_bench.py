"""Per-step timing of the streaming models, as the live engine runs them.

Each row times one streaming step on ``threads`` torch threads (1 by
default: the live engine runs on one), mel computation included:

* ``codec``: one overlap-save hop (encode + decode of a 480-sample window,
  15 ms of audio); ``codec search4``: one token-reuse hop whose encoder
  searches 4 candidates per token (``codec@search4``, about 20 decodes);
* ``vocos <size>``: one chunk of N mel frames (N x 20 ms of audio);
* ``pghi N_FFT/HOP``: one frame of the classical vocoder floor (chain
  ``pghi``: mel, pinv magnitude, RTPGHI heap in Python, overlap-add; numpy).

Paths: ``fp32`` is the model as loaded (eager PyTorch, what the stages ran
before the fast paths existed); the others are :class:`FastCodec` (fp32,
same maths) and :class:`FastVocos` at a precision. ``first`` is the first
step of a fresh stream on a warmed-up model (what a new stream waits for);
``RTF`` is median step time / audio duration of the step.

Weights are seeded random initialisations: timing does not depend on the
weight values (the matmul shapes are what count).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from engine.models.codec.checkpoint import seeded_codec
from engine.models.codec.fast import FastCodec
from engine.models.codec.model import TinyTransformerCodec
from engine.models.vocos.checkpoint import load_vocos, seeded_vocos
from engine.models.vocos.fast import FastVocos
from engine.models.vocos.generator import VocosConfig, VocosGenerator
from engine.stage import check_chunk

#: Vocos sizes the bench knows; "tiny" is for smoke tests only. Layer scale
#: 1/n_layers (not the 1e-6 training init) so every block matters when the
#: seeded model is used to measure accuracy.
VOCOS_SIZES: dict[str, VocosConfig] = {
    "seed": VocosConfig(dim=512, intermediate_dim=1536, n_layers=8, layer_scale_init=None),
    "default": VocosConfig(dim=384, intermediate_dim=1152, n_layers=6, layer_scale_init=None),
    "tiny": VocosConfig(dim=64, intermediate_dim=128, n_layers=2, layer_scale_init=None),
}
CHUNK_FRAMES = (1, 2, 5, 10)
#: Median targets in ms on the reference 2-core machine, 1 thread (issue 2).
TARGETS_MS: dict[tuple[str, int], float] = {
    ("codec", 1): 1.0,
    ("vocos seed", 5): 4.0,
    ("vocos seed", 1): 2.5,
}


@dataclass(frozen=True)
class BenchOptions:
    """What to time and how often (``quick`` cuts the runs for a smoke test)."""

    runs: int = 300
    warmup: int = 30
    threads: int = 1
    precisions: tuple[str, ...] = ("int8",)
    sizes: tuple[str, ...] = ("seed", "default")
    chunks: tuple[int, ...] = CHUNK_FRAMES
    codec: bool = True
    pghi: bool = True
    seed: int = 0
    vocoder_weights: Path | None = None

    def __post_init__(self) -> None:
        if self.runs < 1 or self.warmup < 0 or self.threads < 1:
            raise ValueError("need runs >= 1, warmup >= 0 and threads >= 1")
        unknown = [s for s in self.sizes if s not in VOCOS_SIZES]
        if unknown:
            raise ValueError(f"unknown size(s) {unknown}; choose from {', '.join(VOCOS_SIZES)}")
        for n in self.chunks:
            check_chunk(n, "chunk frames")


@dataclass(frozen=True)
class BenchRow:
    """One timed step: ``model`` / ``path`` at ``frames`` (1 for the codec hop)."""

    model: str
    path: str
    frames: int
    audio_ms: float
    median_ms: float
    p99_ms: float
    first_ms: float

    @property
    def rtf(self) -> float:
        """Real-time factor: median step time over the audio it produces."""
        return self.median_ms / self.audio_ms

    @property
    def target_ms(self) -> float | None:
        """The issue's median target for this row, if any."""
        return TARGETS_MS.get((self.model, self.frames))


@dataclass
class BenchReport:
    """Rows plus the conditions they were measured under."""

    rows: list[BenchRow] = field(default_factory=list)
    build_s: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    threads: int = 1


@dataclass(frozen=True)
class StepPath:
    """One way of running a streaming step: ``step(x)`` and ``reset()`` of its stream."""

    name: str
    step: Callable[[torch.Tensor], object]
    reset: Callable[[], None]


def time_paths(
    paths: Sequence[StepPath],
    inputs: Sequence[torch.Tensor],
    warmup: int,
    runs: int,
    block: int = 10,
) -> list[tuple[float, float, float]]:
    """(median, p99, first) in ms per path, over ``runs`` timed calls each.

    Paths take turns in blocks of ``block`` calls, so that load from other
    processes (bursty on a shared machine) hits every path alike. ``first``
    is the first call after ``reset()`` on the warmed-up model.
    """
    for path in paths:
        for i in range(warmup):
            path.step(inputs[i % len(inputs)])
    firsts = []
    for path in paths:
        path.reset()
        t0 = time.perf_counter()
        path.step(inputs[0])
        firsts.append(time.perf_counter() - t0)
    times = np.empty((len(paths), runs))
    for start in range(0, runs, block):
        for p, path in enumerate(paths):
            for i in range(start, min(start + block, runs)):
                x = inputs[(i + 1) % len(inputs)]
                t0 = time.perf_counter()
                path.step(x)
                times[p, i] = time.perf_counter() - t0
    return [
        (1e3 * float(np.median(t)), 1e3 * float(np.percentile(t, 99)), 1e3 * first)
        for t, first in zip(times, firsts, strict=True)
    ]


def _inputs(samples: int, count: int = 8, seed: int = 0) -> list[torch.Tensor]:
    """Deterministic noise at a speech-like level (-20 dBFS), ``count`` x ``(1, samples)``."""
    gen = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(1, samples, generator=gen) for _ in range(count)]


def bench_codec(model: TinyTransformerCodec, opts: BenchOptions, report: BenchReport) -> None:
    """Time the OaS hop: the model as loaded, then :class:`FastCodec`."""
    cfg = model.config
    inputs = _inputs(cfg.window, seed=opts.seed)
    audio_ms = 1e3 * cfg.hop / 16000

    def eager(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model.decode(model.encode(x))[:, -cfg.hop :]

    t0 = time.perf_counter()
    fast = FastCodec.from_model(model)
    fast.warmup()
    report.build_s["codec fast"] = time.perf_counter() - t0
    fast_path = "fast fp32" + (" (TorchScript)" if fast.scripted else "")
    paths = [StepPath("fp32", eager, _no_state), StepPath(fast_path, fast.hop, _no_state)]
    for path, (med, p99, first) in zip(
        paths, time_paths(paths, inputs, opts.warmup, opts.runs), strict=True
    ):
        report.rows.append(BenchRow("codec", path.name, 1, audio_ms, med, p99, first))
    bench_codec_search(model, opts, report)


def bench_codec_search(
    model: TinyTransformerCodec, opts: BenchOptions, report: BenchReport
) -> None:
    """Time one token-reuse hop with the encoder's token search (``codec@search4``).

    An encoder effort, not a live default: the row says what it costs per
    15 ms of audio, so whether a machine can afford it live.
    """
    from engine.models.codec.stage import CodecStage

    cfg = model.config
    stage = CodecStage(model, precision="fp32", stream="reuse", search=SEARCH_CANDIDATES)
    inputs = [x[:, -cfg.hop :] for x in _inputs(cfg.window, seed=opts.seed)]

    def step(x: torch.Tensor) -> np.ndarray:
        return stage.step(x[0].numpy())

    path = StepPath(f"fast fp32 {stage.stream}", step, stage.reset)
    runs, warmup = max(1, opts.runs // 10), max(1, opts.warmup // 10)  # each step is ~20 decodes
    ((med, p99, first),) = time_paths([path], inputs, warmup, runs)
    model_name = f"codec search{SEARCH_CANDIDATES}"
    report.rows.append(BenchRow(model_name, path.name, 1, 1e3 * cfg.hop / 16000, med, p99, first))


#: Candidates per token of the timed token search (``codec@search4``).
SEARCH_CANDIDATES = 4


def _no_state() -> None:
    """The OaS hop keeps no state between calls beyond its input window."""


#: Geometries of the classical vocoder timed: the default and the seed's.
PGHI_GEOMETRIES = ((512, 128), (1024, 320))


def bench_pghi(opts: BenchOptions, report: BenchReport) -> None:
    """Time one :class:`~engine.classic.pghi_stage.PghiStage` step per geometry.

    The input is noise, so every bin is above RTPGHI's tolerance and goes
    through the heap: about the worst case for the Python loop.
    """
    from engine.classic.pghi_stage import PghiStage

    for n_fft, hop in PGHI_GEOMETRIES:
        stage = PghiStage(n_fft, hop)
        inputs = [x.numpy()[0] for x in _inputs(hop, seed=opts.seed)]
        path = StepPath("numpy", stage.step, stage.reset)
        ((med, p99, first),) = time_paths([path], inputs, opts.warmup, opts.runs)
        audio_ms = 1e3 * hop / stage.sample_rate
        report.rows.append(BenchRow(f"pghi {n_fft}/{hop}", "numpy", 1, audio_ms, med, p99, first))


def bench_vocos(
    generator: VocosGenerator, label: str, opts: BenchOptions, report: BenchReport
) -> None:
    """Time ``generator.stream_step`` and :class:`FastVocos` at every chunk size."""
    c = generator.config
    report.models[label] = f"dim {c.dim}, intermediate {c.intermediate_dim}, {c.n_layers} layers"
    hop = c.hop
    fasts: dict[str, FastVocos] = {}
    for precision in opts.precisions:
        t0 = time.perf_counter()
        fasts[precision] = FastVocos.from_generator(generator, precision)
        fasts[precision].warmup(opts.chunks)
        report.build_s[f"{label} fast {precision}"] = time.perf_counter() - t0
    for n in opts.chunks:
        inputs = _inputs(hop * n, seed=opts.seed)
        audio_ms = 1e3 * hop * n / generator.config.sample_rate
        state = generator.new_stream_state(1)

        def eager(x: torch.Tensor, state=state) -> torch.Tensor:
            with torch.inference_mode():
                return generator.stream_step(x, state)

        paths = [StepPath("fp32", eager, state.reset)]
        for precision, fast in fasts.items():
            fstate = fast.new_state(1)
            step = partial(fast.stream_step, state=fstate)
            paths.append(StepPath(f"fast {precision}", step, fstate.reset))
        timings = time_paths(paths, inputs, opts.warmup, opts.runs)
        for path, (med, p99, first) in zip(paths, timings, strict=True):
            report.rows.append(BenchRow(label, path.name, n, audio_ms, med, p99, first))


def vocos_models(opts: BenchOptions) -> list[tuple[str, VocosGenerator]]:
    """``(label, generator)`` for each requested size (seeded) and the weights file, if any."""
    models = [(f"vocos {s}", seeded_vocos(VOCOS_SIZES[s], seed=opts.seed)) for s in opts.sizes]
    if opts.vocoder_weights is not None:
        models.append(("vocos file", load_vocos(opts.vocoder_weights)))
    return [(label, m.eval().fold_weight_norm()) for label, m in models]


def run_bench(
    opts: BenchOptions,
    progress: Callable[[str], None] | None = None,
    vocos: list[tuple[str, VocosGenerator]] | None = None,
) -> BenchReport:
    """Time every requested row on ``opts.threads`` threads.

    ``vocos`` (label, generator) pairs default to :func:`vocos_models`.
    """
    report = BenchReport(threads=opts.threads, load_before=os.getloadavg())
    previous = torch.get_num_threads()
    torch.set_num_threads(opts.threads)
    try:
        if opts.codec:
            if progress:
                progress("codec")
            bench_codec(seeded_codec(seed=opts.seed), opts, report)
        for label, model in vocos_models(opts) if vocos is None else vocos:
            if progress:
                progress(label)
            bench_vocos(model, label, opts, report)
        if opts.pghi:
            if progress:
                progress("pghi")
            bench_pghi(opts, report)
    finally:
        torch.set_num_threads(previous)
    report.load_after = os.getloadavg()
    return report


def cpu_name() -> str:
    """The CPU model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_table(report: BenchReport) -> str:
    """The report as an aligned text table with a header of conditions."""
    head = (
        "model",
        "path",
        "frames",
        "audio ms",
        "median ms",
        "p99 ms",
        "first ms",
        "RTF",
        "target",
    )
    lines = [head]
    for r in report.rows:
        target = (
            ""
            if r.target_ms is None
            else f"<= {r.target_ms:g} " + ("ok" if r.median_ms <= r.target_ms else "MISSED")
        )
        lines.append(
            (
                r.model,
                r.path,
                str(r.frames),
                f"{r.audio_ms:.0f}",
                f"{r.median_ms:.3f}",
                f"{r.p99_ms:.3f}",
                f"{r.first_ms:.3f}",
                f"{r.rtf:.3f}",
                target,
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    rule = "  ".join("-" * w for w in widths)
    text = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in lines
    ]
    text.insert(1, rule)
    info = [
        f"torch {torch.__version__}, {report.threads} thread(s), {os.cpu_count()} x {cpu_name()}",
        "load average before/after: "
        + " / ".join(
            ", ".join(f"{v:.2f}" for v in lo) for lo in (report.load_before, report.load_after)
        ),
    ]
    info += [f"{label}: {desc}" for label, desc in report.models.items()]
    builds = ", ".join(f"{k} {v:.2f} s" for k, v in report.build_s.items())
    if builds:
        info.append(f"fast-path build + warm-up: {builds}")
    return "\n".join([*info, "", *text])
