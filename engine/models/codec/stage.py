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

Token reuse (``stream="reuse"``, 9.33 kbit/s): the encoder still sees the
whole window, but each hop sends only the last ``hop / 24`` = 10 frames of
its tokens, those of the new samples. The decoder's window is the frames it
received in the previous hop(s) plus the new ones, so the first half of the
decoded window comes from tokens the encoder chose for the previous window.
Offline form: ``sent[k] = encode(window_k)[:, -10:]``, ``sent[-1]`` = the
frames sent for a window of silence (the zeros that precede a stream), and
``step k: w = decode(concat(sent[k-1], sent[k]))``, keeping ``w[C:]`` as in
OaS. Weights trained this way record ``stream: "reuse"`` in their config and
the stage follows it; any weights can be run in either mode on request
(``CodecStage(model, stream=...)``, the chain name ``codec@reuse``).

Seam fade (``seam_fade`` in the weights' config, or asked of the stage):
each hop's last ``seam`` samples are cross-faded into the next window's
decode of them (:mod:`engine.models.codec.seam`); the output waits
``seam`` samples more, declared in ``model_delay``. Either mode, no bits.

Token search (``search=K``, reuse mode only): the encoder tries the K
codewords nearest each latent and sends those whose decoded output is
closest to the input (:mod:`engine.models.codec.search`); same decoder,
same bits, more encoder time. It depends on what was sent before, so the
offline form encodes hop after hop as the stream does.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.dsp.start_gate import StartGate
from engine.models.codec.fast import FastCodec
from engine.models.codec.model import TinyTransformerCodec, check_seam_fade, check_stream
from engine.models.codec.seam import SeamJoin
from engine.models.codec.search import TokenSearch
from engine.models.weights import recorded_delay
from engine.stage import REFERENCE, HopStage
from engine.token_stats import TokenCounter

#: The codec's paths: the model itself, or the exact fp32 fast path.
CODEC_PRECISIONS = (REFERENCE, "fp32")
#: Windows per forward pass in :meth:`CodecStage.offline` (bounds memory).
OFFLINE_BATCH = 256


class CodecStage(HopStage):
    """Streaming codec round trip (encode -> tokens -> decode) by overlap-save.

    ``precision="fp32"`` runs each hop through :class:`~engine.models.codec.fast.FastCodec`
    (CPU, fp32, same maths, about half the time); :meth:`offline` then uses
    it too, one window at a time, so stream == offline stays exact.
    ``"reference"`` runs the model itself. The codec has no lower-precision path.
    ``stream`` and ``seam_fade`` default to what the weights record (see
    :class:`~engine.models.codec.model.CodecConfig`); either can be asked for.
    ``search`` > 0 makes the encoder search that many candidates per token
    (reuse mode; see the module docstring).
    """

    name = "codec"

    def __init__(
        self,
        model: TinyTransformerCodec,
        precision: str = REFERENCE,
        stream: str | None = None,
        seam_fade: int | None = None,
        search: int = 0,
    ) -> None:
        if precision not in CODEC_PRECISIONS:
            raise ValueError(
                f"codec precision must be {' or '.join(CODEC_PRECISIONS)}, got {precision!r}"
            )
        cfg = model.config
        super().__init__(cfg.hop)
        self.stream = cfg.stream if stream is None else stream
        check_stream(cfg, self.stream)
        self.seam = cfg.seam_fade if seam_fade is None else seam_fade
        check_seam_fade(cfg, self.seam)
        self._seam_join = SeamJoin(cfg.hop, self.seam)
        self.frames_sent = cfg.frames_per_hop if self.stream == "reuse" else cfg.frames_per_window
        self.model = model.eval()
        # the seam fade waits for the next window: its samples of delay, declared
        self.model_delay = output_delay(model) + self.seam
        # What the codec emits before its first input sample is a start-up transient.
        self._gate = StartGate(self.model_delay)
        self.window = cfg.window
        self.context = cfg.window - cfg.hop
        self._buf = np.zeros(self.window, dtype=np.float32)
        self._buf_t = torch.from_numpy(self._buf).view(1, self.window)
        self._device = next(model.parameters()).device
        self.fast: FastCodec | None = None
        if precision != REFERENCE:
            if self._device.type != "cpu":
                raise ValueError(
                    f"the fast codec path runs on the CPU, the model is on {self._device}"
                )
            self.fast = FastCodec.from_model(model, keep=cfg.hop + self.seam)
            self.fast.warmup()
        # reuse mode: the frames received before this hop's (start: those of silence)
        self._start_history = self._silence_history()
        self._history = self._start_history.copy()
        self.search = self._token_search(search)
        self._sent = self._start_history.copy()  # the encoder's copy, for the search
        # what the decoder receives, counted for the GUI's token view (see step)
        self.token_counter = TokenCounter(
            cfg.n_codebooks,
            cfg.codebook_size,
            self.tokens_per_hop // cfg.n_codebooks,
            self.hop / self.sample_rate,
            cfg.bits_per_token,
        )

    def _token_search(self, candidates: int) -> TokenSearch | None:
        """The encoder's token search (None for ``candidates`` 0); reuse mode only."""
        if not candidates:
            return None
        if self.stream != "reuse":
            raise ValueError("the token search needs the token-reuse stream (codec@reuse)")
        if self._device.type != "cpu":
            raise ValueError(f"the token search runs on the CPU, the model is on {self._device}")
        delay = self.model_delay - self.seam
        return TokenSearch(self.model, candidates, self.seam, delay, fast=self.fast is not None)

    def _silence_history(self) -> np.ndarray:
        """Reuse mode's frames before the first hop (see :func:`silence_frames`); empty in OaS."""
        if self.stream != "reuse":
            return np.zeros((self.model.config.n_codebooks, 0), dtype=np.int64)
        return silence_frames(self.model).numpy()

    @property
    def tokens_per_hop(self) -> int:
        """Tokens the decoder must receive each hop (40 for the seed in OaS, 20 in reuse).

        Overlap-save decodes every window from that window's own tokens, so
        each hop needs all of them (codebooks x latent frames per window);
        reuse mode sends only the frames of the ``hop`` new samples.
        """
        return self.model.config.n_codebooks * self.frames_sent

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
        """Shift ``hop`` new samples into the window; the tokens sent ``(n_codebooks, frames)``.

        These are all the decoder receives (see :attr:`tokens_per_hop`): the
        window's in OaS, its last :attr:`frames_sent` in reuse mode. A sender
        runs this, a receiver :meth:`decode_hop`.
        """
        buf = self._buf
        buf[: self.context] = buf[self.hop :]
        buf[self.context :] = hop_in
        codes = self._encode_window(self._buf_t)[:, -self.frames_sent :]
        if self.search is not None:
            codes, self._sent = self._searched(self._buf_t, codes, self._sent)
        return codes

    def _searched(
        self, window: torch.Tensor, codes: np.ndarray, sent: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The search's tokens for ``window`` and the receiver's frames after them."""
        found = self.search.refine(window, torch.from_numpy(sent), torch.from_numpy(codes))
        found = found.numpy()
        return found, np.concatenate([sent, found], axis=1)[:, self.frames_sent :]

    def _encode_window(self, window: torch.Tensor) -> np.ndarray:
        """``(1, window)`` audio -> codes ``(n_codebooks, frames_per_window)``."""
        if self.fast is not None:
            return self.fast.encode(window)[0].numpy()
        with torch.inference_mode():
            return self.model.encode(window.to(self._device))[0].cpu().numpy()

    def decode_hop(self, codes: np.ndarray) -> np.ndarray:
        """One hop's received tokens ``(n_codebooks, frames)`` -> its ``hop`` output samples."""
        codes = np.asarray(codes, dtype=np.int64)
        if self.stream == "reuse":
            codes = np.concatenate([self._history, codes], axis=1)
            self._history = codes[:, self.frames_sent :]
        decoded = self._decode_window(torch.from_numpy(codes).unsqueeze(0))[0].numpy()
        return self._gate(self._seam_join.join(decoded))

    def _decode_window(self, codes: torch.Tensor) -> torch.Tensor:
        """Window codes ``(B, n_codebooks, frames_per_window)`` -> ``(B, hop + seam)`` samples.

        The window's last ``hop`` samples and the ``seam`` before them (see
        :mod:`engine.models.codec.seam`).
        """
        if self.fast is not None:
            return self.fast.decode(codes)
        with torch.inference_mode():
            return self.model.decode(codes.to(self._device))[:, self.context - self.seam :].cpu()

    def reset_state(self) -> None:
        """Forget the context (back to the zeros that precede a stream)."""
        self._buf.fill(0.0)
        self._history = self._start_history.copy()
        self._sent = self._start_history.copy()
        self._seam_join.reset()
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
        reuse = self.stream == "reuse"
        decoded = self._offline_reuse(windows) if reuse else self._offline_oas(windows)
        return SeamJoin(self.hop, self.seam).join_all(decoded)[:n]

    def _offline_oas(self, windows: torch.Tensor) -> np.ndarray:
        """Overlap-save: each window's decoded ``(steps, hop + seam)`` samples."""
        y = np.empty((windows.shape[0], self.hop + self.seam), dtype=np.float32)
        if self.fast is not None:
            for s, w in enumerate(windows):
                y[s] = self.fast.hop(w.reshape(1, -1).clone())[0].numpy()
            return y
        with torch.inference_mode():
            for s in range(0, windows.shape[0], OFFLINE_BATCH):
                codes = torch.cat([self._encode_one(w) for w in windows[s : s + OFFLINE_BATCH]])
                y[s : s + OFFLINE_BATCH] = self._decode_window(codes)
        return y

    def _offline_reuse(self, windows: torch.Tensor) -> np.ndarray:
        """Reuse mode on OaS windows ``(steps, window)``: decoded ``(steps, hop + seam)``."""
        n = self.frames_sent
        sent, held = [], self._start_history
        for w in windows:
            window = w.reshape(1, -1).clone()
            codes = self._encode_window(window)[:, -n:]
            if self.search is not None:
                codes, held = self._searched(window, codes, held)
            sent.append(codes)
        sent_t = torch.from_numpy(np.stack(sent))[None]
        codes = reuse_windows(sent_t, torch.from_numpy(self._start_history))[0]
        if self.fast is not None:  # one window at a time, exactly as step() decodes
            return torch.cat([self._decode_window(c[None]) for c in codes]).numpy()
        parts = [self._decode_window(c) for c in torch.split(codes, OFFLINE_BATCH)]
        return torch.cat(parts).numpy()

    def _encode_one(self, window: torch.Tensor) -> torch.Tensor:
        """One window (window,) -> codes (1, n_codebooks, T), as :meth:`step` computes them."""
        return self.model.encode(window.reshape(1, -1).clone().to(self._device))


def silence_frames(model: TinyTransformerCodec) -> torch.Tensor:
    """The frames a reuse decoder holds before the first hop: what silence would have sent.

    ``(n_codebooks, frames_per_window - frames_per_hop)`` int64: the last
    ``frames_per_hop`` frames of the tokens of an all-zero window, repeated.
    The zeros that precede a stream in OaS, as tokens; both ends derive
    them from the weights, so they are never transmitted.
    """
    cfg = model.config
    with torch.inference_mode():
        codes = model.encode(torch.zeros(1, cfg.window, device=next(model.parameters()).device))
    sent = codes[0, :, -cfg.frames_per_hop :].cpu()
    return sent.repeat(1, cfg.frames_per_window // cfg.frames_per_hop - 1)


def reuse_windows(sent: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """Each hop's decoder window in reuse mode, from the frames sent.

    ``sent (B, steps, n_codebooks, n)`` (hop ``k``'s ``n`` frames), ``start
    (n_codebooks, m)`` (:func:`silence_frames`) -> ``(B, steps, n_codebooks,
    m + n)``: hop ``k`` decodes the last ``m + n`` frames received by then.
    """
    b, steps, n_cb, n = sent.shape
    frames = sent.permute(0, 2, 1, 3).reshape(b, n_cb, steps * n)
    frames = torch.cat([start.to(sent.dtype).expand(b, -1, -1), frames], dim=2)
    span = start.shape[1] + n
    return frames.unfold(2, span, n).permute(0, 2, 1, 3)


def output_delay(model: TinyTransformerCodec) -> int:
    """Samples by which ``model``'s decoded output lags its input, as recorded in its file."""
    delay = recorded_delay(model)
    if not 0 <= delay < model.config.hop:
        raise ValueError(f"implausible codec output delay {delay} samples recorded in the weights")
    return delay
