"""``streamvox bench``: per-step time of the codec hop and the Vocos chunk, 1 thread.

``streamvox bench --live`` instead measures the live chain through a JACK
server: glass-to-glass latency (measured and reported), engine load and
dropouts per chain, chunk and block (see :mod:`engine.measure.live_bench`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.commands.errors import USER_ERRORS
from engine.measure.live_bench import CHAINS, LIVE_BLOCKS, LIVE_CHUNKS, LiveOptions
from engine.measure.step_bench import (
    CHUNK_FRAMES,
    VOCOS_SIZES,
    BenchOptions,
    format_table,
    run_bench,
    vocos_models,
)
from engine.models.fast_linear import PRECISIONS

QUICK_RUNS = 10
QUICK_WARMUP = 2
SPEECH_SECONDS = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    p = sub.add_parser(
        "bench",
        help="time one streaming step of each model (median, p99, first chunk, RTF); "
        "--live: glass-to-glass latency of the live chain through JACK",
        description=(
            "Time the codec overlap-save hop and the Vocos chunk at several chunk sizes, mel "
            "included, for the model as loaded (fp32 eager) and the fast inference paths, on "
            "seeded weights, and one frame of the classical vocoder (chain pghi). Other "
            "processes on the machine skew the numbers: the load average is printed with the "
            "table. With --live, run the live engine through a JACK server "
            "(one 'jackd --no-realtime -S -d dummy -r RATE -p BLOCK' per block size, or "
            "--jack-server) and measure glass-to-glass latency per chain, chunk and block, "
            "with the engine's load and dropouts."
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
        default=None,
        help="comma list of Vocos chunk sizes in frames (default 1,2,5,10; --live: 1,2,5)",
    )
    p.add_argument("--no-codec", action="store_true", help="skip the codec rows")
    p.add_argument(
        "--no-pghi", action="store_true", help="skip the classical vocoder (chain pghi) rows"
    )
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
    _register_live(p)
    p.set_defaults(func=run)


def _register_live(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live chain (--live)")
    g.add_argument("--live", action="store_true", help="measure the live chain through JACK")
    g.add_argument(
        "--chains",
        default=",".join(CHAINS),
        help=f"comma list of chains (default {','.join(CHAINS)})",
    )
    g.add_argument(
        "--blocks",
        default=",".join(map(str, LIVE_BLOCKS)),
        help="comma list of block sizes = JACK periods in frames (default 128,256)",
    )
    g.add_argument("--rate", type=int, default=48000, help="sample rate (default 48000)")
    g.add_argument("--probes", type=int, default=3, help="latency probes per row (default 3)")
    g.add_argument(
        "--seconds",
        type=float,
        default=5.0,
        help="run each row at least this long, for load and dropouts (default 5)",
    )
    g.add_argument(
        "--margin-ms",
        type=float,
        default=None,
        help="fixed output safety margin in ms (default: the engine's automatic, adaptive one)",
    )
    g.add_argument(
        "--jack-server",
        default=None,
        metavar="NAME",
        help="use this running JACK server (its period is the block) instead of starting jackd",
    )
    g.add_argument(
        "--jack-async",
        action="store_true",
        help="start the JACK servers without -S: a late client is then a server xrun (and "
        "garbles the probe) instead of a stretched cycle",
    )
    g.add_argument(
        "--cable",
        action="store_true",
        help="real devices (--input, --output) with a loopback cable from output to input, "
        "instead of JACK probe clients",
    )
    g.add_argument("--input", default=None, help="--cable: input device (default: the default)")
    g.add_argument("--output", default=None, help="--cable: output device (default: the default)")
    g.add_argument(
        "--toy",
        action="store_true",
        help="zero-delay pass-through stages instead of the models: the non-model latency",
    )


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    """Validated :class:`BenchOptions` from the parsed command line (ValueError if bad)."""
    if args.runs < 1 or args.warmup < 0:
        raise ValueError(f"need --runs >= 1 and --warmup >= 0, got {args.runs}, {args.warmup}")
    chunks = _ints(args.chunks, "--chunks") if args.chunks is not None else CHUNK_FRAMES
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
        pghi=not args.no_pghi,
        vocoder_weights=args.vocoder_weights,
    )


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in _csv(text))
    except ValueError:
        raise ValueError(f"{option} must be a comma list of ints, got {text!r}") from None


def live_options_from_args(args: argparse.Namespace) -> LiveOptions:
    """Validated :class:`LiveOptions` from the parsed command line (ValueError if bad)."""
    return LiveOptions(
        chains=_csv(args.chains),
        chunks=_ints(args.chunks, "--chunks") if args.chunks is not None else LIVE_CHUNKS,
        blocks=_ints(args.blocks, "--blocks"),
        rate=args.rate,
        probes=args.probes,
        seconds=args.seconds,
        margin_ms=args.margin_ms,
        server=args.jack_server,
        sync=not args.jack_async,
        cable=args.cable,
        input=args.input,
        output=args.output,
        toy=args.toy,
    )


def run_live(args: argparse.Namespace) -> int:
    """``--live``: print the live table; 1 if a probe was never found, 2 on bad options."""
    from engine.audio.errors import AudioError
    from engine.measure.live_bench import format_live_table, run_live_bench

    try:
        opts = live_options_from_args(args)
        factory = None
        if args.vocoder_weights is not None and not opts.toy:
            from engine.live.taps import ModelStageFactory

            factory = ModelStageFactory(None, args.vocoder_weights)
        rows = run_live_bench(opts, _progress, factory=factory)
    except (*USER_ERRORS, AudioError) as exc:
        print(f"streamvox bench: error: {exc}", file=sys.stderr)
        return 2
    print(format_live_table(rows, opts))
    missing = [f"{r.chain} chunk {r.chunk} block {r.block}" for r in rows if r.measured_ms is None]
    if missing:
        print(f"streamvox bench: probe not found for {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def _progress(what: str) -> None:
    print(f"bench: {what} ...", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Execute the command; returns the process exit code."""
    if args.live:
        return run_live(args)
    try:
        opts = options_from_args(args)
        speech = None
        if args.speech is not None:
            from engine.measure.bench_accuracy import load_speech

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
    from engine.measure.bench_accuracy import codec_accuracy, format_accuracy, vocos_accuracy
    from engine.models.codec.checkpoint import seeded_codec

    rows = []
    if opts.codec:
        _progress("accuracy codec")
        rows.append(codec_accuracy(seeded_codec(seed=opts.seed), speech))
    for label, model in models:
        _progress(f"accuracy {label}")
        rows += vocos_accuracy(model, label, speech, ("fp32", *opts.precisions))
    return format_accuracy(rows, len(speech) / 16000)
