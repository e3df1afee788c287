"""``streamvox link receive|send``: the codec (or Opus) over a real UDP link, headless.

``receive`` writes what it would play (silence while nothing arrives) and
prints the link's stats; ``send`` sends a file paced in real time through
the impairment simulator. See :mod:`engine.link`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from engine.chain import CODEC_STREAMS
from engine.commands.errors import USER_ERRORS
from engine.stage import SAMPLE_RATE


def add_impairment_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The impairment simulator's options, shared by ``link send`` and ``run``."""
    p.add_argument("--loss", type=float, default=0.0, metavar="PCT",
                   help="simulated packet loss on the way out, %%")  # fmt: skip
    p.add_argument("--burst", type=float, default=1.0, metavar="N",
                   help="mean loss burst in packets (two-state model above 1)")  # fmt: skip
    p.add_argument("--jitter-ms", type=float, default=0.0, metavar="J",
                   help="extra delay of each packet, uniform in 0..J ms")  # fmt: skip
    p.add_argument("--reorder", type=float, default=0.0, metavar="PCT",
                   help="packets held back 1-3 frames, %%")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, metavar="N", help="impairment seed")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``link`` subcommand and its ``receive`` and ``send`` commands."""
    p = sub.add_parser(
        "link",
        help="send or receive the codec (or Opus) over UDP, with jitter buffer and impairments",
        description=(
            "Talk through the codec over a real network: 'send' encodes a file and sends one "
            "packet per hop over UDP, paced in real time, optionally through a seeded "
            "impairment simulator; 'receive' plays the packets through an adaptive jitter "
            "buffer and packet-loss concealment into a file and prints the link's stats."
        ),
    )
    link = p.add_subparsers(dest="link_command", metavar="receive|send|measure", required=True)
    _register_receive(link)
    _register_send(link)
    _register_measure(link)


def _register_measure(link: argparse._SubParsersAction) -> None:
    from engine.link.concealment import DEFAULT_STRATEGY

    m = link.add_parser(
        "measure",
        help="PESQ-WB / STOI over a simulated lossy link, per chain, loss rate and concealment",
        description=(
            "Send each file through the link as 'send' and 'receive' do, on a simulated clock "
            "(the same impairment simulator, jitter buffer and concealment), and print a "
            "markdown table of PESQ-WB and STOI against the input. Arguments starting with @ "
            "are read as lists of paths, one per line."
        ),
        fromfile_prefix_chars="@",
    )
    m.add_argument("inputs", nargs="+", metavar="DIR_OR_FILES")
    m.add_argument("--chains", default="codec,opus", help="comma list of codec, opus")
    m.add_argument("--conceal", default=DEFAULT_STRATEGY,
                   help="comma list of codec concealments to compare")  # fmt: skip
    m.add_argument("--losses", default="0,2,5,10,20", help="comma list of loss %%")
    m.add_argument("--burst", type=float, default=1.0, metavar="N")
    m.add_argument("--jitter-ms", type=float, default=0.0, metavar="J")
    m.add_argument("--seed", type=int, default=0, metavar="N")
    m.add_argument("--codec-weights", type=Path, default=None, metavar="F")
    m.add_argument("--opus-kbps", type=float, default=None, metavar="K",
                   help="Opus bitrate (default 18.7; the codec's true rate is fair)")  # fmt: skip
    m.set_defaults(func=_guarded(_measure, "measure"))


def _measure(args: argparse.Namespace) -> int:
    from engine.evaluate import collect_files
    from engine.link.concealment import STRATEGIES
    from engine.link.endpoints import SEND_CHAINS
    from engine.link.measure import HEADER, Condition, measure

    _set_threads(1)
    files = collect_files(args.inputs)
    chains = [c.strip() for c in args.chains.split(",") if c.strip()]
    conceals = [c.strip() for c in args.conceal.split(",") if c.strip()]
    losses = [float(v) / 100 for v in args.losses.split(",") if v.strip()]
    for c in chains:
        if c not in SEND_CHAINS:
            raise ValueError(f"--chains: '{c}' is not one of {', '.join(SEND_CHAINS)}")
    for c in conceals:
        if c not in STRATEGIES:
            raise ValueError(f"--conceal: '{c}' is not one of {', '.join(STRATEGIES)}")
    conditions = [
        Condition(chain, conceal, loss, args.jitter_ms / 1000, args.burst)
        for chain in chains
        for conceal in (conceals if chain == "codec" else ["fec"])
        for loss in losses
    ]
    print(f"{len(files)} files, seed {args.seed}")
    print(HEADER, flush=True)
    measure(files, conditions, args.seed, lambda line: print(line, flush=True),
            args.codec_weights, _opus_bps(args))  # fmt: skip
    return 0


def _register_receive(link: argparse._SubParsersAction) -> None:
    from engine.link.concealment import DEFAULT_STRATEGY, STRATEGIES
    from engine.link.endpoints import RECEIVE_CHAINS
    from engine.link.receiver import DEFAULT_BIND

    r = link.add_parser(
        "receive",
        help="receive a stream and write what would be played",
        description=(
            "Listen on --bind:--port (default 127.0.0.1) for one stream, decode it through the "
            "jitter buffer and concealment, write what would be played to OUT (silence while "
            "nothing arrives) and print the stats. Stops after --seconds of output, else when "
            "the stream has ended (or on Ctrl-C)."
        ),
    )
    r.add_argument("--port", type=int, default=None, metavar="P", help="UDP port (0: any free)")
    r.add_argument("--bind", default=DEFAULT_BIND, metavar="ADDR")
    r.add_argument("--out", type=Path, required=True, metavar="OUT.wav")
    r.add_argument("--seconds", type=float, default=None, metavar="S")
    r.add_argument("--chain", default="codec", choices=RECEIVE_CHAINS)
    _add_codec_options(r)
    r.add_argument("--vocoder-weights", type=Path, default=None, metavar="F")
    r.add_argument("--conceal", choices=STRATEGIES, default=DEFAULT_STRATEGY,
                   help=f"codec packet-loss concealment (default {DEFAULT_STRATEGY})")  # fmt: skip
    r.add_argument("--delay-ms", type=float, default=None, metavar="D",
                   help="jitter buffer's starting and least delay (default one frame)")  # fmt: skip
    r.add_argument("--max-delay-ms", type=float, default=500.0, metavar="D")
    r.add_argument(
        "--fixed-delay",
        action="store_true",
        help="keep the starting delay (no adaptation; late packets are concealed)",
    )
    r.add_argument("--stats-json", type=Path, default=None, metavar="F",
                   help="also write the stats as JSON")  # fmt: skip
    r.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    r.add_argument(
        "--peer-protocol",
        choices=("link", "seed"),
        default="link",
        help="link: streamvox's UDP packets (default); seed: connect to a seed streaming "
        "server over TCP (--from), read through a restricted unpickler",
    )
    r.add_argument("--from", dest="peer", default=None, metavar="HOST:PORT",
                   help="the seed server to connect to (--peer-protocol seed)")  # fmt: skip
    r.set_defaults(func=_guarded(_receive, "receive"))


def _add_codec_options(p: argparse.ArgumentParser) -> None:
    """The options both ends take for what they encode or decode."""
    p.add_argument("--codec-weights", type=Path, default=None, metavar="F")
    p.add_argument("--stream", choices=CODEC_STREAMS, default=None, help="codec stream mode")
    p.add_argument("--opus-kbps", type=float, default=None, metavar="K",
                   help="Opus bitrate (--chain opus; default 18.7; ends agree)")  # fmt: skip


def _register_send(link: argparse._SubParsersAction) -> None:
    from engine.link.endpoints import SEND_CHAINS

    s = link.add_parser(
        "send",
        help="send a file to a receiver, paced in real time",
        description=(
            "Encode IN hop by hop and send it to HOST:PORT over UDP in real time, each packet "
            "through the impairment simulator (seeded: the same --seed loses the same packets)."
        ),
    )
    s.add_argument("input", type=Path, metavar="IN.wav")
    s.add_argument("--to", default=None, metavar="HOST:PORT", help="the receiver (UDP)")
    s.add_argument("--chain", default="codec", choices=SEND_CHAINS)
    _add_codec_options(s)
    add_impairment_options(s)
    s.add_argument("--duplicate", type=float, default=0.0, metavar="PCT",
                   help="packets sent twice, %%")  # fmt: skip
    s.add_argument("--stream-id", type=int, default=None, metavar="N",
                   help="the stream id (default random)")  # fmt: skip
    s.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    s.add_argument(
        "--peer-protocol",
        choices=("link", "seed"),
        default="link",
        help="link: streamvox's UDP packets (default); seed: serve one seed streaming client "
        "over TCP on --listen",
    )
    s.add_argument(
        "--listen",
        default=None,
        metavar="[ADDR:]PORT",
        help="where to wait for a seed client (--peer-protocol seed; ADDR 127.0.0.1)",
    )
    s.set_defaults(func=_guarded(_send, "send"))


def _guarded(fn, name: str):
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except USER_ERRORS as exc:
            print(f"streamvox link {name}: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # e.g. the port is taken, the address is not ours
            print(f"streamvox link {name}: error: {exc.strerror or exc}", file=sys.stderr)
            return 2

    return run


def _stream(args: argparse.Namespace) -> str | None:
    """The codec's stream mode: as asked, else the weights' own.

    The seed's protocol carries whole overlap-save windows: oas unless asked.
    """
    if args.stream is None and args.peer_protocol == "seed":
        return "oas"
    return args.stream


def _opus_bps(args: argparse.Namespace) -> int | None:
    """``--opus-kbps`` in bit/s (None: the link's default)."""
    return None if args.opus_kbps is None else round(args.opus_kbps * 1000)


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))


