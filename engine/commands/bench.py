"""``streamvox bench``: per-step time of the codec hop and the Vocos chunk, 1 thread."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.bench import (
    CHUNK_FRAMES,
    VOCOS_SIZES,
    BenchOptions,
    format_table,
    run_bench,
    vocos_models,
)
from engine.commands.errors import USER_ERRORS
from engine.models.fast_linear import PRECISIONS

QUICK_RUNS = 10
QUICK_WARMUP = 2
SPEECH_SECONDS = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    p = sub.add_parser(
        "bench",
        help="time one streaming step of each model (median, p99, first chunk, RTF)",
        description=(
            "Time the codec overlap-save hop and the Vocos chunk at several chunk sizes, mel "
            "included, for the model as loaded (fp32 eager) and the fast inference paths, on "
            "seeded weights. Other processes on the machine skew the numbers: the load average "
            "is printed with the table."
        ),
    )
    p.add_argument("--runs", type=int, default=300, help="timed steps per row (default 300)")
    p.add_argument("--warmup", type=int, default=30, help="untimed steps first (default 30)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as live)")
    p.add_argument(
        "--precision",
        default="int8",
        help=f"comma list of fast Vocos precisions from {', '.join(PRECISIONS)} (default int8)",
    )
    p.add_argument(
        "--sizes",
        default="seed,default",
        help=f"comma list of Vocos sizes from {', '.join(VOCOS_SIZES)} (default seed,default)",
    )
    p.add_argument(
        "--chunks",
        default=",".join(map(str, CHUNK_FRAMES)),
        help="comma list of Vocos chunk sizes in frames (default 1,2,5,10)",
    )
    p.add_argument("--no-codec", action="store_true", help="skip the codec rows")
    p.add_argument(
        "--vocoder-weights",
        type=Path,
        default=None,
        metavar="F",
        help="also time (and check, with --speech) a Vocos weights file",
    )
    p.add_argument(
        "--speech",
        type=Path,
        default=None,
        metavar="PATH",
        help="audio file or folder: also report each fast path's error against fp32 on "
        f"(up to {SPEECH_SECONDS:g} s of) it",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_RUNS} runs and {QUICK_WARMUP} warm-up steps per row",
    )
    p.set_defaults(func=run)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    """Validated :class:`BenchOptions` from the parsed command line (ValueError if bad)."""
    if args.runs < 1 or args.warmup < 0:
        raise ValueError(f"need --runs >= 1 and --warmup >= 0, got {args.runs}, {args.warmup}")
    try:
        chunks = tuple(int(c) for c in _csv(args.chunks))
    except ValueError:
        raise ValueError(f"--chunks must be a comma list of ints, got {args.chunks!r}") from None
    precisions = _csv(args.precision)
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ValueError(f"unknown precision(s) {bad}; choose from {', '.join(PRECISIONS)}")
    return BenchOptions(
        runs=QUICK_RUNS if args.quick else args.runs,
        warmup=QUICK_WARMUP if args.quick else args.warmup,
        threads=args.threads,
        precisions=precisions,
        sizes=_csv(args.sizes),
        chunks=chunks,
        codec=not args.no_codec,
        vocoder_weights=args.vocoder_weights,
    )


def _progress(what: str) -> None:
    print(f"bench: {what} ...", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Execute the command; returns the process exit code."""
    try:
        opts = options_from_args(args)
        speech = None
        if args.speech is not None:
            from engine.bench_accuracy import load_speech

            speech = load_speech(args.speech, max_seconds=SPEECH_SECONDS)
        models = vocos_models(opts)
        report = run_bench(opts, _progress, models)
        print(format_table(report))
        if speech is not None:
            print()
            print(_accuracy(opts, models, speech))
    except USER_ERRORS as exc:
        print(f"streamvox bench: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _accuracy(opts: BenchOptions, models: list, speech) -> str:
    from engine.bench_accuracy import codec_accuracy, format_accuracy, vocos_accuracy
    from engine.models.codec_checkpoint import seeded_codec

    rows = []
    if opts.codec:
        _progress("accuracy codec")
        rows.append(codec_accuracy(seeded_codec(seed=opts.seed), speech))
    for label, model in models:
        _progress(f"accuracy {label}")
        rows += vocos_accuracy(model, label, speech, ("fp32", *opts.precisions))
    return format_accuracy(rows, len(speech) / 16000)
