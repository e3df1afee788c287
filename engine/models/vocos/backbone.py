"""Causal ConvNeXt backbone of Streaming Vocos (seed key names, channels-last inside)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.vocos.config import VocosConfig
from engine.models.vocos.conv import CausalConv1d

LAYER_NORM_EPS = 1e-6


class ConvNeXtBlock(nn.Module):
    """Causal depthwise conv -> LayerNorm -> Linear -> GELU -> Linear -> gamma, residual."""

    def __init__(self, dim: int, intermediate_dim: int, kernel: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = CausalConv1d(dim, dim, kernel, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, dim)`` -> ``(B, T, dim)``; ``cache`` is the dwconv's ``(B, dim, k-1)``."""
        y = self.dwconv(x.transpose(1, 2), cache).transpose(1, 2)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + self.gamma * y


class VocosBackbone(nn.Module):
    """``embed`` causal conv, LayerNorm, ``n_layers`` ConvNeXt blocks, final LayerNorm."""

    def __init__(self, config: VocosConfig) -> None:
        super().__init__()
        c = config
        layer_scale = c.layer_scale_init if c.layer_scale_init else 1.0 / c.n_layers
        self.embed = CausalConv1d(c.n_mels, c.dim, c.kernel)
        self.norm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)
        self.convnext = nn.ModuleList(
            ConvNeXtBlock(c.dim, c.intermediate_dim, c.kernel, layer_scale)
            for _ in range(c.n_layers)
        )
        self.final_layer_norm = nn.LayerNorm(c.dim, eps=LAYER_NORM_EPS)

    def causal_convs(self) -> list[CausalConv1d]:
        """Every causal conv in stream order (embed first): one cache each."""
        return [self.embed, *(block.dwconv for block in self.convnext)]

    def forward(self, mel: torch.Tensor, caches: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``(B, n_mels, T)`` -> hidden ``(B, T, dim)`` (channels last, for the head).

        ``caches`` (streaming) lists one tensor per :meth:`causal_convs` entry.
        """
        if caches is None:
            caches = [None] * (len(self.convnext) + 1)
        x = self.norm(self.embed(mel, caches[0]).transpose(1, 2))
        for block, cache in zip(self.convnext, caches[1:], strict=True):
            x = block(x, cache)
        return self.final_layer_norm(x)
