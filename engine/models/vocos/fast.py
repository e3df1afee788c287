"""Inference-only fast streaming Vocos, built from a loaded :class:`VocosGenerator`.

Same maths as the generator's ``stream_step`` (mel included), rearranged for
small chunks on one CPU thread, where the cost is per-op overhead and
streaming the weights from memory rather than FLOPs:

* weight norm folded, layer scale ``gamma`` folded into ``pwconv2``;
* channels-last all the way (no transposes); each causal conv is one
  ``unfold`` over cached + new frames, its cache updated in place;
* overlap-add in one ``fold``; phase to complex in one ``polar``;
* ConvNeXt and head Linears in the chosen precision (see
  :mod:`engine.models.fast_linear`; the embed conv stays fp32: it is small
  and sees the raw log-mel);
* optionally scripted and frozen with TorchScript (deprecated in torch 2.13
  but present; it removes most of the Python overhead; eager is the fallback).

``fp32`` matches the generator to float rounding; the other precisions are
compared with it in ``tests/test_fast_inference.py`` on real speech.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from engine.dsp.mel_prior import PRIOR_FLOOR
from engine.models.fast_linear import available_precisions, check_precision, make_linear
from engine.models.torchscript import compiled_core, weights_digest
from engine.models.vocos.backbone import LAYER_NORM_EPS
from engine.models.vocos.generator import (
    VocosConfig,
    VocosGenerator,
    VocosStreamState,
    new_phase,
    stream_in_chunks,
)
from engine.models.vocos.head import LOG_MAG_CLIP, MAG_CLIP

_MAG_EPS = 1e-6
_METHODS = ["spectrum", "synthesize"]  # kept by TorchScript's freeze: the RTPGHI path
_LOG_FLOOR = 1e-5


class _ConvNeXt(nn.Module):
    """Causal depthwise conv (cached) -> LN -> Linear -> GELU -> Linear(gamma folded), residual."""

    def __init__(self, block: nn.Module, precision: str) -> None:
        super().__init__()
        weight = block.dwconv.conv.conv.fold()  # (dim, 1, k)
        self.context = weight.shape[-1] - 1
        self.eps = LAYER_NORM_EPS
        self.register_buffer("dw_weight", weight[:, 0, :].detach().clone())  # (dim, k)
        self.register_buffer("dw_bias", block.dwconv.conv.conv.bias.detach().clone())
        self.register_buffer("ln_weight", block.norm.weight.detach().clone())
        self.register_buffer("ln_bias", block.norm.bias.detach().clone())
        self.pw1 = make_linear(block.pwconv1.weight, block.pwconv1.bias, precision)
        gamma = block.gamma.detach()
        self.pw2 = make_linear(
            block.pwconv2.weight * gamma[:, None], block.pwconv2.bias * gamma, precision
        )

    def forward(self, h: torch.Tensor, cache: torch.Tensor) -> torch.Tensor:
        """``(B, T, dim)`` -> ``(B, T, dim)``; ``cache (B, k-1, dim)`` updated in place."""
        ext = torch.cat([cache, h], 1)
        cache.copy_(ext[:, ext.shape[1] - self.context :])
        k = self.context + 1
        y = torch.sum(ext.unfold(1, k, 1) * self.dw_weight, -1) + self.dw_bias
        y = F.layer_norm(y, [y.shape[-1]], self.ln_weight, self.ln_bias, self.eps)
        return h + self.pw2(F.gelu(self.pw1(y)))


class FastVocosCore(nn.Module):
    """Mel -> backbone -> ISTFT head on one chunk, state passed explicitly (scriptable)."""

    def __init__(self, generator: VocosGenerator, precision: str, head_precision: str) -> None:
        super().__init__()
        c = generator.config
        self.hop, self.n_fft, self.n_bins = c.hop, c.n_fft, c.n_bins
        self.context = c.context
        # constants as attributes: TorchScript does not see imported globals
        self.eps = LAYER_NORM_EPS
        self.mag_eps = _MAG_EPS
        self.log_floor = _LOG_FLOOR
        self.mag_clip = MAG_CLIP
        self.register_buffer("window", generator.mel.window.detach().clone())
        self.register_buffer("fb_t", generator.mel.fb_t.detach().clone())  # (n_bins, n_mels)
        bb = generator.backbone
        embed = bb.embed.conv.conv.fold()  # (dim, n_mels, k)
        self.kernel = embed.shape[-1]
        self.embed = make_linear(embed.reshape(embed.shape[0], -1), bb.embed.conv.conv.bias, "fp32")
        self.register_buffer("norm_weight", bb.norm.weight.detach().clone())
        self.register_buffer("norm_bias", bb.norm.bias.detach().clone())
        self.blocks = nn.ModuleList(_ConvNeXt(b, precision) for b in bb.convnext)
        self.register_buffer("final_weight", bb.final_layer_norm.weight.detach().clone())
        self.register_buffer("final_bias", bb.final_layer_norm.bias.detach().clone())
        head = generator.head.out
        self.out = make_linear(head.weight, head.bias, head_precision)
        self.register_buffer("synth_window", generator.head.istft.window.detach().clone())
        self.use_prior = c.mag_prior
        prior = generator.head.prior if c.mag_prior else torch.zeros(c.n_mels, c.n_bins)
        self.register_buffer("prior", prior.detach().clone())
        self.prior_floor = PRIOR_FLOOR

    def forward(
        self,
        x: torch.Tensor,
        mel_history: torch.Tensor,
        conv_caches: list[torch.Tensor],
        ola_tail: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, hop*N)`` new samples -> ``(B, hop*N)`` released samples; state in place."""
        log_mag, phase = self.spectrum(x, mel_history, conv_caches)
        return self.synthesize(log_mag, phase, ola_tail)

    @torch.jit.export
    def spectrum(
        self, x: torch.Tensor, mel_history: torch.Tensor, conv_caches: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, hop*N)`` new samples -> the head's log-magnitude and phase ``(B, N, n_bins)``."""
        b, length = x.shape
        n = length // self.hop
        padded = torch.cat([mel_history, x], 1)
        mel_history.copy_(padded[:, length:])
        spec = torch.fft.rfft(padded.unfold(1, self.n_fft, self.hop) * self.window)
        mag = torch.sqrt(spec.real.square() + spec.imag.square() + self.mag_eps)
        mel = torch.log(torch.clamp(torch.matmul(mag, self.fb_t), min=self.log_floor))
        cache = conv_caches[0]
        ext = torch.cat([cache, mel], 1)  # (B, k-1+N, n_mels)
        cache.copy_(ext[:, n:])
        h = self.embed(ext.unfold(1, self.kernel, 1).reshape(b, n, -1))
        h = F.layer_norm(h, [h.shape[-1]], self.norm_weight, self.norm_bias, self.eps)
        i = 1
        for block in self.blocks:
            h = block(h, conv_caches[i])
            i += 1
        h = F.layer_norm(h, [h.shape[-1]], self.final_weight, self.final_bias, self.eps)
        y = self.out(h)
        log_mag = y[..., : self.n_bins]
        if self.use_prior:  # same as engine.dsp.mel_prior.log_prior (scriptable inline)
            prior = torch.matmul(torch.exp(mel), self.prior)
            log_mag = log_mag + torch.log(torch.clamp(prior, min=self.prior_floor))
        return log_mag, y[..., self.n_bins :]

    @torch.jit.export
    def synthesize(
        self, log_mag: torch.Tensor, phase: torch.Tensor, ola_tail: torch.Tensor
    ) -> torch.Tensor:
        """Log-magnitude and phase ``(B, N, n_bins)`` -> ``(B, hop*N)``; ``ola_tail`` in place."""
        b, n = log_mag.shape[0], log_mag.shape[1]
        mag = torch.exp(log_mag).clamp(max=self.mag_clip)
        frames = torch.fft.irfft(torch.polar(mag, phase), n=self.n_fft)
        frames = frames * self.synth_window  # (B, N, n_fft)
        total = n * self.hop + self.context
        out = F.fold(frames.transpose(1, 2), (1, total), (1, self.n_fft), stride=(1, self.hop))
        out = out.view(b, total)
        out[:, : self.context] += ola_tail
        ola_tail.copy_(out[:, n * self.hop :])
        return out[:, : n * self.hop]


