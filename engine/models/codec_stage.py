"""Overlap-save streaming of the TinyTransformerCodec (window 480, hop 240).

The codec normalises over its whole 480-sample window, so it is streamed
the way it was trained and as the seed does it: every hop, encode and decode
the last ``window`` input samples and keep the last ``hop`` output samples.

Offline form, on a whole signal ``x`` (C = window - hop = 240 samples of
context):

    xp = concat(zeros(C), x, zeros(pad))      # pad: len(x) + pad multiple of hop
    step k: w = decode(encode(xp[hop*k : hop*k + window]))
            y[hop*k : hop*k + hop] = w[C : window]
    offline(x) = y[:len(x)]

The streaming :meth:`CodecStage.step` keeps the last C input samples as
context, so step k sees the same window; the FIFO of :class:`HopStage` adds
one hop of delay: ``latency == hop`` (240 samples, 15 ms) and
``process()`` output equals ``offline`` delayed by 240 samples.

Trained weights may also have learned a small delay of their own (our
shipped codec reproduces input sample n at output n + 8, found by
cross-correlation on held-out speech). Such weights record it as
``info["output_delay_samples"]``; the stage then declares
``latency = hop + model_delay`` and :meth:`CodecStage.offline` removes it,
so that every chain stays sample-aligned with its input.

Bitrate: each window is decoded from its own tokens only, so every hop the
decoder needs all 40 of them (20 latent frames x 2 codebooks, 7 bits each):
40 x 7 bits / 15 ms = 18.67 kbit/s, twice what the 20 frames of the new
samples alone would take. :attr:`CodecStage.bitrate_bps` derives this from
the model's config.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.dsp.start_gate import StartGate
from engine.models.fast_codec import FastCodec
from engine.models.tiny_codec import TinyTransformerCodec
from engine.stage import HopStage
from engine.token_stats import TokenCounter

#: Windows per forward pass in :meth:`CodecStage.offline` (bounds memory).
OFFLINE_BATCH = 256


class CodecStage(HopStage):
    """Streaming codec round trip (encode -> tokens -> decode) by overlap-save.

    ``fast=True`` runs each hop through :class:`~engine.models.fast_codec.FastCodec`
    (CPU, fp32, same maths, about half the time); :meth:`offline` then uses
    it too, one window at a time, so stream == offline stays exact.
    """

    name = "codec"

    def __init__(self, model: TinyTransformerCodec, fast: bool = False) -> None:
        cfg = model.config
        super().__init__(cfg.hop)
        self.model = model.eval()
        self.model_delay = output_delay(model)
        # What the codec emits before its first input sample is a start-up transient.
        self._gate = StartGate(self.model_delay)
        self.window = cfg.window
        self.context = cfg.window - cfg.hop
        self._buf = np.zeros(self.window, dtype=np.float32)
        self._buf_t = torch.from_numpy(self._buf).view(1, self.window)
        self._device = next(model.parameters()).device
        self.fast: FastCodec | None = None
        if fast:
            if self._device.type != "cpu":
                raise ValueError(
                    f"the fast codec path runs on the CPU, the model is on {self._device}"
                )
            self.fast = FastCodec.from_model(model)
            self.fast.warmup()
        # what the decoder receives, counted for the GUI's token view (see step)
        self.token_counter = TokenCounter(
            cfg.n_codebooks,
            cfg.codebook_size,
            self.tokens_per_hop // cfg.n_codebooks,
            self.hop / self.sample_rate,
            cfg.bits_per_token,
        )

    @property
    def tokens_per_hop(self) -> int:
        """Tokens the decoder must receive each hop (40 for the seed).

        Overlap-save decodes every window from that window's own tokens, so
        each hop needs all of them (codebooks x latent frames per window),
        not only the frames of the ``hop`` new samples.
        """
        cfg = self.model.config
        return cfg.n_codebooks * cfg.frames_per_window

    @property
    def tokens_per_second(self) -> float:
        """Tokens sent per second: tokens per hop / hop duration (2666.7 for the seed)."""
        return self.tokens_per_hop * self.sample_rate / self.hop

    @property
    def bitrate_bps(self) -> float:
        """What the decoder must receive per second (18666.7 bit/s for the seed).

        Tokens per hop x bits per token / hop duration, from the model's config.
        """
        return self.tokens_per_second * self.model.config.bits_per_token

    def step(self, hop_in: np.ndarray) -> np.ndarray:
        """Shift ``hop`` new samples into the window; return its last ``hop`` decoded samples.

        The tokens passed from encoder to decoder are counted on the way
        (:attr:`token_counter`): this runs on the engine thread, never in the
        audio callback.
        """
        codes = self.encode_hop(hop_in)
        self.token_counter.add(codes)
        return self.decode_hop(codes)

    def encode_hop(self, hop_in: np.ndarray) -> np.ndarray:
        """Shift ``hop`` new samples into the window; its tokens ``(n_codebooks, frames)``.

        These are all the decoder receives (see :attr:`tokens_per_hop`); a
        sender runs this, a receiver :meth:`decode_hop`.
        """
        buf = self._buf
        buf[: self.context] = buf[self.hop :]
        buf[self.context :] = hop_in
        if self.fast is not None:
            return self.fast.encode(self._buf_t)[0].numpy()
        with torch.inference_mode():
            return self.model.encode(self._buf_t.to(self._device))[0].cpu().numpy()

    def decode_hop(self, codes: np.ndarray) -> np.ndarray:
        """One window's tokens ``(n_codebooks, frames)`` -> the hop's ``hop`` output samples."""
        c = torch.from_numpy(np.asarray(codes, dtype=np.int64)).unsqueeze(0)
        if self.fast is not None:
            return self._gate(self.fast.decode(c)[0].numpy())
        with torch.inference_mode():
            y = self.model.decode(c.to(self._device))
        return self._gate(y[0, self.context :].cpu().numpy())

    def reset_state(self) -> None:
        """Forget the context (back to the zeros that precede a stream)."""
        self._buf.fill(0.0)
        self._gate.reset()
        self.token_counter.reset()

    def offline(self, x: np.ndarray) -> np.ndarray:
        """Whole-signal overlap-save (see the module docstring).

        The encoder runs one window at a time, with exactly the kernels that
        :meth:`step` uses: batched convolutions round differently (~1e-6),
        which could flip a near-tie codebook choice and break the
        stream == offline identity. Decoding is batched for speed; it only
        differs from :meth:`step` by float rounding (~1e-8).
        """
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        n, d = x.shape[0], self.model_delay
        if n == 0:
            return x.copy()
        return self._offline_raw(np.concatenate([x, np.zeros(d, np.float32)]))[d : d + n]

    def _offline_raw(self, x: np.ndarray) -> np.ndarray:
        """Overlap-save of ``x`` without removing the model's own delay."""
        n = x.shape[0]
        steps = -(-n // self.hop)
        xp = np.zeros(self.context + steps * self.hop, dtype=np.float32)
        xp[self.context : self.context + n] = x
        windows = torch.from_numpy(xp).unfold(0, self.window, self.hop)
        y = np.empty((steps, self.hop), dtype=np.float32)
        if self.fast is not None:
            for s, w in enumerate(windows):
                y[s] = self.fast.hop(w.reshape(1, -1).clone())[0].numpy()
            return y.reshape(-1)[:n]
        with torch.inference_mode():
            for s in range(0, steps, OFFLINE_BATCH):
                batch = windows[s : s + OFFLINE_BATCH]
                codes = torch.cat([self._encode_one(w) for w in batch])
                y[s : s + OFFLINE_BATCH] = self.model.decode(codes)[:, self.context :].cpu()
        return y.reshape(-1)[:n]

    def _encode_one(self, window: torch.Tensor) -> torch.Tensor:
        """One window (window,) -> codes (1, n_codebooks, T), as :meth:`step` computes them."""
        return self.model.encode(window.reshape(1, -1).clone().to(self._device))


def output_delay(model: TinyTransformerCodec) -> int:
    """Samples by which ``model``'s decoded output lags its input, as recorded in its file."""
    info = getattr(model, "checkpoint_info", None) or {}
    delay = int(info.get("output_delay_samples", 0))
    if not 0 <= delay < model.config.hop:
        raise ValueError(f"implausible codec output delay {delay} samples recorded in the weights")
    return delay
