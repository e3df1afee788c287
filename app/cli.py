"""The ``streamvox`` command line: the GUI by default, subcommands otherwise.

This is the one place that knows both front ends (the engine knows
neither). Each subcommand lives in ``engine/commands/<name>.py`` and
exposes ``register(subparsers)``, which adds its parser and sets
``func(args) -> int``; ``self-test`` gets the GUI check from here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from app.smoke import check_gui

COMMANDS = (
    "process", "encode", "decode", "evaluate", "models", "bench", "devices", "run", "selftest",
    "link",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """Create the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="streamvox",
        description="Monitor a voice live through a streaming neural codec and vocoder.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"engine.commands.{name}").register(sub)
    sub.choices["self-test"].set_defaults(front_end_checks=(check_gui,))
    return parser


def run_gui() -> int:
    """Start the desktop app (Qt is imported only now: the subcommands never load it)."""
    try:
        gui = importlib.import_module("app.main")
    except ImportError as exc:
        print(f"streamvox: the GUI is not available: {exc}", file=sys.stderr)
        return 2
    return int(gui.main())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``streamvox`` console script."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        return run_gui()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