class FastVocos:
    """Streaming-only fast Vocos with the generator's ``stream_step`` semantics.

    Build with :meth:`from_generator`. ``precision`` is one of
    ``fp32 | fp16 | bf16 | int8``; the generator itself is not kept or changed.
    """

    def __init__(
        self, core: nn.Module, config: VocosConfig, precision: str, scripted: bool
    ) -> None:
        self.core = core
        self.config = config
        self.precision = precision
        self.scripted = scripted
        self._widths = [config.n_mels] + [config.dim] * config.n_layers
        self._stream: VocosStreamState | None = None

    @classmethod
    def from_generator(
        cls,
        generator: VocosGenerator,
        precision: str = "int8",
        head_precision: str | None = None,
        script: bool = True,
    ) -> FastVocos:
        """Copy (and fold/quantise) ``generator``'s weights into a fast inference path."""
        check_precision(precision)
        head_precision = check_precision(head_precision or default_head_precision(precision))

        def build() -> nn.Module:
            with torch.inference_mode(False), torch.no_grad():
                return FastVocosCore(generator, precision, head_precision).eval()

        if not script:
            return cls(build(), generator.config, precision, False)
        key = (
            f"vocos {weights_digest(generator)} {generator.config.to_dict()} "
            f"{precision} head={head_precision}"
        )
        core, scripted = compiled_core(key, build, _METHODS)
        return cls(core, generator.config, precision, scripted)

    def new_state(self, batch_size: int = 1, lookahead: bool = False) -> VocosStreamState:
        """Zeroed stream state for ``batch_size`` streams (conv caches channels-last).

        ``lookahead``: an RTPGHI head's phase sees the next frame (one hop later).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        c = self.config
        return VocosStreamState(
            mel_history=torch.zeros(batch_size, c.context),
            conv_caches=[torch.zeros(batch_size, c.kernel - 1, w) for w in self._widths],
            ola_tail=torch.zeros(batch_size, c.context),
            phase=new_phase(c, batch_size, lookahead),
        )

    def stream_step(
        self, x_new: torch.Tensor, state: VocosStreamState | None = None
    ) -> torch.Tensor:
        """``(B, hop*N)`` new samples -> ``(B, hop*N)`` output, any ``N >= 1``.

        Uses ``state`` or else an own stream (started on first use, see :meth:`reset`).
        """
        if state is None:
            if self._stream is None:
                self._stream = self.new_state(x_new.shape[0])
            state = self._stream
        hop = self.config.hop
        if x_new.dim() != 2 or x_new.shape[0] != state.batch_size:
            raise ValueError(
                f"expected (B={state.batch_size}, hop*N) audio, got {tuple(x_new.shape)}"
            )
        if x_new.shape[-1] == 0 or x_new.shape[-1] % hop:
            raise ValueError(
                f"stream_step needs a positive multiple of {hop} samples, got {x_new.shape[-1]}"
            )
        with torch.inference_mode():
            x = x_new.to(torch.float32)
            if state.phase is None:
                return self.core(x, state.mel_history, state.conv_caches, state.ola_tail)
            log_mag, _ = self.core.spectrum(x, state.mel_history, state.conv_caches)
            log_mag, phase = state.phase.frames(log_mag.clamp(max=LOG_MAG_CLIP))
            return self.core.synthesize(log_mag, phase, state.ola_tail)

    def reset(self) -> None:
        """Forget the own stream (the next :meth:`stream_step` starts afresh)."""
        self._stream = None

    def warmup(self, chunk_frames: Iterable[int] = (1, 5), calls: int = 3) -> None:
        """Run a few throw-away steps per chunk size, so the first live chunk is not slow.

        TorchScript optimises a graph on its first calls for each input shape.
        """
        for n in chunk_frames:
            state = self.new_state(1)
            x = torch.zeros(1, n * self.config.hop)
            for _ in range(calls):
                self.stream_step(x, state)

    def audio_offline(
        self, x: torch.Tensor, chunk_frames: int, lookahead: bool = False
    ) -> torch.Tensor:
        """Whole signal ``(B, L)`` -> ``(B, L)``, streamed in chunks of ``chunk_frames`` frames.

        This *is* the streaming computation (quantised precisions depend a
        little on the chunking), so a stage's offline form equals its stream.
        """
        if x.dim() != 2:
            raise ValueError(f"expected audio of shape (B, L), got {tuple(x.shape)}")
        if type(chunk_frames) is not int or chunk_frames < 1:
            raise ValueError(f"chunk_frames must be a positive int, got {chunk_frames!r}")
        state = self.new_state(x.shape[0], lookahead)
        step = chunk_frames * self.config.hop
        return stream_in_chunks(self.stream_step, state, x.to(torch.float32), step)


def default_head_precision(precision: str) -> str:
    """Head Linear precision for a backbone ``precision``: int8 heads cost SNR.

    The head's log-magnitudes go through ``exp``, so int8 there costs ~18 dB
    of SNR against fp32 for no measurable speed (57 vs 39 dB on speech, seeded
    seed-size model); fp16 weights (or fp32 where fbgemm is missing) keep it.
    """
    if precision != "int8":
        return precision
    return "fp16" if "fp16" in available_precisions() else "fp32"
