"""``streamvox decode IN.svx OUT``: a token file back to audio, as the codec's receiver."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from engine.audiofile import check_writable, write_audio
from engine.commands.errors import reporting_errors
from engine.stage import SAMPLE_RATE


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``decode`` subcommand."""
    p = sub.add_parser(
        "decode",
        help="decode a .svx token file (from 'streamvox encode') to audio",
        description=(
            "Read the token file IN.svx, check that it fits the codec weights (the header "
            "records their fingerprint), decode every hop and write OUT at 16 kHz mono: "
            "sample for sample what 'streamvox process --chain codec' writes."
        ),
    )
    p.add_argument("input", type=Path, metavar="IN.svx")
    p.add_argument("output", type=Path, metavar="OUT")
    p.add_argument("--codec-weights", type=Path, default=None, metavar="F")
    p.add_argument(
        "--seam-fade",
        type=int,
        default=None,
        metavar="N",
        help="cross-fade each hop's seam over N samples (default: what the weights record; "
        "0: the seed's hard cut); the receiver's choice, the tokens are the same. "
        "As 'process --chain codec@fadeN', but for the last samples when N is longer than "
        "the fade the file was encoded for (they come after its last hop: silent)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as live)")
    p.set_defaults(func=run)


def _run(args: argparse.Namespace) -> int:
    from engine.chain import load_codec_model
    from engine.models.codec.stage import CodecStage
    from engine.token_file import read_token_file
    from engine.token_stream import check_fits, check_weights, decode_signal, stream_of

    check_writable(args.output)
    header, tokens = read_token_file(args.input)
    model = load_codec_model(args.codec_weights)
    check_weights(header, model, str(args.input))  # before the slow fast-path set-up
    torch.set_num_threads(max(1, args.threads))
    stream = stream_of(header, str(args.input))
    stage = CodecStage(model, precision="fp32", stream=stream, seam_fade=args.seam_fade)
    check_fits(header, stage, str(args.input))
    clipped = write_audio(args.output, decode_signal(stage, tokens, header.sample_count))
    print(f"audio duration:   {header.sample_count / SAMPLE_RATE:.3f} s")
    print(f"token stream:     {header.hop_count} hops ({header.mode_name})")
    print(f"wrote:            {args.output}")
    if clipped:
        print(f"streamvox decode: warning: {clipped} output samples clipped to [-1, 1]")
    return 0


run = reporting_errors("decode", _run)
