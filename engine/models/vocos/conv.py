"""Causal weight-normed Conv1d with the seed's parameter names and a streaming cache.

The seed nests ``StreamingConv1d.conv`` (``NormConv1d``) ``.conv`` (a Conv1d
with old-style ``torch.nn.utils.weight_norm``), hence keys such as
``embed.conv.conv.weight_g``. We keep that nesting for the names only and do
the reparametrisation ourselves: ``weight = g * v / ||v||`` with the norm over
every dim but the output channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WeightNormConv1d(nn.Module):
    """Unpadded Conv1d whose weight is ``weight_g * weight_v / ||weight_v||``.

    The folded weight is cached and recomputed only when ``weight_g`` or
    ``weight_v`` change (version counter / storage), and only used when no
    gradient is needed, so inference pays for the fold once.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, groups: int = 1) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"channels {in_channels}->{out_channels} not divisible by {groups}")
        self.groups = groups
        self.kernel = kernel
        self.weight_g = nn.Parameter(torch.ones(out_channels, 1, 1))
        self.weight_v = nn.Parameter(torch.empty(out_channels, in_channels // groups, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.normal_(self.weight_v, std=0.02)
        self._folded: torch.Tensor | None = None
        self._folded_key: tuple | None = None

    def _compute_weight(self) -> torch.Tensor:
        norm = self.weight_v.norm(dim=(1, 2), keepdim=True)
        return self.weight_v * (self.weight_g / norm)

    def _key(self) -> tuple:
        g, v = self.weight_g, self.weight_v
        return (g._version, v._version, g.data_ptr(), v.data_ptr(), v.dtype, v.device)

    def fold(self) -> torch.Tensor:
        """Compute (once) and return the plain inference weight ``(C_out, C_in/groups, k)``."""
        key = self._key()
        if self._folded is None or self._folded_key != key:
            with torch.inference_mode(False), torch.no_grad():
                self._folded = self._compute_weight().detach().contiguous()
            self._folded_key = key
        return self._folded

    def weight(self) -> torch.Tensor:
        """The effective weight; differentiable when autograd needs it."""
        needs_grad = torch.is_grad_enabled() and (
            self.weight_g.requires_grad or self.weight_v.requires_grad
        )
        return self._compute_weight() if needs_grad else self.fold()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, T + k - 1)`` -> ``(B, C_out, T)`` (no padding here)."""
        return F.conv1d(x, self.weight(), self.bias, groups=self.groups)


class NormConv1d(nn.Module):
    """Name-only wrapper: gives the seed's ``conv.conv.`` key nesting."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = WeightNormConv1d(in_channels, out_channels, kernel, groups)


class CausalConv1d(nn.Module):
    """Causal conv: ``kernel - 1`` frames of left zero padding, or of cached context.

    Offline (``cache=None``) pads zeros; streaming passes a ``(B, C_in, k-1)``
    cache of the previous input frames, which is updated in place. Both paths
    run the same convolution on the same samples.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, groups: int = 1) -> None:
        super().__init__()
        if kernel < 1:
            raise ValueError(f"kernel must be >= 1, got {kernel}")
        self.in_channels = in_channels
        self.context = kernel - 1
        self.conv = NormConv1d(in_channels, out_channels, kernel, groups)

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C_in, T)`` -> ``(B, C_out, T)``; output frame t sees inputs <= t."""
        if self.context:
            if cache is None:
                x = F.pad(x, (self.context, 0))
            else:
                x = torch.cat((cache, x), dim=-1)
                cache.copy_(x[..., -self.context :])
        return self.conv.conv(x)

    def new_cache(self, batch_size: int, like: torch.Tensor) -> torch.Tensor:
        """Zero streaming cache ``(batch_size, C_in, kernel - 1)`` on ``like``'s device/dtype."""
        return like.new_zeros(batch_size, self.in_channels, self.context)
