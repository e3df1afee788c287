"""Inference-only fast overlap-save hop of the TinyTransformerCodec.

One OaS hop encodes a whole window (480 samples), decodes it and keeps only
its last ``hop`` samples. At this size the cost is op count and Python
overhead, not FLOPs, so this path (fp32, same maths as the model):

* runs every conv as ``unfold`` + one matmul (channels-last encoder, no
  transposes), GroupNorm(1, C) as a LayerNorm over ``(L, C)`` plus affine;
* looks both codebooks up in one batched distance + ``argmin`` + ``embedding``;
* writes attention out (pre-transposed weights, causal mask precomputed);
* decodes only the latent frames the kept samples depend on (10 of 20 for
  the seed), each transposed conv as one matmul + ``fold``;
* is scripted and frozen with TorchScript when available.

Output equals ``model.decode(model.encode(w))[:, -hop:]`` to float rounding
(no codebook choice differed on 16k windows of speech; see the tests).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.codec.model import TinyTransformerCodec
from engine.models.torchscript import compiled_core, weights_digest


def _frozen(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().contiguous()


class _EncoderBlock(nn.Module):
    """Causal conv (left pad k-1, stride) -> GroupNorm(1, C) -> GELU, channels-last."""

    def __init__(self, block: nn.Module, stride: int) -> None:
        super().__init__()
        w = block.conv.weight  # (C_out, C_in, k)
        self.kernel, self.stride, self.eps = w.shape[-1], stride, float(block.norm.eps)
        self.register_buffer("weight_t", _frozen(w.reshape(w.shape[0], -1).t()))
        self.register_buffer("bias", _frozen(block.conv.bias))
        self.register_buffer("gn_weight", _frozen(block.norm.weight))
        self.register_buffer("gn_bias", _frozen(block.norm.bias))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, L, C_in)`` -> ``(B, ceil(L / stride), C_out)``."""
        b = h.shape[0]
        cols = F.pad(h, [0, 0, self.kernel - 1, 0]).unfold(1, self.kernel, self.stride)
        h = torch.matmul(cols.reshape(b, cols.shape[1], -1), self.weight_t) + self.bias
        h = F.layer_norm(h, [h.shape[1], h.shape[2]], None, None, self.eps)
        return F.gelu(torch.addcmul(self.gn_bias, h, self.gn_weight))


