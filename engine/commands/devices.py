"""``streamvox devices``: the audio host APIs and devices PortAudio sees."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``devices`` subcommand."""
    p = sub.add_parser(
        "devices",
        help="list audio devices (use the index or a name with run --input/--output)",
        description=(
            "List PortAudio's host APIs and devices: channels, default sample rate and "
            "default low/high latency. '>' marks the default input, '<' the default output."
        ),
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _table(apis, devices) -> str:
    rows = [("", "#", "device", "host API", "in", "out", "rate", "latency in/out ms")]
    for d in devices:
        mark = (">" if d.is_default_input else " ") + ("<" if d.is_default_output else " ")
        lat_in = f"{1e3 * d.default_low_input_latency:.1f}" if d.max_input_channels else "-"
        lat_out = f"{1e3 * d.default_low_output_latency:.1f}" if d.max_output_channels else "-"
        rows.append((mark, str(d.index), d.name, d.hostapi, str(d.max_input_channels),
                     str(d.max_output_channels), f"{d.default_samplerate:g}",
                     f"{lat_in}/{lat_out}"))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    names = ", ".join(a.name for a in apis) or "none"
    return "\n".join([f"host APIs: {names}", *lines])


def run(args: argparse.Namespace) -> int:
    """Print the device list; exit 2 when PortAudio is unavailable."""
    from engine.audio.devices import query

    try:
        apis, devices = query()
    except (OSError, RuntimeError) as exc:  # no PortAudio library, or it failed to start
        print(f"streamvox: cannot list audio devices: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(
            {"hostapis": [asdict(a) for a in apis], "devices": [asdict(d) for d in devices]},
            sys.stdout,
            indent=1,
        )
        print()
    elif not devices:
        print("no audio devices found (is a sound server or sound card available?)")
    else:
        print(_table(apis, devices))
    return 0
