r"""Train the Streaming Vocos generator on log-mel of real speech.

    python -m engine.training.train_vocos --config engine/training/configs/vocos.json \\
        --out runs/vocos [--resume] [--steps N] [--threads 1] [--export PATH]

A training example is a crop of ``704 + 320 * N`` samples. The first 704
samples are only the mel front end's history (so every frame sees real
audio, as in a running stream, not the start-of-stream zeros); the
generator then makes ``320 * N`` samples. The first ``skip_frames`` frames'
output is left out of the loss: their overlap-add lacks the contributions
of frames before the crop, which a real stream would have.

Output delay (``target_delay``, 704 in the shipping config): the ISTFT
frame made from mel frame ``t`` is placed at ``[320 t, 320 t + 1024)`` and
releases its first 320 samples, while that mel frame saw input only up to
``320 t + 320``. Trained against the undelayed input, the released samples
would be mostly made of frames that have not heard them yet: the model
must predict up to 44 ms of the future, which it cannot, and it learns a
quiet, smeared average (measured here: 200-step runs of a small model end
at validation loss 9.14 with delay 0, 8.62 with 384, 8.37 with 704).
Trained against the input delayed by ``n_fft - hop`` = 704 samples, every
ISTFT frame re-synthesises exactly the span its mel frame analysed. The
delay is recorded in the exported file (``output_delay_samples``) so that
the streaming stage declares it as latency.

Losses: multi-scale mel L1 + multi-resolution STFT + waveform L1 and, when
``adv_weight > 0``, multi-period + multi-resolution discriminators (LSGAN)
with feature matching (:mod:`engine.training.discriminators`). Adversarial
training is what removes the metallic, phasey sound that spectral losses
alone leave; it costs about 2-3x per step on CPU, so it can be switched on
for a later phase of a run (``--resume`` with a config that sets it).

Size: the shipping default is dim 256, intermediate 768, 8 layers (3.6 M
parameters, about 14 MB as float32 safetensors including the seed format's
fixed 4 MB identity overlap-add kernel). Why not 384/1152/6 (6 M): its file
(about 28 MB) alone breaks the 25 MB budget for all bundled weights, and it
trains about 1.6x slower per step on the CPU we have. 8 layers keep the
seed's depth and a 1 s causal receptive field; width is what we cut. At
this size one laptop CPU core runs it many times faster than real time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.dsp.mel_prior import synthesis_gain
from engine.models.vocos.generator import VocosConfig, VocosGenerator
from engine.models.vocos.head import LOG_MAG_CLIP
from engine.models.vocos.phase import FramePhase
from engine.training.codec_input import CodecRoundTrip
from engine.training.common import Trainer, run_cli
from engine.training.data import DEFAULT_DATA_DIR, DEFAULT_NOISE_DIR
from engine.training.discriminators import AdversarialStage
from engine.training.losses import ReconstructionLoss
from engine.training.magnitude_loss import magnitude_loss
from engine.training.phase_losses import frame_spectrum, phase_losses

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "data_dir": str(DEFAULT_DATA_DIR),
    "noise_dir": str(DEFAULT_NOISE_DIR),
    "model": {"dim": 256, "intermediate_dim": 768, "n_layers": 8},
    "augment": {},
    "batch": 16,
    "frames": 48,
    "skip_frames": 4,
    "target_delay": 704,
    "steps": 40000,
    "schedule_minutes": 0,  # > 0: the lr schedule runs over this much training time
    "lr": 5e-4,
    "warmup": 500,
    "weight_decay": 0.0,
    "grad_clip": 10.0,
    "loss": {"mel_weight": 15.0, "stft_weight": 1.0, "wave_weight": 1.0},
    "fft_sizes": [256, 512, 1024, 2048],
    "mel_scales": [[256, 32], [512, 64], [1024, 80], [2048, 128]],
    "adv_weight": 0.0,
    "fm_weight": 2.0,
    "disc_lr": 2e-4,
    "disc": {"periods": [2, 3, 5, 7, 11], "fft_sizes": [512, 1024, 256], "channels": 16},
    "val_segments": 48,
    "log_every": 25,
    "val_every": 250,
    "ckpt_every_s": 180,
    "val_speakers": [],
    "init_weights": "",
    "init_partial": False,  # keep only the init tensors whose shapes fit (a new n_fft: new head)
    "codec_input": {"weights": "", "fraction": 0.0},
    "export_half": False,
    # anti-wrapping phase losses on the head's frames (engine.training.phase_losses)
    "phase_weights": {"ip": 0.0, "gd": 0.0, "iaf": 0.0},
    # start the head's log-magnitude at zero: with model.mag_prior, the prior alone
    "reset_magnitude_head": False,
    # "cpu", or "cuda" for a lent GPU (scripts/gpu_vocoder.sh); checkpoints stay device-free
    "device": "cpu",
    "split_file": "",  # a fixed split (read_split format) instead of the seeded one
    # phase "rtpghi": "magnitude" compares the head's magnitude frames with the
    # target's STFT; "resynthesis" makes RTPGHI's phase of the head's magnitude
    # (held fixed) and applies the waveform losses to what the stage will play
    "rtpghi_loss": "magnitude",
}
RTPGHI_LOSSES = ("magnitude", "resynthesis")


class VocosTrainer(Trainer):
    """Trains :class:`VocosGenerator` on mel of speech crops (optionally with a GAN)."""

    kind = "vocos"

    def __init__(
        self,
        cfg: dict[str, Any],
        out_dir: str | Path,
        initialise: bool = True,
    ) -> None:
        super().__init__(cfg, out_dir, initialise)
        if cfg["skip_frames"] >= cfg["frames"] or cfg["skip_frames"] < 0:
            raise ValueError(f"need 0 <= skip_frames < frames, got {cfg['skip_frames']}")
        self.model_config = VocosConfig(**cfg["model"])
        if not 0 <= cfg["target_delay"] <= self.model_config.context:
            raise ValueError(
                f"target_delay must be in 0..{self.model_config.context}, got {cfg['target_delay']}"
            )
        rtpghi = self.model_config.phase == "rtpghi"
        if rtpghi and (cfg["adv_weight"] > 0 or any(cfg["phase_weights"].values())):
            raise ValueError("an RTPGHI-phase vocoder trains on magnitude only: no GAN, no phase")
        if cfg["rtpghi_loss"] not in RTPGHI_LOSSES:
            raise ValueError(f"rtpghi_loss: one of {RTPGHI_LOSSES}, not {cfg['rtpghi_loss']!r}")
        self.magnitude_only = rtpghi and cfg["rtpghi_loss"] == "magnitude"
        self.resynthesise = rtpghi and cfg["rtpghi_loss"] == "resynthesis"
        self.model = VocosGenerator(self.model_config)
        if cfg.get("init_weights") and self.initialise:
            init_from(self.model, cfg["init_weights"], partial=cfg["init_partial"])
        if cfg["reset_magnitude_head"]:
            with torch.no_grad():
                self.model.head.out.weight[: self.model_config.n_bins].zero_()
                self.model.head.out.bias[: self.model_config.n_bins].zero_()
        self.phase_weights = {k: float(v) for k, v in cfg["phase_weights"].items() if v}
        self.device = torch.device(cfg["device"])
        self.model.to(self.device)
        self.codec, self.codec_rows = codec_input(cfg.get("codec_input") or {}, cfg["batch"])
        if self.codec is not None:
            self.codec.model.to(cfg["device"])
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=cfg["lr"],
            betas=(0.8, 0.99),
            weight_decay=cfg["weight_decay"],
        )
        self.loss = ReconstructionLoss(
            **cfg["loss"],
            fft_sizes=cfg["fft_sizes"],
            mel_scales=[tuple(s) for s in cfg["mel_scales"]],
        )
        self.loss.to(self.device)
        self.adversary = AdversarialStage(cfg, self.device)
        val_rng = np.random.default_rng(12345)
        self.val_batch = torch.from_numpy(
            self.val_bank.batch(val_rng, cfg["val_segments"], self.crop_length)
        ).to(self.device)
        self.val_codec = self.codec(self.val_batch) if self.codec is not None else None

    @property
    def crop_length(self) -> int:
        """Samples per training crop: mel history + ``frames`` hops."""
        c = self.model_config
        return c.context + self.cfg["frames"] * c.hop

    def generate(
        self, x: torch.Tensor, heard: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Crop ``(B, 704 + 320 N)`` -> (prediction, target, phase losses).

        Prediction and target are ``(B, 320 (N - skip))``. ``heard`` (default
        ``x``) is what the vocoder's mel analyses, e.g. the codec's decoding
        of ``x``. The target is the clean input delayed by ``target_delay``
        samples (taken from the crop's history part, so it is real audio).
        The phase losses (only those with a weight) compare the head's phase
        with the target's at the frames whose window lies inside the crop.
        """
        c = self.model_config
        heard = x if heard is None else heard
        history, audio = heard[:, : c.context].clone(), heard[:, c.context :]
        mel = self.model.mel.step(audio, history)
        log_mag, phase = self.model.head.spectrum(self.model.backbone(mel), mel)
        start = c.context - self.cfg["target_delay"]
        if self.magnitude_only:
            return self.magnitude_frames(log_mag, x[:, start:])
        if self.resynthesise:  # the phase the stage will make, held fixed for the gradient
            maker = FramePhase(c.n_fft, c.hop, log_mag.shape[0])
            phase = maker(log_mag.detach().clamp(max=LOG_MAG_CLIP))
        y = self.model.head.synthesize(log_mag, phase)
        target = x[:, start : start + audio.shape[-1]]
        skip = self.cfg["skip_frames"] * c.hop
        phase_parts = self.phase_terms(x[:, start:], phase) if self.phase_weights else {}
        return y[:, skip:], target[:, skip:], phase_parts

    def magnitude_frames(
        self, log_mag: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Head log-magnitude and the target's scaled STFT magnitude, on the same frames.

        Returned in :meth:`generate`'s (prediction, target, extras) shape, so
        the loss and validation code stay one path for both phase sources.
        """
        c = self.model_config
        frames = min(log_mag.shape[1], (target.shape[-1] - c.n_fft) // c.hop + 1)
        skip = self.cfg["skip_frames"]
        spec = frame_spectrum(target, c.n_fft, c.hop, self.model.head.istft.window, frames)
        target_mag = spec[:, skip:].abs() * synthesis_gain(c.n_fft, c.hop)
        return log_mag[:, skip:frames], target_mag, {}

    def phase_terms(self, target: torch.Tensor, phase: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted anti-wrapping losses of ``phase (B, T, F)`` against ``target``'s STFT."""
        c = self.model_config
        frames = min(phase.shape[1], (target.shape[-1] - c.n_fft) // c.hop + 1)
        skip = self.cfg["skip_frames"]
        spec = frame_spectrum(target, c.n_fft, c.hop, self.model.head.istft.window, frames)
        spec = spec[:, skip:]
        terms = phase_losses(phase[:, skip:frames], torch.angle(spec), spec.abs())
        return {k: v for k, v in terms.items() if k in self.phase_weights}

    def losses(
        self, y: torch.Tensor, target: torch.Tensor, phase_parts: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Reconstruction loss plus the weighted phase losses, and the logged parts.

        For an RTPGHI-phase vocoder ``y`` and ``target`` are magnitude frames
        (:meth:`magnitude_frames`) and the loss is :func:`magnitude_loss`.
        """
        if self.magnitude_only:
            return magnitude_loss(y, target)
        total, parts = self.loss(y, target)
        for name, value in phase_parts.items():
            total = total + self.phase_weights[name] * value
            parts[name] = float(value.detach())
        return total, parts

    def train_step(self) -> dict[str, float]:
        """Augmented batch -> (discriminator step) -> generator step."""
        c = self.cfg
        x = torch.from_numpy(self.augmenter.batch(c["batch"], self.crop_length)).to(self.device)
        y, target, phase_parts = self.generate(x, self.codec_heard(x))
        total, parts = self.losses(y, target, phase_parts)
        if self.adversary.enabled:
            adv, adv_parts = self.adversary.generator_terms(y, target)
            total = total + adv
            parts.update(adv_parts)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), c["grad_clip"])
        self.optimizer.step()
        parts.update(loss=float(total.detach()), grad_norm=float(grad_norm))
        return parts

    def codec_heard(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with its first ``codec_rows`` crops replaced by their codec decoding."""
        if self.codec is None or self.codec_rows == 0:
            return x
        heard = x.clone()
        heard[: self.codec_rows] = self.codec(x[: self.codec_rows])
        return heard

    def validate(self) -> dict[str, float]:
        """Reconstruction loss on fixed held-out-speaker crops (no augmentation).

        With codec input configured, ``val_codec_loss`` is the same loss when
        the vocoder hears the codec's decoding (the codec+vocoder chain).
        """
        out = self._val_losses(self.val_batch, self.val_batch, "val_")
        if self.val_codec is not None:
            codec = self._val_losses(self.val_batch, self.val_codec, "val_codec_")
            out["val_codec_loss"] = codec["val_codec_loss"]
        return out

    def _val_losses(self, clean: torch.Tensor, heard: torch.Tensor, prefix: str) -> dict:
        totals: dict[str, list[float]] = {}
        for x, h in zip(torch.split(clean, 16), torch.split(heard, 16), strict=True):
            total, parts = self.losses(*self.generate(x, h))
            parts["loss"] = float(total)
            for k, v in parts.items():
                totals.setdefault(k, []).append(v)
        return {f"{prefix}{k}": float(np.mean(v)) for k, v in totals.items()}

    def extra_state(self) -> dict[str, Any]:
        """Augmenter RNG and the discriminators with their optimiser."""
        return {"augmenter": self.augmenter.state(), **self.adversary.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""
        self.augmenter.set_state(state["augmenter"])
        self.adversary.load_state_dict(state)

    def export(self, path: str | Path, source: str = "best.pt") -> Path:
        """Write shipping weights (safetensors + JSON config) from run file ``source``."""
        from engine.models.vocos.checkpoint import save_vocos  # written in parallel

        self.resume(source)
        info = self.provenance(
            {"train": self.train_bank.summary(), "val_speakers": self.cfg.get("val_speakers", [])}
        )
        info["model_config"] = self.model_config.to_dict()
        info["output_delay_samples"] = self.cfg["target_delay"]
        info["output_delay_note"] = (
            "trained so that output sample n reproduces input sample n - output_delay_samples; "
            "a stage must add this to its latency to align output with input"
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model.eval().to("cpu")
        dtype = torch.float16 if self.cfg.get("export_half") else torch.float32
        save_vocos(self.model, path, info, dtype=dtype)
        return path


def init_from(model: VocosGenerator, path: str | Path, partial: bool = False) -> None:
    """Start from trained weights: a run file (``*.pt``) or our ``.safetensors``.

    Fine-tuning (e.g. to a new ``target_delay`` or codec input) from a
    trained vocoder converges far faster on a CPU than starting from random.
    With ``partial``, tensors whose shape differs (the ISTFT head of another
    n_fft) keep their fresh initialisation; the backbone still transfers.
    """
    path = Path(path)
    if path.suffix == ".pt":
        state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    else:
        from safetensors.torch import load_file

        state = load_file(str(path))
    if partial:
        own = model.state_dict()
        state = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not any(k.startswith("backbone.convnext") for k in state):
            raise ValueError(f"{path}: no backbone tensor fits {model.config}")
        model.load_state_dict(state, strict=False)
        return
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "overlap_add" not in k]:
        raise ValueError(f"{path}: weights do not fit {model.config}: {missing} {unexpected}")


def codec_input(spec: dict[str, Any], batch: int) -> tuple[CodecRoundTrip | None, int]:
    """The codec round trip and how many crops of each batch go through it."""
    fraction = float(spec.get("fraction", 0.0))
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"codec_input.fraction must be in [0, 1], got {fraction}")
    if not spec.get("weights") or fraction == 0.0:
        return None, 0
    return CodecRoundTrip.from_file(spec["weights"]), max(1, round(fraction * batch))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return run_cli("vocos", VocosTrainer, DEFAULTS, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