class _TransformerBlock(nn.Module):
    """Post-norm causal block with a hand-written attention (same maths as SDPA)."""

    def __init__(self, block: nn.Module, frames: int) -> None:
        super().__init__()
        attn = block.attn
        self.heads = attn.num_heads
        self.scale = (attn.embed_dim // attn.num_heads) ** -0.5
        self.eps1, self.eps2 = float(block.norm1.eps), float(block.norm2.eps)
        names = {
            "qkv_w": attn.in_proj_weight.t(),
            "qkv_b": attn.in_proj_bias,
            "out_w": attn.out_proj.weight.t(),
            "out_b": attn.out_proj.bias,
            "n1_w": block.norm1.weight,
            "n1_b": block.norm1.bias,
            "f1_w": block.ffn[0].weight.t(),
            "f1_b": block.ffn[0].bias,
            "f2_w": block.ffn[3].weight.t(),
            "f2_b": block.ffn[3].bias,
            "n2_w": block.norm2.weight,
            "n2_b": block.norm2.bias,
        }
        for name, t in names.items():
            self.register_buffer(name, _frozen(t))
        self.register_buffer("mask", torch.full((frames, frames), float("-inf")).triu(1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` -> ``(B, T, D)``."""
        b, t, d = h.shape
        x = h.reshape(b * t, d)
        qkv = torch.addmm(self.qkv_b, x, self.qkv_w).view(b, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).reshape(3, b * self.heads, t, -1).unbind(0)
        att = torch.baddbmm(self.mask[:t, :t], q, k.transpose(1, 2), alpha=self.scale)
        o = torch.bmm(torch.softmax(att, -1), v).view(b, self.heads, t, -1)
        o = o.transpose(1, 2).reshape(b * t, d)
        x = F.layer_norm(
            x + torch.addmm(self.out_b, o, self.out_w), [d], self.n1_w, self.n1_b, self.eps1
        )
        f = torch.addmm(self.f2_b, F.gelu(torch.addmm(self.f1_b, x, self.f1_w)), self.f2_w)
        return F.layer_norm(x + f, [d], self.n2_w, self.n2_b, self.eps2).view(b, t, d)


class _TransposedConv(nn.Module):
    """ConvTranspose1d + GELU on a window slice, channels-first, as matmul + ``fold``.

    The slice starts at global output position ``g0`` (a frame offset for the
    input); positions are tracked so cropping matches the full-window conv.
    """

    def __init__(self, tconv: nn.ConvTranspose1d) -> None:
        super().__init__()
        w = tconv.weight  # (C_in, C_out, k)
        self.c_out, self.kernel = w.shape[1], w.shape[2]
        self.stride, self.pad = tconv.stride[0], tconv.padding[0]
        self.out_pad = tconv.output_padding[0]
        self.register_buffer("weight_t", _frozen(w.reshape(w.shape[0], -1).t()))  # (C_out*k, C_in)
        self.register_buffer("bias", _frozen(tconv.bias).view(-1, 1))

    def out_length(self, length: int) -> int:
        """Full-window output length for ``length`` input frames."""
        return (length - 1) * self.stride - 2 * self.pad + self.kernel + self.out_pad

    def forward(self, h: torch.Tensor, g0: int, length: int) -> tuple[torch.Tensor, int, int]:
        """``(B, C_in, T_local)`` at global start ``g0`` of ``length`` -> same for the output."""
        b, t = h.shape[0], h.shape[2]
        cols = torch.matmul(self.weight_t, h)  # (B, C_out*k, T_local)
        full = (t - 1) * self.stride + self.kernel
        y = F.fold(cols, [1, full], [1, self.kernel], stride=[1, self.stride]).view(
            b, self.c_out, full
        )
        start = g0 * self.stride - self.pad
        if start < 0:
            y = y[:, :, -start:]
            start = 0
        new_length = self.out_length(length)
        want = new_length - start
        if y.shape[2] >= want:
            y = y[:, :, :want]
        else:
            y = F.pad(y, [0, want - y.shape[2]])
        return F.gelu(y + self.bias), start, new_length


class FastCodecHop(nn.Module):
    """``(B, window)`` -> ``(B, keep)``: last samples of ``decode(encode(window))``."""

    def __init__(self, model: TinyTransformerCodec, keep: int) -> None:
        super().__init__()
        cfg = model.config
        if not 0 < keep <= cfg.window:
            raise ValueError(f"keep must be in 1..{cfg.window}, got {keep}")
        self.window, self.keep, self.frames = cfg.window, keep, cfg.frames_per_window
        self.full_out = cfg.frames_per_window * cfg.downsample
        blocks = [*model.encoder_convs, model.pre_quant]
        self.encoder = nn.ModuleList(
            _EncoderBlock(b, s) for b, s in zip(blocks, [*cfg.strides, 1], strict=True)
        )
        books = torch.stack([q.embedding.weight for q in model.quantizers])  # (G, K, D)
        self.groups, self.book_size = books.shape[0], books.shape[1]
        self.register_buffer("books_t", _frozen(books.transpose(1, 2)))  # (G, D, K)
        self.register_buffer("book_norms", _frozen((books * books).sum(-1).unsqueeze(1)))
        self.register_buffer("table", _frozen(books.reshape(-1, books.shape[2])))
        offsets = torch.arange(self.groups).view(-1, 1) * self.book_size
        self.register_buffer("offsets", offsets)
        self.transformer = nn.ModuleList(
            _TransformerBlock(b, cfg.frames_per_window) for b in model.transformer
        )
        self.register_buffer("post_w", _frozen(model.post_transformer.weight[:, :, 0]))
        self.register_buffer("post_b", _frozen(model.post_transformer.bias).view(-1, 1))
        self.decoder = nn.ModuleList(_TransposedConv(t) for t in model.decoder_tconvs)
        self.register_buffer("final_w", _frozen(model.post_decoder_final.weight[:, :, 0]))
        self.register_buffer("final_b", _frozen(model.post_decoder_final.bias).view(-1, 1))
        self.first_frame = _first_needed_frame(self.decoder, self.full_out - keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, window)`` -> ``(B, keep)``."""
        return self.decode_codes(self.encode_codes(x))

    @torch.jit.export
    def encode_codes(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, window)`` -> codes ``(B, n_codebooks, frames)`` int64, as ``model.encode``."""
        b = x.shape[0]
        h = x.unsqueeze(-1)
        for block in self.encoder:
            h = block(h)
        t = h.shape[1]
        z = h.reshape(b * t, self.groups, -1).transpose(0, 1)  # (G, N, D)
        codes = torch.baddbmm(self.book_norms, z, self.books_t, alpha=-2.0).argmin(-1)
        return codes.view(self.groups, b, t).permute(1, 0, 2)

    @torch.jit.export
    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, n_codebooks, frames)`` -> ``(B, keep)``: the last samples of the window."""
        b, t = codes.shape[0], codes.shape[2]
        flat = codes.permute(1, 0, 2).reshape(self.groups, b * t)  # (G, N)
        h = F.embedding(flat + self.offsets, self.table).transpose(0, 1).reshape(b, t, -1)
        for block in self.transformer:
            h = block(h)
        h = torch.matmul(self.post_w, h[:, self.first_frame :].transpose(1, 2)) + self.post_b
        g0, length = self.first_frame, t
        for tconv in self.decoder:
            h, g0, length = tconv(h, g0, length)
        y = torch.tanh(torch.matmul(self.final_w, h) + self.final_b).view(b, -1)
        # y holds global samples [g0, length); the seed zero-pads past `length`.
        out = y.new_zeros(b, self.keep)
        a = self.full_out - self.keep
        e = min(length, self.full_out)
        if e > a:
            out[:, : e - a] = y[:, a - g0 : e - g0]
        return out


def _first_needed_frame(decoder: nn.ModuleList, first_sample: int) -> int:
    """First latent frame on which output samples ``>= first_sample`` depend."""
    need = first_sample
    for tconv in reversed(list(decoder)):
        need = max(0, math.ceil((need + tconv.pad - tconv.kernel + 1) / tconv.stride))
    return need


#: The core's methods besides ``forward`` that must survive freezing.
_METHODS = ["encode_codes", "decode_codes"]


class FastCodec:
    """Fast OaS hop for :class:`~engine.models.codec.stage.CodecStage` (fp32, same maths).

    ``hop(window)`` returns the last ``keep`` (= the config's ``hop``) samples
    that ``model.decode(model.encode(window))`` would give.
    """

    def __init__(self, core: nn.Module, window: int, keep: int, scripted: bool) -> None:
        self.core = core
        self.window = window
        self.keep = keep
        self.scripted = scripted

    @classmethod
    def from_model(
        cls, model: TinyTransformerCodec, keep: int | None = None, script: bool = True
    ) -> FastCodec:
        """Copy ``model``'s weights into the fast hop; ``keep`` defaults to ``config.hop``."""
        cfg = model.config
        keep = cfg.hop if keep is None else keep

        def build() -> nn.Module:
            with torch.inference_mode(False), torch.no_grad():
                return FastCodecHop(model.eval(), keep).eval()

        if not script:
            return cls(build(), cfg.window, keep, False)
        key = f"codec {weights_digest(model)} {cfg.to_dict()} keep={keep}"
        core, scripted = compiled_core(key, build, _METHODS)
        return cls(core, cfg.window, keep, scripted)

    def hop(self, window: torch.Tensor) -> torch.Tensor:
        """``(B, window)`` float32 -> ``(B, keep)``: :meth:`decode` of :meth:`encode`."""
        return self.decode(self.encode(window))

    def encode(self, window: torch.Tensor) -> torch.Tensor:
        """``(B, window)`` float32 -> codes ``(B, n_codebooks, frames)`` int64."""
        if window.dim() != 2 or window.shape[1] != self.window:
            raise ValueError(f"expected (B, {self.window}) audio, got {tuple(window.shape)}")
        with torch.inference_mode():
            return self.core.encode_codes(window.to(torch.float32))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, n_codebooks, frames)`` int64 -> ``(B, keep)`` float32."""
        with torch.inference_mode():
            return self.core.decode_codes(codes.to(torch.int64))

    def warmup(self, calls: int = 3) -> None:
        """A few throw-away calls of each entry: TorchScript optimises a graph on its first calls.

        A link's ends call :meth:`encode` and :meth:`decode` alone, the stage
        :meth:`hop`: each is warmed, so no first call lands on the audio path.
        """
        x = torch.zeros(1, self.window)
        for _ in range(calls):
            self.hop(x)
            self.decode(self.encode(x))
