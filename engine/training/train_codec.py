r"""Train TinyTransformerCodec for overlap-save (OaS) streaming.

    python -m engine.training.train_codec --config engine/training/configs/codec.json \\
        --out runs/codec [--resume] [--steps N] [--threads 1] [--export PATH]

What the model is trained for is exactly what the streaming stage does: each
hop, encode + decode the last 480 input samples and keep the last 240 output
samples. A training example is a crop of ``240 * (K + 1)`` samples cut into
``K`` overlapping 480-sample windows (hop 240); each window is coded on its
own, and the kept halves are stitched into a ``240 * K`` signal. The losses
(multi-scale mel + multi-resolution STFT + waveform L1) are computed on that
stitched signal, so they see what a listener hears, hop-boundary clicks
included. The discarded first half of each window gets only a small L1 term
(``first_half_weight``) to keep the decoder's warm-up part sane.

Decoder output padding: the seed decoder's transposed convolutions give
457 samples for 20 latent frames, and the seed zero-pads that to 480. In OaS
this makes the last 23 samples of every kept hop silent (a 1.4 ms gap every
15 ms, a 67 Hz buzz). Our models set ``output_padding=True`` (each
transposed conv gets ``output_padding = stride - 1``), so the decoder gives
exactly 480 samples. This adds no weights and keeps the seed's state-dict
keys and shapes, so seed tooling can still load the weights (it would then
decode with its own 23-sample gap); the choice is recorded in the checkpoint
config so our loader rebuilds the same decoder.

Token-reuse streaming (``model.stream = "reuse"``, issue 13): each hop sends
only the tokens of its 240 new samples (10 latent frames x 2 codebooks,
9.33 kbit/s) and the decoder's window is the previous hop's sent tokens plus
the new ones. Training does exactly that: every window is encoded, its last
10 frames quantised, and window ``k`` is decoded from the sent frames of
windows ``k - 1`` and ``k``; the first window of a segment only supplies
context. The encoder gets gradients through both places its tokens are used;
the commitment loss and the EMA codebooks see only the frames that are sent.

VQ: straight-through estimator with a commitment loss on the encoder; the
codebooks follow EMA statistics (:mod:`engine.training.codec.vq_ema`); unused codes
are restarted from random encoder outputs; perplexity and the fraction of
codes in use are logged per codebook.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.models.codec.model import CodecConfig, CodecOutput, TinyTransformerCodec
from engine.models.codec.seam import stitch_windows
from engine.training.codec.vq_ema import EmaCodebook
from engine.training.common import Trainer, run_cli
from engine.training.data import DEFAULT_DATA_DIR, DEFAULT_NOISE_DIR
from engine.training.discriminators import AdversarialStage
from engine.training.losses import ReconstructionLoss

WINDOW, HOP = 480, 240

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "data_dir": str(DEFAULT_DATA_DIR),
    "noise_dir": str(DEFAULT_NOISE_DIR),
    "model": {"output_padding": True},
    "augment": {},
    "batch_segments": 16,
    "hops_per_segment": 16,
    "steps": 60000,
    "schedule_minutes": 0,  # > 0: the lr schedule runs over this much training time
    "lr": 1e-3,
    "warmup": 500,
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "loss": {"mel_weight": 15.0, "stft_weight": 1.0, "wave_weight": 1.0},
    "fft_sizes": [64, 128, 256, 512, 1024],
    "mel_scales": [[128, 16], [256, 32], [512, 64], [1024, 80]],
    "first_half_weight": 0.1,
    # a short adversarial stage (issue 13's lever): LSGAN + feature matching on the
    # stitched output, as in the vocoder trainer; 0 = off
    "adv_weight": 0.0,
    "fm_weight": 2.0,
    "disc_lr": 1e-4,
    "disc": {"periods": [2, 3, 5, 7, 11], "fft_sizes": [512, 1024, 256], "channels": 16},
    "commit_weight": 0.25,
    "ema_decay": 0.99,
    "dead_threshold": 1.0,
    "restart_every": 100,
    "val_segments": 64,
    "log_every": 50,
    "val_every": 500,
    "ckpt_every_s": 180,
    "val_speakers": [],
    "init_weights": "",  # fine-tune from shipped weights (.safetensors) instead of random
    # "cpu", or "cuda" for a lent GPU (gpu/train.sh codec); checkpoints stay device-free
    "device": "cpu",
    "split_file": "",  # a fixed split (read_split format) instead of the seeded one
}


def oas_windows(x: torch.Tensor) -> torch.Tensor:
    """Cut ``(B, 240 * (K + 1))`` into OaS windows ``(B, K, 480)`` with hop 240."""
    if x.shape[-1] < WINDOW or x.shape[-1] % HOP:
        raise ValueError(f"segment length must be a multiple of {HOP} >= {WINDOW}: {x.shape}")
    return x.unfold(-1, WINDOW, HOP)


def stitch(windows: torch.Tensor, seam: int = 0) -> torch.Tensor:
    """Keep the last 240 samples of each window ``(B, K, 480)`` -> ``(B, 240 * K)``.

    ``seam`` > 0: each hop's last ``seam`` samples cross-faded into the next
    window's decode of them, as the stage does (:mod:`engine.models.codec.seam`).
    """
    return stitch_windows(windows, HOP, seam)


class CodecTrainer(Trainer):
    """Trains the codec on OaS-stitched speech segments."""

    kind = "codec"

    def __init__(
        self,
        cfg: dict[str, Any],
        out_dir: str | Path,
        initialise: bool = True,
    ) -> None:
        super().__init__(cfg, out_dir, initialise)
        self.model_config = CodecConfig(**cfg["model"])
        self.device = torch.device(cfg["device"])
        self.model = TinyTransformerCodec(self.model_config).to(self.device)
        self.codebooks = [
            EmaCodebook(q.embedding.weight.data, cfg["ema_decay"]) for q in self.model.quantizers
        ]
        if cfg.get("init_weights") and self.initialise:
            self._init_weights(cfg["init_weights"])
        for q in self.model.quantizers:
            q.embedding.weight.requires_grad_(False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=cfg["lr"], betas=(0.9, 0.99), weight_decay=cfg["weight_decay"]
        )
        self.loss = ReconstructionLoss(
            **cfg["loss"],
            fft_sizes=cfg["fft_sizes"],
            mel_scales=[tuple(s) for s in cfg["mel_scales"]],
        ).to(self.device)
        self.adversary = AdversarialStage(cfg, self.device)
        self.codebook_rng = torch.Generator().manual_seed(cfg["seed"] + 1)
        seg = HOP * (cfg["hops_per_segment"] + 1)
        val_rng = np.random.default_rng(12345)
        self.val_batch = torch.from_numpy(self.val_bank.batch(val_rng, cfg["val_segments"], seg))

    def _init_weights(self, path: str | Path) -> None:
        """Start from a trained codec: its weights, and its codebooks as EMA state."""
        from engine.models.codec.checkpoint import load_codec
        from engine.training.codec.widen import widen_decoder

        trained = load_codec(path)
        mine = self.model_config
        if trained.config.decoder_channels != mine.decoder_channels:
            trained = widen_decoder(trained, mine.decoder_channels, self.cfg["seed"])
        # a codec may be retrained for another stream mode or seam fade: same tensors
        free = ("stream", "seam_fade")
        ours = {k: v for k, v in mine.to_dict().items() if k not in free}
        theirs = {k: v for k, v in trained.config.to_dict().items() if k not in free}
        if theirs != ours:
            raise ValueError(f"{path}: codec config {trained.config} does not fit {mine}")
        self.model.load_state_dict(trained.state_dict())
        c = self.cfg
        frames = self.model_config.frames_sent_per_hop  # latent frames quantised per window
        vectors = c["batch_segments"] * c["hops_per_segment"] * frames
        for book in self.codebooks:
            book.adopt(vectors / book.weight.shape[0])

    # --- one step -----------------------------------------------------------
    def _latents(self, z_e: torch.Tensor, i: int) -> torch.Tensor:
        """Half ``i`` of the pre-quantiser output ``(B, 128, T)`` as ``(B * T, 64)``."""
        d = z_e.shape[1] // len(self.codebooks)
        return z_e[:, i * d : (i + 1) * d].permute(0, 2, 1).reshape(-1, d)

    @property
    def context_windows(self) -> int:
        """Windows at a segment's start that only supply tokens (0 in OaS, 1 in reuse)."""
        return WINDOW // HOP - 1 if self.model_config.stream == "reuse" else 0

    def forward_segments(self, x: torch.Tensor) -> tuple[torch.Tensor, Any, torch.Tensor]:
        """Code every OaS window of ``x`` ``(B, 240 (K + 1))`` as the stream will.

        Returns the decoded windows ``(B, K', 480)`` (``K' = K -``
        :attr:`context_windows`), the model output (``z_e``, ``codes`` of the
        sent frames only in reuse mode), and the matching input windows.
        """
        windows = oas_windows(x)
        b, k, _ = windows.shape
        if self.model_config.stream == "oas":
            out = self.model(windows.reshape(b * k, WINDOW))
            return out.audio.reshape(b, k, WINDOW), out, windows
        return self._forward_reuse(windows)

    def _forward_reuse(self, windows: torch.Tensor) -> tuple[torch.Tensor, Any, torch.Tensor]:
        """Decode window ``k`` from the sent (last ``hop``) frames of windows ``k - r + 1 .. k``."""
        b, k, _ = windows.shape
        n, r = self.model_config.frames_per_hop, WINDOW // HOP
        z_e = self.model.encode_latent(windows.reshape(b * k, WINDOW))[..., -n:]
        z_q, codes, commit = self.model.quantize(z_e)
        d = z_q.shape[1]
        sent = z_q.reshape(b, k, d, n)
        dec_in = torch.cat([sent[:, j : k - r + 1 + j] for j in range(r)], dim=-1)
        audio = self.model.decode_latent(dec_in.reshape(-1, d, r * n))
        out = CodecOutput(audio, codes, z_e, z_q, commit)
        return audio.reshape(b, k - r + 1, WINDOW), out, windows[:, r - 1 :]

    def losses(
        self, x: torch.Tensor, adversarial: bool = False
    ) -> tuple[torch.Tensor, dict[str, float], Any]:
        """Total loss for a batch of segments and its logged parts.

        ``adversarial``: also step the discriminators and add the generator's
        adversarial terms (training only; validation stays the reconstruction loss).
        """
        y, out, windows = self.forward_segments(x)
        heard = stitch(y, self.model_config.seam_fade)
        target = x[:, HOP * (1 + self.context_windows) :]
        recon, parts = self.loss(heard, target)
        first = F.l1_loss(y[..., :HOP], windows[..., :HOP])
        commit = F.mse_loss(out.z_e, out.z_q.detach())
        total = recon + self.cfg["first_half_weight"] * first + self.cfg["commit_weight"] * commit
        parts.update(recon=float(recon.detach()), commit=float(commit.detach()))
        if adversarial and self.adversary.enabled:
            adv, adv_parts = self.adversary.generator_terms(heard, target)
            total = total + adv
            parts.update(adv_parts)
        return total, parts, out

    def train_step(self) -> dict[str, float]:
        """Augmented batch -> loss -> AdamW step -> EMA codebook update."""
        c = self.cfg
        seg = HOP * (c["hops_per_segment"] + 1)
        x = torch.from_numpy(self.augmenter.batch(c["batch_segments"], seg)).to(self.device)
        if not self.codebooks[0].initialised:
            self._init_codebooks(x)
        total, parts, out = self.losses(x, adversarial=True)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c["grad_clip"])
        self.optimizer.step()
        z_e = out.z_e.detach()
        restarted = 0
        for i, book in enumerate(self.codebooks):
            z = self._latents(z_e, i)
            book.update(z, out.codes[:, i].reshape(-1))
            if (self.step + 1) % c["restart_every"] == 0:
                restarted += book.restart_dead(z, c["dead_threshold"], self.codebook_rng)
        parts.update(loss=float(total.detach()), grad_norm=float(grad_norm), restarted=restarted)
        return parts

    @torch.no_grad()
    def _init_codebooks(self, x: torch.Tensor) -> None:
        _, out, _ = self.forward_segments(x)
        for i, book in enumerate(self.codebooks):
            book.init_from(self._latents(out.z_e, i), self.codebook_rng)

    def validate(self) -> dict[str, float]:
        """Loss on fixed held-out-speaker segments (no augmentation) + codebook usage."""
        totals: dict[str, list[float]] = {}
        for chunk in torch.split(self.val_batch, 16):
            _, parts, _ = self.losses(chunk.to(self.device))
            for k, v in parts.items():
                totals.setdefault(k, []).append(v)
        metrics = {f"val_{k}": float(np.mean(v)) for k, v in totals.items()}
        metrics["val_loss"] = metrics.pop("val_recon")
        for i, book in enumerate(self.codebooks):
            ppl, used = book.usage()
            metrics[f"ppl{i}"] = ppl
            metrics[f"used{i}"] = used
        return metrics

    # --- state --------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Augmenter RNG, codebook RNG and EMA buffers."""
        return {
            "augmenter": self.augmenter.state(),
            "codebook_rng": self.codebook_rng.get_state(),
            "codebooks": [b.state_dict() for b in self.codebooks],
            **self.adversary.state_dict(),
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""
        self.augmenter.set_state(state["augmenter"])
        self.codebook_rng.set_state(state["codebook_rng"])
        for book, s in zip(self.codebooks, state["codebooks"], strict=True):
            book.load_state_dict(s)
        if "disc" in state:  # runs saved before the adversarial stage existed have none
            self.adversary.load_state_dict(state)

    def export(self, path: str | Path, source: str = "best.pt") -> Path:
        """Write shipping weights (safetensors + JSON config) from run file ``source``."""
        self.resume(source)
        info = self.provenance(
            {"train": self.train_bank.summary(), "val_speakers": self.cfg.get("val_speakers", [])}
        )
        info["model_config"] = self.model_config.to_dict()
        info["output_padding_note"] = (
            "decoder transposed convs use output_padding = stride - 1, so 20 latent frames "
            "decode to exactly 480 samples (the seed decodes 457 and zero-pads 23)"
        )
        from engine.models.codec.checkpoint import save_codec  # written in parallel

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model.cpu().eval()
        info["output_delay_samples"] = self.learned_delay()
        info["output_delay_note"] = (
            "median cross-correlation lag of the OaS output behind its input on held-out "
            "utterances; the codec stage adds it to its latency and removes it offline"
        )
        save_codec(self.model, path, info)
        return path

    def learned_delay(self, utterances: int = 16, max_lag: int = 32) -> int:
        """Samples by which the trained codec's output lags its input (median over utterances).

        Nothing in the loss pins the decoder's timing to the encoder's, and
        a trained codec typically settles a few samples late; declaring that
        keeps every chain sample-aligned with its input.
        """
        from engine.dsp.metrics import find_delay
        from engine.models.codec.stage import CodecStage

        stage = CodecStage(self.model)
        lags = []
        for i in range(min(utterances, len(self.val_bank.clips))):
            x = self.val_bank.utterance(i)
            if len(x) > 4 * max_lag:
                lags.append(find_delay(x[:-max_lag], stage.offline(x), max_lag))
        return min(int(np.median(lags)), stage.hop - 1) if lags else 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return run_cli("codec", CodecTrainer, DEFAULTS, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
