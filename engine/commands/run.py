"""``streamvox run``: the live chain without a GUI, one metrics line per second."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time

from engine.chain import DEFAULT_CHUNK, SYNTAX
from engine.commands.link import add_impairment_options
from engine.stage import MAX_CHUNK, MIN_CHUNK


def _device(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    p = sub.add_parser(
        "run",
        help="run the live chain headless and print metrics once per second",
        description=(
            "Open INPUT and OUTPUT (index or name from 'streamvox devices'; default devices "
            "if omitted), run the chain live and print one line of metrics per second: "
            "levels, latency, engine load, xruns by cause, stage timings. "
            "Slots A and B each hold a tap (any chain: dry, codec, vocoder, codec+vocoder, "
            "opus@9.3, mulaw, opus+vocoder ...), time-aligned; --hear picks one, --flip "
            "switches between them."
        ),
    )
    p.add_argument("--input", default=None, metavar="I", help="input device (index or name)")
    p.add_argument("--output", default=None, metavar="O", help="output device (index or name)")
    p.add_argument("--hostapi", default=None, help="restrict devices to a host API (e.g. JACK)")
    p.add_argument("--chain", default="codec,vocoder", help=f"what B holds by default: {SYNTAX}")
    p.add_argument("--a", default=None, metavar="TAP", help="tap on slot A (default: dry)")
    p.add_argument("--b", "--tap", dest="b", default=None, metavar="TAP",
                   help="tap on slot B (default: the --chain)")  # fmt: skip
    p.add_argument("--hear", default="B", choices=("A", "B"), help="slot heard first")
    p.add_argument("--flip", type=float, default=0.0, metavar="S",
                   help="switch between A and B every S seconds (0: never)")  # fmt: skip
    p.add_argument(
        "--chunk",
        type=int,
        default=DEFAULT_CHUNK,
        help=f"vocoder chunk in mel frames ({MIN_CHUNK}..{MAX_CHUNK})",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="run time (0: until Ctrl-C)")
    p.add_argument("--block", type=int, default=256, help="device block size in frames")
    p.add_argument("--rate", type=int, default=None, help="device sample rate (default: device's)")
    p.add_argument("--latency", default="low", help="PortAudio latency: low, high or seconds")
    p.add_argument("--margin", type=float, default=None, metavar="MS",
                   help="output safety margin beyond one block, ms (default: sized from "
                        "the stages' measured step time)")  # fmt: skip
    p.add_argument("--fixed-margin", action="store_true",
                   help="never grow the margin after an output underrun")  # fmt: skip
    p.add_argument("--in-channels", type=int, default=1, choices=(1, 2))
    p.add_argument("--out-channels", type=int, default=None, choices=(1, 2))
    p.add_argument("--resampler", default="fir", help="fir (low latency) or soxr-lq/mq/hq/vhq")
    p.add_argument("--codec-weights", default=None, metavar="F")
    p.add_argument("--vocoder-weights", default=None, metavar="F")
    _register_link(p)
    p.set_defaults(func=run)


def _register_link(p: argparse.ArgumentParser) -> None:
    """The codec link's options (see ``streamvox link`` and docs/link.md)."""
    g = p.add_argument_group(
        "codec link",
        "send the live input to a peer and/or play what a peer sends as the 'link' tap "
        "(put it on a slot: --a link, or --b link+vocoder); the impairment also applies to "
        "the taps simlink@codec and simlink@opus (the input over a simulated link)",
    )
    g.add_argument("--link-to", default=None, metavar="HOST:PORT",
                   help="send the live 16 kHz input there over UDP")  # fmt: skip
    g.add_argument("--link-listen", type=int, default=None, metavar="PORT",
                   help="receive on this UDP port (0: any free port) for the link tap")  # fmt: skip
    g.add_argument("--link-bind", default="127.0.0.1", metavar="ADDR",
                   help="the address --link-listen binds (default 127.0.0.1)")  # fmt: skip
    g.add_argument("--link-chain", default="codec", choices=("codec", "opus"),
                   help="what the link carries, both ways (default codec)")  # fmt: skip
    add_impairment_options(g)


def _link_commands(args: argparse.Namespace) -> list:
    """The ``LinkSend`` / ``LinkListen`` commands the options ask for (ValueError if bad)."""
    from engine.live import control as cmd

    out: list = []
    impaired = (args.loss, args.burst, args.jitter_ms, args.reorder) != (0.0, 1.0, 0.0, 0.0)
    if args.link_to is not None or impaired:  # without a peer: the simlink@ taps' impairment
        out.append(cmd.LinkSend(args.link_to, args.link_chain, args.loss, args.burst,
                                args.jitter_ms, args.reorder, args.seed))  # fmt: skip
    if args.link_listen is not None:
        out.append(cmd.LinkListen(args.link_listen, args.link_bind, args.link_chain))
    return out


def _latency(text: str) -> str | float:
    """``low``, ``high`` or a positive number of seconds, else a clear ValueError."""
    if text in ("low", "high"):
        return text
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"--latency must be low, high or a number of seconds > 0, got {text!r}")
    return seconds


