r"""Quick PESQ-WB / STOI of trained weights on held-out speakers (a training aid).

    python -m engine.training.quick_eval --split runs/codec/split.json \\
        [--codec resources/weights/codec.safetensors] \\
        [--vocos resources/weights/vocos.safetensors] \\
        [--n 8] [--corpus librispeech] [--lookahead] [--search K]

Runs each chain through the stages' offline forms (which equal their
streaming output, latency removed): codec = overlap-save ``CodecStage``,
vocoder = ``VocosStage`` (whose offline form removes the output delay the
weights record), and both in series. It is a fast check while
training runs; ``streamvox evaluate`` is the full, reported measurement.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from engine.dsp.metrics import pesq_wb, stoi
from engine.training.data import DEFAULT_DATA_DIR, parse_name, read_audio, read_split


def pick_utterances(split_path: Path, n: int, corpus: str | None) -> list[str]:
    """The first ``n`` validation files (sorted), optionally of one corpus only."""
    names = read_split(split_path)["val"]
    if corpus:
        names = [x for x in names if parse_name(x).corpus == corpus]
    if not names:
        raise ValueError(f"{split_path}: no validation files for corpus {corpus!r}")
    step = max(1, len(names) // n)
    return names[::step][:n]


def score(chains: dict, files: list[Path], max_seconds: float) -> dict[str, tuple[float, float]]:
    """Mean PESQ-WB and STOI per chain over ``files`` (each cut to ``max_seconds``)."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in chains}
    for f in files:
        x = read_audio(f).astype(np.float32)[: int(max_seconds * 16000)] / 32768.0
        for name, stages in chains.items():
            y = x
            for stage in stages:
                y = stage.offline(y)  # aligned with its input (stage contract)
            results[name].append((pesq_wb(x, y), stoi(x, y)))
    return {
        name: (float(np.nanmean([p for p, _ in r])), float(np.nanmean([s for _, s in r])))
        for name, r in results.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: prints one line per chain."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--codec", type=Path)
    p.add_argument("--vocos", type=Path)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--corpus", default="librispeech")
    p.add_argument("--max-seconds", type=float, default=8.0)
    p.add_argument(
        "--lookahead", action="store_true", help="RTPGHI vocoders: one frame of phase look-ahead"
    )
    p.add_argument(
        "--search",
        type=int,
        default=0,
        metavar="K",
        help="also score the codec with the encoder's token search (K candidates per token)",
    )
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    chains: dict[str, list] = {}
    if args.codec:
        from engine.models.codec.checkpoint import load_codec
        from engine.models.codec.stage import CodecStage

        codec = load_codec(args.codec)
        chains["codec"] = [CodecStage(codec)]
        if args.search:
            searched = CodecStage(codec, precision="fp32", search=args.search)
            chains[f"codec@search{args.search}"] = [searched]
    if args.vocos:
        from engine.models.vocos.checkpoint import load_vocos
        from engine.models.vocos.stage import VocosStage

        chains["vocoder"] = [VocosStage(load_vocos(args.vocos), lookahead=args.lookahead)]
    if args.codec and args.vocos:
        chains["codec+vocoder"] = chains["codec"] + chains["vocoder"]
    if not chains:
        p.error("give --codec and/or --vocos")
    names = pick_utterances(args.split, args.n, args.corpus or None)
    results = score(chains, [args.data_dir / n for n in names], args.max_seconds)
    print(f"{len(names)} held-out utterances ({args.corpus or 'all corpora'}): {names}")
    for name, (pesq_mean, stoi_mean) in results.items():
        flag = "" if math.isfinite(pesq_mean) else " (PESQ undefined)"
        print(f"{name:14s} PESQ-WB {pesq_mean:.3f}  STOI {stoi_mean:.3f}{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
