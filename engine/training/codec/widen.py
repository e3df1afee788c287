"""Widen a trained codec's decoder without changing what it computes (Net2WiderNet).

A wider decoder (``CodecConfig.decoder_widths``) trained from scratch would
throw away the hours the shipped codec has had. Instead each new channel of
a transposed conv copies an existing one (same incoming weights and bias,
so the same activation after GELU), and the next layer splits that
channel's outgoing weights between the copies in random fractions that sum
to one: the widened decoder gives the same output, and the unequal split
gives the copies different gradients, so training can pull them apart.
"""

from __future__ import annotations

import dataclasses

import torch

from engine.models.codec.model import TinyTransformerCodec


def widen_decoder(
    src: TinyTransformerCodec, widths: tuple[int, ...], seed: int = 0
) -> TinyTransformerCodec:
    """A codec with decoder channels ``widths`` computing what ``src`` computes."""
    old = src.config.decoder_channels
    if len(widths) != len(old) or any(w < o for w, o in zip(widths, old, strict=True)):
        raise ValueError(f"can only widen the decoder channels {old}, got {widths}")
    cfg = dataclasses.replace(src.config, decoder_widths=tuple(widths))
    dst = TinyTransformerCodec(cfg)
    state = {k: v for k, v in src.state_dict().items() if not _is_widened(k)}
    dst.load_state_dict(state, strict=False)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        source, fraction = torch.arange(src.config.d_model), torch.ones(src.config.d_model)
        for s_conv, d_conv in zip(src.decoder_tconvs, dst.decoder_tconvs, strict=True):
            w, b = s_conv.weight, s_conv.bias  # (in, out, k), (out,)
            copy_of = _copy_map(w.shape[1], d_conv.weight.shape[1], gen)
            d_conv.weight.copy_(w[source][:, copy_of] * fraction[:, None, None])
            d_conv.bias.copy_(b[copy_of])
            source, fraction = copy_of, _split_fractions(copy_of, gen)
        final_w = src.post_decoder_final.weight  # (1, C, 1)
        dst.post_decoder_final.weight.copy_(final_w[:, source] * fraction[None, :, None])
        dst.post_decoder_final.bias.copy_(src.post_decoder_final.bias)
    return dst


def _is_widened(key: str) -> bool:
    return key.startswith(("decoder_tconvs.", "post_decoder_final."))


def _copy_map(old: int, new: int, gen: torch.Generator) -> torch.Tensor:
    """Which old channel each new channel copies: itself first, then random ones."""
    extra = torch.randint(old, (new - old,), generator=gen)
    return torch.cat([torch.arange(old), extra])


def _split_fractions(copy_of: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random positive shares per channel, summing to 1 over the copies of each old one."""
    share = 0.5 + torch.rand(len(copy_of), generator=gen)
    total = torch.zeros(int(copy_of.max()) + 1).index_add_(0, copy_of, share)
    return share / total[copy_of]