def _spec(args: argparse.Namespace):
    from engine.audio.stream import StreamSpec

    latency = _latency(args.latency)
    return StreamSpec(
        input=_device(args.input),
        output=_device(args.output),
        hostapi=args.hostapi,
        rate=args.rate,
        block=args.block,
        latency=latency,
        in_channels=args.in_channels,
        out_channels=args.out_channels,
    )


def run(args: argparse.Namespace) -> int:
    """Run; exit 0 if the stream runs at the end, 1 if it stopped, 2 if it never started."""
    from engine.live import control as cmd
    from engine.live.engine import Engine, EngineOptions
    from engine.live.latency import summary_line

    try:
        start = cmd.Start(
            _spec(args),
            chain=args.chain,
            chunk=args.chunk,
            margin_ms=args.margin,
            adaptive=not args.fixed_margin,
        )
        slots = [cmd.AssignTap(slot, tap) for slot, tap in (("A", args.a), ("B", args.b)) if tap]
        slots += _link_commands(args)
        if args.flip < 0:
            raise ValueError(f"--flip must be >= 0 seconds, got {args.flip}")
        if not (args.seconds >= 0 and math.isfinite(args.seconds)):
            raise ValueError(f"--seconds must be >= 0 (0: until Ctrl-C), got {args.seconds}")
        options = EngineOptions(quality=args.resampler)
    except ValueError as exc:
        print(f"streamvox run: {exc}", file=sys.stderr)
        return 2
    engine = Engine(options=options, codec_weights=args.codec_weights,
                    vocoder_weights=args.vocoder_weights)  # fmt: skip
    stop = {"now": False}
    previous = signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    errors = 0
    try:
        for assign in slots:
            engine.send(assign)
        engine.send(cmd.SelectSlot(args.hear))
        engine.send(start)
        snap = _wait_started(engine)
        if snap.state != "running":
            print(f"streamvox run: cannot start: {snap.error}", file=sys.stderr)
            return 2
        s = snap.status
        print(f"A={s.slot_a} B={s.slot_b} hearing {s.selected}", flush=True)
        _print_link(engine, args)
        began = time.monotonic()
        next_line = began + 1.0
        hear, next_flip = args.hear, began + args.flip
        while not stop["now"] and (args.seconds <= 0 or time.monotonic() - began < args.seconds):
            time.sleep(max(0.0, min(0.05, next_line - time.monotonic())))
            if args.flip and time.monotonic() >= next_flip:
                hear = "A" if hear == "B" else "B"
                engine.send(cmd.SelectSlot(hear))
                next_flip += args.flip
            if time.monotonic() >= next_line:
                snap = engine.snapshot()
                errors += snap.state != "running"
                print(f"{time.monotonic() - began:6.1f}s {summary_line(snap)}", flush=True)
                next_line += 1.0
        final = engine.snapshot()
        _final_report(final)
    finally:
        signal.signal(signal.SIGINT, previous)
        engine.close()
    return exit_code(errors, final.state)


def exit_code(error_seconds: int, final_state: str) -> int:
    """0 when the stream runs at the end (recovered interruptions are reported, not failed).

    An audio-server restart stops the stream for a few seconds and the
    engine reopens it; that is the recovery working, not a failed run.
    """
    if final_state == "running":
        if error_seconds:
            print(f"recovered: the stream was interrupted for about {error_seconds} s")
        return 0
    return 1


def _wait_started(engine, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    snap = engine.snapshot()
    while time.monotonic() < deadline:
        snap = engine.snapshot()
        if snap.state in ("running", "error"):
            return snap
        time.sleep(0.02)
    return snap


def _print_link(engine, args: argparse.Namespace, timeout: float = 60.0) -> None:
    """Once the link's ends are up (or failed), where they are: a peer needs the port."""
    if args.link_to is None and args.link_listen is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        link = engine.snapshot().link
        up = link is not None and (args.link_to is None or link.sending_to) and (
            args.link_listen is None or link.listening_on)  # fmt: skip
        if link is not None and (up or link.error):
            break
        time.sleep(0.02)
    if link is None:
        print("link: not up yet", flush=True)
        return
    if link.listening_on:
        print(f"link listening on: {link.listening_on} ({link.receive_chain})", flush=True)
    if link.sending_to:
        print(f"link sending to: {link.sending_to} ({link.send_chain})", flush=True)
    if link.error:
        print(f"link error: {link.error}", flush=True)


def _final_report(snap) -> None:
    x, lat = snap.xruns, snap.latency
    print(
        f"summary: state={snap.state} frames={snap.frames} latency={lat.total_ms:.1f} ms "
        f"load={100 * snap.load:.0f}% xruns: input overflow {x.input_overflow}, "
        f"output underflow {x.output_underflow}, ring overrun {x.ring_overrun}, "
        f"ring underrun {x.ring_underrun} ({x.ring_underrun_frames} frames)"
    )
    if snap.link is not None:
        print(f"  {snap.link.line()}")
    for name, t in snap.timings.items():
        if t.steps:
            print(
                f"  {name}: last {t.last_ms:.2f} median {t.median_ms:.2f} p99 {t.p99_ms:.2f} "
                f"max {t.max_ms:.2f} ms over {t.steps} steps"
            )
