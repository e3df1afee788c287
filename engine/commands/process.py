"""``streamvox process IN OUT``: run a chain offline, block by block as live."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from engine.audiofile import check_writable, read_mono_16k, write_audio
from engine.chain import (
    CHAINS,
    DEFAULT_CHUNK,
    DEFAULT_PRECISION,
    PRECISIONS,
    Chain,
    build_stages,
)
from engine.commands.errors import reporting_errors
from engine.output_paths import check_distinct
from engine.stage import MAX_CHUNK, MIN_CHUNK, SAMPLE_RATE, check_chunk

PROGRESS_MIN_SECONDS = 20.0  # show a progress bar for inputs longer than this


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``process`` subcommand."""
    p = sub.add_parser(
        "process",
        help="run a file through the chain offline, exactly as the live engine would",
        description=(
            "Read IN (any rate/channels soundfile reads), convert to 16 kHz mono, stream it "
            "through the chain block by block as the live engine does, and write OUT "
            "aligned with the input (the chain's latency is removed)."
        ),
    )
    p.add_argument("input", type=Path, metavar="IN")
    p.add_argument("output", type=Path, metavar="OUT")
    p.add_argument("--chain", default="codec,vocoder", help=f"one of {', '.join(CHAINS)}")
    p.add_argument(
        "--chunk",
        type=int,
        default=DEFAULT_CHUNK,
        help=f"vocoder chunk in mel frames ({MIN_CHUNK}..{MAX_CHUNK})",
    )
    p.add_argument(
        "--block", type=int, default=256, help="samples per block fed in (simulates a device)"
    )
    p.add_argument("--codec-weights", type=Path, default=None, metavar="F")
    p.add_argument("--vocoder-weights", type=Path, default=None, metavar="F")
    p.add_argument(
        "--write-original",
        type=Path,
        default=None,
        metavar="F",
        help="also write the 16 kHz mono input, for comparison (the seed's original_stream.wav)",
    )
    p.add_argument(
        "--precision",
        default=DEFAULT_PRECISION,
        choices=PRECISIONS,
        help="vocoder inference path (default int8; 'reference' = plain PyTorch models)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as live)")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(func=run)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return nullcontext(None)
    from tqdm import tqdm

    return tqdm(total=total, unit="smp", unit_scale=True, file=sys.stderr, desc="processing")


def _run(args: argparse.Namespace) -> int:
    if args.block <= 0:
        raise ValueError(f"--block must be positive, got {args.block}")
    check_chunk(args.chunk, "--chunk")
    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    check_distinct(
        {"IN": args.input}, {"OUT": args.output, "--write-original": args.write_original}
    )
    check_writable(args.output)
    if args.write_original is not None:
        check_writable(args.write_original)
    audio = read_mono_16k(args.input)
    if audio.non_finite:
        print(
            f"streamvox process: warning: {audio.non_finite} NaN/Inf samples in {args.input} "
            "were replaced by silence",
            file=sys.stderr,
        )
    torch.set_num_threads(max(1, args.threads))
    chain = Chain(
        build_stages(
            args.chain, args.chunk, args.codec_weights, args.vocoder_weights, args.precision
        )
    )
    x = audio.samples
    duration = len(x) / SAMPLE_RATE
    show = not args.no_progress and duration >= PROGRESS_MIN_SECONDS
    t0 = time.perf_counter()
    with _progress_bar(len(x) + chain.latency, show) as bar:
        y = chain.run_aligned(x, args.block, progress=None if bar is None else bar.update)
    elapsed = time.perf_counter() - t0
    clipped = write_audio(args.output, y)
    if args.write_original is not None:
        write_audio(args.write_original, x)
    _report(args, duration, elapsed, chain.latency, clipped)
    return 0


def _report(args, duration: float, elapsed: float, latency: int, clipped: int) -> None:
    rtf = elapsed / duration if duration > 0 else float("nan")
    print(f"chain:            {args.chain} (chunk {args.chunk}, block {args.block})")
    print(f"audio duration:   {duration:.3f} s")
    print(f"processing time:  {elapsed:.3f} s")
    print(f"RTF:              {rtf:.3f}")
    print(f"chain latency:    {latency} samples ({1000 * latency / SAMPLE_RATE:.1f} ms)")
    print(f"wrote:            {args.output}")
    if clipped:
        print(f"streamvox process: warning: {clipped} output samples clipped to [-1, 1]")


run = reporting_errors("process", _run)
