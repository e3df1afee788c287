"""TinyTransformerCodec: the seed's causal-conv VQ-VAE with a latent transformer.

Layout and state-dict names follow the seed exactly (see
``docs/reference-models.md`` section 1) so that its checkpoints load:

    encoder_convs.{i}.conv/.norm   causal conv blocks, 1 -> C_0 -> ... -> C_3
    pre_quant.conv/.norm           causal conv block, C_3 -> d_model, stride 1
    quantizers.{j}.embedding       product VQ: one codebook per latent_dim slice
    transformer.{i}                post-norm causal transformer blocks
    post_transformer               1x1 conv
    decoder_tconvs.{i}             transposed convs (strides reversed), GELU each
    post_decoder_final             1x1 conv to one channel, then tanh

GroupNorm(1, C) normalises over the whole window, so the encoder is not
causal inside a window; streaming therefore uses overlap-save on fixed
480-sample windows (see :mod:`engine.models.codec.stage`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.weights import WeightsInfo

#: Channels of the last transposed conv; fixed at 16 in both seed variants.
DECODER_OUT_CHANNELS = 16
#: Encoder channels saturate at this width (the seed's ``min(64, base * 2**i)``).
ENCODER_MAX_CHANNELS = 64
#: How a codec can be streamed (see :class:`CodecConfig`).
STREAM_MODES = ("oas", "reuse")

#: Largest value each size may take: far beyond any codec of this kind (the
#: seed: d_model 128, 4 blocks, 2 x 128 codes, 480-sample windows), small
#: enough that hostile metadata cannot ask for gigabytes field by field; the
#: whole model is also capped (see :mod:`engine.models.file_limits`).
MAX_SIZES = {
    "enc_base": 1024,
    "latent_dim": 2048,
    "kernel": 63,
    "n_codebooks": 64,
    "codebook_size": 65536,
    "d_model": 4096,
    "n_heads": 64,
    "n_transformer": 48,
    "ffn_dim": 16384,
    "window": 48000,
    "hop": 48000,
    "stride": 16,
    "strides": 8,
    "decoder_width": 4096,
}


@dataclass(frozen=True)
class CodecConfig:
    """Architecture of a :class:`TinyTransformerCodec`.

    The defaults are the seed's. ``enc_base`` is 16 for current seed files and
    8 for the older training script (encoder channels ``min(64, enc_base*2**i)``).
    ``output_padding=False`` reproduces the seed decoder (457 samples from 20
    frames, zero-padded to 480); ``True`` gives exactly ``frames * 24``.
    ``dropout`` only matters in training (the seed used 0.1).
    ``decoder_widths`` sets the transposed convs' output channels; empty
    means the seed's (the encoder's widths mirrored, then 16). Wider is a
    codec of ours (same layers and key names, larger shapes), recorded in
    its weights like every other field.

    ``seam_fade`` (samples, 0 = the seed's hard cut): each hop's last
    ``seam_fade`` output samples are cross-faded into the next window's
    decode of the same samples, which has the frames that follow them (a
    transposed conv's right edge has none). Costs ``seam_fade`` samples of
    latency, no bits; the stage follows the value its weights record.

    ``stream`` is how the weights were trained to be streamed (see
    :mod:`engine.models.codec.stage`): ``"oas"`` (the seed's overlap-save,
    every window decoded from its own tokens) or ``"reuse"`` (each hop sends
    only the tokens of its ``hop`` new samples; the decoder's window is the
    previous hops' tokens plus the new ones).
    """

    enc_base: int = 16
    latent_dim: int = 64
    kernel: int = 3
    strides: tuple[int, ...] = (2, 2, 2, 3)
    n_codebooks: int = 2
    codebook_size: int = 128
    d_model: int = 128
    n_heads: int = 8
    n_transformer: int = 4
    ffn_dim: int = 256
    window: int = 480
    hop: int = 240
    output_padding: bool = False
    dropout: float = 0.1
    stream: str = "oas"
    decoder_widths: tuple[int, ...] = ()
    seam_fade: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "strides", tuple(self.strides))
        object.__setattr__(self, "decoder_widths", tuple(self.decoder_widths))
        self._check_decoder_widths()
        for name in ("enc_base", "latent_dim", "kernel", "n_codebooks", "codebook_size"):
            _check_positive_int(name, getattr(self, name))
        for name in ("d_model", "n_heads", "ffn_dim", "window", "hop"):
            _check_positive_int(name, getattr(self, name))
        if not isinstance(self.n_transformer, int) or self.n_transformer < 0:
            raise ValueError(f"n_transformer must be an int >= 0, got {self.n_transformer!r}")
        if not 1 <= len(self.strides) <= MAX_SIZES["strides"]:
            raise ValueError(f"strides must hold 1 to {MAX_SIZES['strides']} strides")
        for s in self.strides:
            _check_positive_int("strides[i]", s, MAX_SIZES["stride"])
        for name in sorted(MAX_SIZES.keys() - {"stride", "strides", "decoder_width"}):
            _check_at_most(name, getattr(self, name), MAX_SIZES[name])
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {self.kernel}")
        if self.d_model != self.latent_dim * self.n_codebooks:
            raise ValueError(
                f"d_model ({self.d_model}) must equal latent_dim * n_codebooks "
                f"({self.latent_dim} * {self.n_codebooks})"
            )
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads")
        if self.window % self.downsample:
            raise ValueError(f"window ({self.window}) must be a multiple of {self.downsample}")
        if self.hop > self.window:
            raise ValueError(f"hop ({self.hop}) must not exceed window ({self.window})")
        if not isinstance(self.output_padding, bool):
            raise ValueError(f"output_padding must be a bool, got {self.output_padding!r}")
        check_stream(self, self.stream)
        check_seam_fade(self, self.seam_fade)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float):
            raise ValueError(f"dropout must be a number, got {self.dropout!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def _check_decoder_widths(self) -> None:
        widths = self.decoder_widths
        if widths and len(widths) != len(self.strides):
            raise ValueError(
                f"decoder_widths needs one width per stride ({len(self.strides)}), got {widths}"
            )
        for w in widths:
            _check_positive_int("decoder_widths[i]", w, MAX_SIZES["decoder_width"])

    @property
    def downsample(self) -> int:
        """Samples per latent frame (product of the strides; 24 for the seed)."""
        return math.prod(self.strides)

    @property
    def frames_per_window(self) -> int:
        """Latent frames per training window (20 for the seed)."""
        return self.window // self.downsample

    @property
    def frames_per_hop(self) -> int:
        """Latent frames of the ``hop`` new samples (10 for the seed)."""
        return self.hop // self.downsample

    @property
    def frames_sent_per_hop(self) -> int:
        """Latent frames a decoder must receive each hop: a window's in OaS, a hop's in reuse."""
        return self.frames_per_hop if self.stream == "reuse" else self.frames_per_window

    @property
    def bits_per_token(self) -> int:
        """Bits needed to send one codebook index (7 for 128 entries)."""
        return max(1, math.ceil(math.log2(self.codebook_size)))

    @property
    def encoder_channels(self) -> tuple[int, ...]:
        """Output channels of each encoder block, e.g. (16, 32, 64, 64)."""
        return tuple(
            min(ENCODER_MAX_CHANNELS, self.enc_base * 2**i) for i in range(len(self.strides))
        )

    @property
    def decoder_channels(self) -> tuple[int, ...]:
        """Output channels of each transposed conv, e.g. (64, 32, 16, 16)."""
        if self.decoder_widths:
            return self.decoder_widths
        return tuple(reversed(self.encoder_channels[:-1])) + (DECODER_OUT_CHANNELS,)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (strides as a list)."""
        d = dataclasses.asdict(self)
        d["strides"] = list(self.strides)
        if self.decoder_widths:
            d["decoder_widths"] = list(self.decoder_widths)
        else:  # the seed's widths: files read exactly as before the field existed
            del d["decoder_widths"]
        if not self.seam_fade:  # likewise (and the same token-file fingerprint)
            del d["seam_fade"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodecConfig:
        """Inverse of :meth:`to_dict`; unknown keys or bad values raise ValueError."""
        if not isinstance(d, dict):
            raise ValueError(f"codec config must be a dict, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown codec config keys: {', '.join(map(str, unknown))}")
        kw = dict(d)
        if "strides" in kw:
            if not isinstance(kw["strides"], list | tuple):
                raise ValueError(f"strides must be a list of ints, got {kw['strides']!r}")
            kw["strides"] = tuple(kw["strides"])
        if "decoder_widths" in kw:
            if not isinstance(kw["decoder_widths"], list | tuple):
                bad = kw["decoder_widths"]
                raise ValueError(f"decoder_widths must be a list of ints, got {bad!r}")
            kw["decoder_widths"] = tuple(kw["decoder_widths"])
        return cls(**kw)


def check_stream(cfg: CodecConfig, stream: str) -> None:
    """ValueError unless a codec of ``cfg`` can be streamed in mode ``stream``."""
    if stream not in STREAM_MODES:
        raise ValueError(f"unknown codec stream mode {stream!r}; choose one of {STREAM_MODES}")
    if stream == "reuse" and (cfg.hop % cfg.downsample or cfg.window % cfg.hop):
        raise ValueError(
            f"reuse streaming needs hop ({cfg.hop}) a multiple of {cfg.downsample} "
            f"and window ({cfg.window}) a multiple of hop"
        )


def check_seam_fade(cfg: CodecConfig, seam_fade: object) -> None:
    """ValueError unless ``seam_fade`` is an int in [0, min(hop, window - hop)].

    The next window must hold the faded samples (window - hop of overlap),
    and one hop's output must hold them.
    """
    overlap = min(cfg.hop, cfg.window - cfg.hop)
    if isinstance(seam_fade, bool) or not isinstance(seam_fade, int):
        raise ValueError(f"seam_fade must be an int, got {seam_fade!r}")
    if not 0 <= seam_fade <= overlap:
        raise ValueError(f"seam_fade must be in [0, {overlap}], got {seam_fade}")


def _check_positive_int(name: str, value: object, most: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    if most is not None:
        _check_at_most(name, value, most)


def _check_at_most(name: str, value: int, most: int) -> None:
    if value > most:
        raise ValueError(f"{name} must be <= {most}, got {value}")


@dataclass
class CodecOutput:
    """What :meth:`TinyTransformerCodec.forward` returns for training.

    Shapes: ``audio`` (B, L); ``codes`` (B, n_codebooks, T) int64; ``z_e`` and
    ``z_q`` (B, d_model, T), ``z_q`` carrying straight-through gradients to
    ``z_e``; ``commit_loss`` a scalar, mean squared ``z_e - sg(z_q)``.
    """

    audio: torch.Tensor
    codes: torch.Tensor
    z_e: torch.Tensor
    z_q: torch.Tensor
    commit_loss: torch.Tensor


class CausalConvBlock(nn.Module):
    """Left zero-pad, Conv1d, GroupNorm(1, C_out), GELU: (B, C_in, L) -> (B, C_out, L')."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.pad = kernel - 1
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride)
        self.norm = nn.GroupNorm(1, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``L' = ceil(L / stride)``."""
        return F.gelu(self.norm(self.conv(F.pad(x, (self.pad, 0)))))


class VectorQuantizer(nn.Module):
    """One codebook; only ``embedding`` (K, D) is state, so training can edit it in place."""

    def __init__(self, codebook_size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(codebook_size, dim)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the nearest row by squared L2: (N, D) -> (N,) int64.

        ``|z|^2`` is the same for every row, so it is left out of the argmin.
        """
        w = self.embedding.weight
        dist = torch.addmm((w * w).sum(1), z, w.t(), alpha=-2.0)
        return dist.argmin(dim=1)


class TransformerBlock(nn.Module):
    """Post-norm causal block: x = norm1(x + attn(x)); x = norm2(x + ffn(x)).

    ``attn`` is an ``nn.MultiheadAttention`` for its parameter names; the
    forward calls ``scaled_dot_product_attention`` with ``is_causal=True``,
    which equals the seed's bool ``triu`` mask without building it.
    """

    def __init__(self, d_model: int, n_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, d_model)
        )

    def self_attention(self, x: torch.Tensor) -> torch.Tensor:
        """Causal multi-head self-attention: (B, T, D) -> (B, T, D)."""
        a = self.attn
        b, t, d = x.shape
        h = a.num_heads
        qkv = F.linear(x, a.in_proj_weight, a.in_proj_bias)
        q, k, v = qkv.view(b, t, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
        p = a.dropout if self.training else 0.0
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return a.out_proj(o.transpose(1, 2).reshape(b, t, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, D)."""
        x = self.norm1(x + self.self_attention(x))
        return self.norm2(x + self.ffn(x))


class TinyTransformerCodec(nn.Module):
    """The seed codec. Audio (B, L) at 16 kHz <-> codes (B, n_codebooks, T), T = L/24."""

    #: What its weights file says (set by the loaders; None for a model made in memory).
    weights_info: WeightsInfo | None = None

    def __init__(self, config: CodecConfig | None = None) -> None:
        super().__init__()
        cfg = config or CodecConfig()
        self.config = cfg
        enc, k = cfg.encoder_channels, cfg.kernel
        ins = (1,) + enc[:-1]
        self.encoder_convs = nn.ModuleList(
            CausalConvBlock(i, o, k, s) for i, o, s in zip(ins, enc, cfg.strides, strict=True)
        )
        self.pre_quant = CausalConvBlock(enc[-1], cfg.d_model, k, 1)
        self.quantizers = nn.ModuleList(
            VectorQuantizer(cfg.codebook_size, cfg.latent_dim) for _ in range(cfg.n_codebooks)
        )
        self.transformer = nn.Sequential(
            *(
                TransformerBlock(cfg.d_model, cfg.n_heads, cfg.ffn_dim, cfg.dropout)
                for _ in range(cfg.n_transformer)
            )
        )
        self.post_transformer = nn.Conv1d(cfg.d_model, cfg.d_model, 1)
        dec = cfg.decoder_channels
        self.decoder_tconvs = nn.ModuleList(
            nn.ConvTranspose1d(
                i, o, k, s, padding=k // 2, output_padding=s - 1 if cfg.output_padding else 0
            )
            for i, o, s in zip((cfg.d_model,) + dec[:-1], dec, cfg.strides[::-1], strict=True)
        )
        self.post_decoder_final = nn.Conv1d(dec[-1], 1, 1)

    # -- encoder side -------------------------------------------------------
    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous latent before quantisation: (B, L) -> z_e (B, d_model, T)."""
        if x.dim() != 2:
            raise ValueError(f"expected audio of shape (B, L), got {tuple(x.shape)}")
        h = x.unsqueeze(1)
        for block in self.encoder_convs:
            h = block(h)
        return self.pre_quant(h)

    def nearest_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Codes of a latent: z (B, d_model, T) -> (B, n_codebooks, T) int64.

        Slice ``j`` of ``latent_dim`` channels goes to codebook ``j``.
        """
        b, _, t = z.shape
        cfg = self.config
        flat = z.transpose(1, 2).reshape(b * t, cfg.n_codebooks, cfg.latent_dim)
        codes = torch.stack([q.nearest(flat[:, j]) for j, q in enumerate(self.quantizers)], 1)
        return codes.view(b, t, cfg.n_codebooks).transpose(1, 2)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Product VQ: z (B, d_model, T) -> (z_q straight-through, codes (B, n_cb, T), commit).

        ``commit`` is the mean squared ``z - sg(z_q)``; codebooks are meant to
        be updated outside (EMA), by editing ``quantizers[j].embedding.weight``.
        """
        codes = self.nearest_codes(z)
        z_q = self.codes_to_latent(codes)
        commit = F.mse_loss(z, z_q.detach())
        return z + (z_q - z).detach(), codes, commit

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (B, L) -> codes (B, n_codebooks, T) int64; T = 20 for L = 480."""
        return self.nearest_codes(self.encode_latent(x))

    # -- decoder side -------------------------------------------------------
    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        """Codebook look-up: (B, n_codebooks, T) -> (B, d_model, T)."""
        if codes.dim() != 3 or codes.shape[1] != self.config.n_codebooks:
            raise ValueError(
                f"expected codes of shape (B, {self.config.n_codebooks}, T), "
                f"got {tuple(codes.shape)}"
            )
        parts = [q.embedding(codes[:, j]) for j, q in enumerate(self.quantizers)]
        return torch.cat(parts, dim=2).transpose(1, 2)

    def decode_latent(self, z_q: torch.Tensor) -> torch.Tensor:
        """Quantised latent (B, d_model, T) -> audio (B, T * downsample).

        Without output padding the transposed convs yield fewer samples
        (457 for T=20); the rest is zero-padded on the right, as the seed does.
        """
        h = self.transformer(z_q.transpose(1, 2)).transpose(1, 2)
        h = self.post_transformer(h)
        for tconv in self.decoder_tconvs:
            h = F.gelu(tconv(h))
        y = torch.tanh(self.post_decoder_final(h)).squeeze(1)
        full = z_q.shape[-1] * self.config.downsample
        if y.shape[-1] < full:
            y = F.pad(y, (0, full - y.shape[-1]))
        return y[:, :full]

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes (B, n_codebooks, T) -> audio (B, T * downsample)."""
        return self.decode_latent(self.codes_to_latent(codes))

    def forward(self, x: torch.Tensor) -> CodecOutput:
        """Training pass on audio (B, L): reconstruction via the straight-through estimator."""
        z_e = self.encode_latent(x)
        z_q, codes, commit = self.quantize(z_e)
        return CodecOutput(self.decode_latent(z_q), codes, z_e, z_q, commit)
