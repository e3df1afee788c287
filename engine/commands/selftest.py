"""``streamvox self-test``: check an install without audio hardware (see :mod:`engine.selftest`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.selftest import CheckResult, environment_summary, run_checks


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``self-test`` subcommand."""
    p = sub.add_parser(
        "self-test",
        help="check that the models load, every chain runs and the GUI opens (no audio needed)",
        description=(
            "Load the codec and vocoder weights, stream a short generated signal through "
            "each chain (dry, codec, vocoder, codec+vocoder, opus, mulaw) and create the main "
            "window offscreen in a child process. One line per check; exit code 1 if any "
            "check fails."
        ),
    )
    p.add_argument("--codec-weights", type=Path, default=None, metavar="F", help="default: bundled")
    p.add_argument(
        "--vocoder-weights", type=Path, default=None, metavar="F", help="default: bundled"
    )
    p.add_argument("--no-gui", action="store_true", help="skip the GUI check")
    # the front end that registers this command adds its own checks (streamvox: the GUI)
    p.set_defaults(func=run, front_end_checks=())


def _print(result: CheckResult) -> None:
    print(result.line(), flush=True)


def run(args: argparse.Namespace) -> int:
    """Run every check, one line each; 0 if all pass, 1 otherwise."""
    torch.set_num_threads(1)  # as live: the engine thread runs on one core
    print(environment_summary(), flush=True)
    extra = () if args.no_gui else args.front_end_checks
    results = run_checks(args.codec_weights, args.vocoder_weights, extra, _print)
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(
            f"streamvox self-test: FAILED: {len(failed)} of {len(results)} checks "
            f"({', '.join(failed)}); see the FAIL lines above",
            file=sys.stderr,
        )
        return 1
    print(f"streamvox self-test: all {len(results)} checks passed")
    return 0
