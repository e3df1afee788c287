r"""What a k-means refit of a trained codec's codebooks would do (issue 13's lever).

    python -m engine.training.codec.codebook_refit \\
        --config engine/training/configs/codec_reuse.json [--batches 8] [--iterations 20]

Collects the encoder outputs of the frames the stream sends (training
crops, the trainer's own forward), runs Lloyd iterations per codebook from
the current codewords, and prints the quantisation error and the
validation loss before and after, without any training: whether the EMA
codebooks are still far from a k-means solution, and what the decoder
makes of moved codewords. Nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from engine.training.common import load_config
from engine.training.train_codec import DEFAULTS, HOP, CodecTrainer


def quantisation_error(z: torch.Tensor, codebook: torch.Tensor) -> float:
    """Mean squared distance of each vector ``(N, D)`` to its nearest codeword."""
    return float(torch.cdist(z, codebook).min(dim=1).values.pow(2).mean())


def lloyd(z: torch.Tensor, codebook: torch.Tensor, iterations: int) -> torch.Tensor:
    """``iterations`` k-means steps from ``codebook`` (unused codewords stay where they are)."""
    books = codebook.clone()
    for _ in range(iterations):
        nearest = torch.cdist(z, books).argmin(dim=1)
        for k in range(books.shape[0]):
            members = z[nearest == k]
            if len(members):
                books[k] = members.mean(dim=0)
    return books


@torch.no_grad()
def sent_latents(trainer: CodecTrainer, batches: int) -> list[torch.Tensor]:
    """Per codebook, the encoder outputs ``(N, D)`` of the frames sent for training crops."""
    c = trainer.cfg
    seg = HOP * (c["hops_per_segment"] + 1)
    parts: list[list[torch.Tensor]] = [[] for _ in trainer.codebooks]
    for _ in range(batches):
        x = torch.from_numpy(trainer.augmenter.batch(c["batch_segments"], seg))
        _, out, _ = trainer.forward_segments(x)
        for i, part in enumerate(parts):
            part.append(trainer._latents(out.z_e, i))
    return [torch.cat(p) for p in parts]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: one line per codebook, then the validation losses."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, required=True, help="a codec training config")
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--iterations", type=int, default=20)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = load_config(args.config, DEFAULTS)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = CodecTrainer(cfg, run_dir)
        trainer.model.eval()
        before = trainer.validate()["val_loss"]
        for i, z in enumerate(sent_latents(trainer, args.batches)):
            weight = trainer.model.quantizers[i].embedding.weight.data
            refit = lloyd(z, weight, args.iterations)
            print(
                f"codebook {i}: {len(z)} vectors, quantisation error "
                f"{quantisation_error(z, weight):.4f} -> {quantisation_error(z, refit):.4f}"
            )
            weight.copy_(refit)
        after = trainer.validate()["val_loss"]
    print(f"validation loss {before:.4f} -> {after:.4f} (refit codewords, no training)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
