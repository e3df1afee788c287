r"""What a codec's decoder can do with the latents unquantised (a training diagnostic).

    python -m engine.training.codec.ceiling --split engine/training/configs/split_seed0.json \
        --codec resources/weights/codec.safetensors [--n 16]

Runs a reuse-mode codec on quick_eval's files twice: as the stage does
(each hop's latent frames quantised) and with the encoder's continuous
latents fed to the decoder instead. The second is an upper bound for better
codebooks with this encoder and decoder: if it is low too, the decoder (or
the encoder's features) limits the quality, not the 14 bits per frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from engine.dsp.metrics import pesq_wb, stoi
from engine.models.codec.model import TinyTransformerCodec
from engine.models.codec.seam import stitch_windows
from engine.training.data import DEFAULT_DATA_DIR, read_audio
from engine.training.quick_eval import pick_utterances


def reuse_output(model: TinyTransformerCodec, x: np.ndarray, quantise: bool) -> np.ndarray:
    """The reuse stream's offline output (the model's own delay removed), latents (un)quantised.

    Framing as :class:`~engine.models.codec.stage.CodecStage` in reuse mode:
    zeros before the signal, each hop's decoder window = the previous hops'
    sent frames + the new ones, the last ``hop`` samples kept (and the seam
    fade its config records, aligned).
    """
    from engine.models.codec.stage import output_delay

    cfg = model.config
    if cfg.stream != "reuse":
        raise ValueError("the ceiling is measured on reuse-mode codecs")
    n_keep, context, delay = cfg.frames_per_hop, cfg.window - cfg.hop, output_delay(model)
    n = x.shape[0] + delay
    steps = -(-(n + cfg.seam_fade) // cfg.hop)  # the seam's samples need the next window
    xp = np.zeros(context + steps * cfg.hop, np.float32)
    xp[context : context + x.shape[0]] = x
    windows = torch.from_numpy(xp).unfold(0, cfg.window, cfg.hop)
    with torch.inference_mode():
        silence = model.encode_latent(torch.zeros(1, cfg.window))[..., -n_keep:]
        sent = model.encode_latent(windows)[..., -n_keep:]
        frames = torch.cat([silence] * (cfg.window // cfg.hop - 1) + [sent])
        if quantise:
            frames = model.codes_to_latent(model.nearest_codes(frames))
        span = cfg.window // cfg.hop
        dec_in = torch.cat([frames[j : j + steps] for j in range(span)], dim=-1)
        y = stitch_windows(model.decode_latent(dec_in)[None], cfg.hop, cfg.seam_fade)[0]
    return y.numpy()[delay:n]


def main(argv: list[str] | None = None) -> int:
    """Prints PESQ-WB / STOI with quantised and with continuous latents."""
    from engine.models.codec.checkpoint import load_codec

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--codec", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--max-seconds", type=float, default=8.0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model = load_codec(args.codec).eval()
    scores: dict[str, list[tuple[float, float]]] = {"quantised": [], "continuous": []}
    for name in pick_utterances(args.split, args.n, "librispeech"):
        x = read_audio(args.data_dir / name).astype(np.float32)[: int(args.max_seconds * 16000)]
        x /= 32768.0
        for label, quantise in (("quantised", True), ("continuous", False)):
            y = reuse_output(model, x, quantise)
            scores[label].append((pesq_wb(x, y), stoi(x, y)))
    for label, s in scores.items():
        print(f"{label:10s} PESQ-WB {np.mean([a for a, _ in s]):.3f}  "
              f"STOI {np.mean([b for _, b in s]):.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