def _receive(args: argparse.Namespace) -> int:
    import soundfile as sf

    from engine.atomic_file import replacing
    from engine.audiofile import check_writable
    from engine.link.endpoints import make_decoder
    from engine.link.receiver import LinkReceiver, UdpSource

    if args.peer_protocol == "seed":
        if args.peer is None or args.port is not None or args.chain == "opus":
            raise ValueError("--peer-protocol seed takes --from HOST:PORT (no --port) and a codec")
    elif args.port is None or not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535 (0: any free port), got {args.port}")
    if args.seconds is not None and not 0 < args.seconds <= 24 * 3600:
        raise ValueError(f"--seconds must be in (0, 86400], got {args.seconds}")
    check_writable(args.out)
    _set_threads(args.threads)
    decoder = make_decoder(
        args.chain,
        args.codec_weights,
        args.vocoder_weights,
        _stream(args),
        args.conceal,
        opus_bps=_opus_bps(args),
    )
    ms = 1e-3
    if args.peer_protocol == "seed":
        from engine.link.seed_peer import SeedSource
        from engine.link.sender import parse_address

        source = SeedSource(*parse_address(args.peer), decoder.stage)
        where = f"connected to:     {source.address[0]}:{source.address[1]} (seed protocol)"
    else:
        source = UdpSource(args.port, args.bind)
        where = f"listening on:     {source.address[0]}:{source.address[1]}"
    receiver = LinkReceiver(
        decoder,
        source,
        min_delay_s=None if args.delay_ms is None else args.delay_ms * ms,
        max_delay_s=args.max_delay_ms * ms,
        adaptive=not args.fixed_delay,
    )
    stopping = []
    previous = {s: signal.signal(s, lambda *_: stopping.append(1))
                for s in (signal.SIGINT, signal.SIGTERM)}  # fmt: skip
    print(where, flush=True)
    try:
        with replacing(args.out, suffix=".part") as tmp:
            fmt = args.out.suffix.lstrip(".").upper()
            with sf.SoundFile(tmp, "w", SAMPLE_RATE, 1, format=fmt) as f:
                stats = receiver.run(lambda x: f.write(x.clip(-1.0, 1.0)), args.seconds,
                                     stop=lambda: bool(stopping))  # fmt: skip
    finally:
        receiver.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    report = _receive_report(args, receiver, stats)
    for key, value in report.items():
        print(f"{key + ':':<18}{value}")
    print(f"{'wrote:':<18}{args.out}")
    if args.stats_json is not None:
        args.stats_json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _receive_report(args, receiver, stats) -> dict:
    import numpy as np

    b = stats.buffer
    ms = 1000.0
    one_way = np.median(stats.one_way_s) * ms if stats.one_way_s else None
    dec = receiver.decoder
    start = stats.start_sample
    return {
        "chain": args.chain,
        "frame samples": receiver.frame,
        "datagrams": stats.datagrams,
        "rejected": stats.rejected_total,
        "rejected by reason": dict(sorted(stats.rejected.items())),
        "received": b.accepted,
        "lost": b.lost,
        "late": b.late,
        "duplicated": b.duplicates,
        "reordered": b.reordered,
        "overflow": b.overflow,
        "played": b.played,
        "concealed": b.concealed,
        "inserted": b.inserted,
        "skipped": b.skipped,
        "fec recovered": stats.fec_recovered,
        "undecodable": stats.undecodable,
        "streams": b.streams,
        "jitter ms": round(b.jitter_s * ms, 2),
        "buffer delay ms": round(b.delay_s * ms, 1),
        "buffer target ms": round(b.target_s * ms, 1),
        "buffer max ms": round(b.max_delay_seen_s * ms, 1),
        "one-way ms": None if one_way is None else round(float(one_way), 2),
        "start sample": start,
        "aligned start": None if start is None else start + dec.delay,
        "samples": stats.samples_written,
    }


