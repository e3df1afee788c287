"""``streamvox evaluate``: objective A/B metrics of chains on speech files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.chain import DEFAULT_CHUNK
from engine.classic.reference_stages import OPUS_LADDER_KBPS
from engine.commands.errors import USER_ERRORS
from engine.stage import MAX_CHUNK, MIN_CHUNK, check_chunk

DEFAULT_CHAINS = "dry,codec,vocoder,codec+vocoder,opus-ladder"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate",
        help="score chains on speech files (PESQ-WB, STOI, SI-SDR, mel distance, ...)",
        description=(
            "Run each chain over the files through the live streaming path, align the output "
            "by the declared latency (checked by cross-correlation) and report per-utterance "
            "scores and means with 95% confidence intervals. Arguments starting with @ are "
            "read as lists of paths, one per line."
        ),
        fromfile_prefix_chars="@",
    )
    p.add_argument("inputs", nargs="+", metavar="DIR_OR_FILES")
    p.add_argument(
        "--chains",
        default=DEFAULT_CHAINS,
        help=(
            f"comma list (default {DEFAULT_CHAINS}); opus-ladder = Opus at "
            f"{', '.join(f'{k:g}' for k in OPUS_LADDER_KBPS)} kbit/s"
        ),
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=DEFAULT_CHUNK,
        help=f"vocoder chunk in mel frames ({MIN_CHUNK}..{MAX_CHUNK})",
    )
    p.add_argument("--block", type=int, default=256, help="samples per streamed block")
    p.add_argument("--out", type=Path, default=Path("eval_report"), help="report folder")
    p.add_argument("--codec-weights", type=Path, default=None, metavar="F")
    p.add_argument("--vocoder-weights", type=Path, default=None, metavar="F")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute the command; returns the process exit code."""
    from tqdm import tqdm

    from engine.evaluate import (
        REPORT_NAMES,
        collect_files,
        evaluate,
        markdown_table,
        split_chain_list,
        write_reports,
    )
    from engine.report_folder import prepare_report_folder

    skipped: list[tuple[Path, str]] = []
    try:
        _check_numbers(args)
        files = collect_files(args.inputs)
        chains = split_chain_list(args.chains)
        prepare_report_folder(args.out, REPORT_NAMES.values())
        torch.set_num_threads(max(1, args.threads))
        with tqdm(
            total=len(files) * len(chains),
            file=sys.stderr,
            disable=args.no_progress,
            desc="evaluating",
            unit="utt",
        ) as bar:
            rows, summaries = evaluate(
                files,
                chains,
                chunk=args.chunk,
                block=args.block,
                codec_weights=args.codec_weights,
                vocoder_weights=args.vocoder_weights,
                progress=bar.update,
                on_skip=lambda path, why: _skip(skipped, path, why),
            )
        paths = write_reports(rows, summaries, args.out, skipped)
    except USER_ERRORS as exc:
        print(f"streamvox evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(summaries))
    print("reports: " + ", ".join(str(p) for p in paths.values()))
    return 0


def _check_numbers(args: argparse.Namespace) -> None:
    if args.block <= 0:
        raise ValueError(f"--block must be a positive number of samples, got {args.block}")
    check_chunk(args.chunk, "--chunk")


def _skip(skipped: list[tuple[Path, str]], path: Path, why: str) -> None:
    """Say at once that a file is left out (and keep it for the report)."""
    skipped.append((path, why))
    print(f"streamvox evaluate: skipped {path}: {why}", file=sys.stderr)
