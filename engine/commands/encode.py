"""``streamvox encode IN OUT.svx``: audio to a token file, the codec's stream as sent."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.audiofile import check_writable, read_mono_16k
from engine.chain import CODEC_STREAMS
from engine.commands.errors import reporting_errors
from engine.stage import SAMPLE_RATE


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``encode`` subcommand."""
    p = sub.add_parser(
        "encode",
        help="code audio into a .svx token file: what the codec sends",
        description=(
            "Read IN (any rate/channels soundfile reads), convert to 16 kHz mono and write "
            "the codec's token stream to OUT.svx: a versioned header, then every hop's tokens "
            "bit-packed, in the stream mode the weights were trained for (overlap-save: all 40 "
            "tokens of each window, 18.7 kbit/s for the seed's geometry; reuse: the 20 tokens "
            "of each hop's new samples, 9.33 kbit/s). 'streamvox decode' turns it back into "
            "exactly what 'streamvox process IN OUT --chain codec' writes."
        ),
    )
    p.add_argument("input", type=Path, metavar="IN")
    p.add_argument("output", type=Path, metavar="OUT.svx")
    p.add_argument("--codec-weights", type=Path, default=None, metavar="F")
    p.add_argument(
        "--stream",
        choices=CODEC_STREAMS,
        default=None,
        help="stream mode (default: the one the weights were trained for; the header records it)",
    )
    p.add_argument(
        "--search",
        type=int,
        default=0,
        metavar="K",
        help="token search: try the K codewords nearest each latent and send those whose "
        "decoded sound is closest to the input (reuse stream; same bits, same decoder, "
        "several times the encoding time; 0: the nearest, default). As 'process --chain "
        "codec@searchK'",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as live)")
    p.set_defaults(func=run)


def _run(args: argparse.Namespace) -> int:
    from engine.chain import load_codec_model
    from engine.models.codec.stage import CodecStage
    from engine.token_file import HEADER_SIZE, write_token_file
    from engine.token_stream import encode_signal, header_for

    check_writable(args.output)
    audio = read_mono_16k(args.input)
    if audio.non_finite:
        print(
            f"streamvox encode: warning: {audio.non_finite} NaN/Inf samples in {args.input} "
            "were replaced by silence",
            file=sys.stderr,
        )
    torch.set_num_threads(max(1, args.threads))
    model = load_codec_model(args.codec_weights)
    stage = CodecStage(model, precision="fp32", stream=args.stream, search=args.search)
    x = audio.samples
    header = header_for(stage, len(x))
    size = write_token_file(args.output, header, encode_signal(stage, x))
    seconds = len(x) / SAMPLE_RATE
    print(f"audio duration:   {seconds:.3f} s ({len(x)} samples)")
    print(
        f"token stream:     {header.hop_count} hops x {header.tokens_per_hop} tokens x "
        f"{header.bits_per_token} bits ({header.mode_name}), {stage.bitrate_bps / 1000:.2f} kbit/s"
    )
    print(f"file:             {size} bytes ({HEADER_SIZE} of header), "
          f"{8 * size / seconds / 1000:.2f} kbit/s over the audio")  # fmt: skip
    print(f"wrote:            {args.output}")
    return 0


run = reporting_errors("encode", _run)