def _send(args: argparse.Namespace) -> int:
    from engine.audiofile import read_mono_16k
    from engine.link.endpoints import make_encoder
    from engine.link.impairment import ImpairmentConfig
    from engine.link.sender import parse_address, send_signal

    if args.peer_protocol == "seed":
        return _serve_seed(args)
    if args.to is None or args.listen is not None:
        raise ValueError("the link sends to --to HOST:PORT (--listen is for --peer-protocol seed)")
    to = parse_address(args.to)
    pct = 0.01
    impairment = ImpairmentConfig(
        loss=args.loss * pct,
        burst=args.burst,
        jitter_s=args.jitter_ms / 1000.0,
        reorder=args.reorder * pct,
        duplicate=args.duplicate * pct,
        seed=args.seed,
    )
    audio = read_mono_16k(args.input)
    _set_threads(args.threads)
    encoder = make_encoder(args.chain, args.codec_weights, args.stream, _opus_bps(args))
    print(f"sending to:       {to[0]}:{to[1]}", flush=True)
    report = send_signal(audio.samples, encoder, to, impairment, args.stream_id)
    sim = report.impairment
    print(f"stream id:        {report.stream_id}")
    print(f"frames:           {report.frames} of {encoder.frame_samples} samples "
          f"({report.audio_s:.3f} s) in {report.seconds:.3f} s")  # fmt: skip
    print(f"datagrams:        {report.datagrams}")
    print(f"payload:          {report.payload_bitrate_bps / 1000:.2f} kbit/s")
    print(f"simulated:        {sim.lost} lost, {sim.duplicated} duplicated, "
          f"{sim.reordered} reordered")  # fmt: skip
    print(f"max behind:       {report.max_behind_s * 1000:.1f} ms")
    return 0


def _serve_seed(args: argparse.Namespace) -> int:
    from engine.audiofile import read_mono_16k
    from engine.link.endpoints import make_encoder
    from engine.link.receiver import DEFAULT_BIND
    from engine.link.seed_peer import serve_seed

    impaired = (args.loss, args.jitter_ms, args.reorder, args.duplicate) != (0, 0, 0, 0)
    if args.listen is None or args.to is not None or args.chain != "codec" or impaired:
        raise ValueError(
            "--peer-protocol seed takes --listen [ADDR:]PORT (no --to), the codec chain and no "
            "impairment (TCP)"
        )
    bind, _, port = args.listen.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen: expected [ADDR:]PORT, got '{args.listen}'")
    audio = read_mono_16k(args.input)
    _set_threads(args.threads)
    stage = make_encoder("codec", args.codec_weights, _stream(args)).stage
    sent = serve_seed(audio.samples, stage, bind.strip("[]") or DEFAULT_BIND, int(port),
                      lambda a: print(f"listening on:     {a[0]}:{a[1]} (seed protocol)",
                                      flush=True))  # fmt: skip
    print(f"messages:         {sent} (one overlap-save window each)")
    return 0
