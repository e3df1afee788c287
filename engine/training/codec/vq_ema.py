"""EMA codebook updates and dead-code restarts for a model's VQ codebooks.

The model quantises with its own ``embedding.weight`` ``(K, D)`` and passes
gradients straight through. Here the codebook is not trained by gradient:
each row moves to the exponential moving average of the encoder outputs
assigned to it (VQ-VAE-2 style), which converges faster and more stably
than a codebook loss. Rows that stop being used ("dead codes") are moved to
random recent encoder outputs, so that all 128 entries carry bits.
"""

from __future__ import annotations

import torch


class EmaCodebook:
    """EMA statistics for one codebook tensor ``weight`` ``(K, D)``, updated in place."""

    def __init__(self, weight: torch.Tensor, decay: float = 0.99, eps: float = 1e-5) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.weight = weight
        self.decay = decay
        self.eps = eps
        k, _ = weight.shape
        self.cluster_size = torch.ones(k, device=weight.device)
        self.embed_sum = weight.detach().clone()
        self.counts = torch.zeros(k, device=weight.device)  # assignments since the last report
        self.initialised = False

    @torch.no_grad()
    def init_from(self, z: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Set every row to a random row of ``z`` ``(N, D)`` (data-dependent init)."""
        rows = torch.randint(0, z.shape[0], (self.weight.shape[0],), generator=generator)
        rows = rows.to(z.device)
        self.weight.copy_(z[rows])
        self.embed_sum.copy_(z[rows])
        self.cluster_size.fill_(1.0)
        self.initialised = True

    @torch.no_grad()
    def adopt(self, count: float) -> None:
        """Keep the current rows (trained weights) as if each had ``count`` recent assignments.

        Fine-tuning from a trained codec: the EMA then moves rows gently
        instead of halfway towards the first batch's means.
        """
        self.cluster_size.fill_(count)
        self.embed_sum.copy_(self.weight * count)
        self.initialised = True

    @torch.no_grad()
    def update(self, z: torch.Tensor, codes: torch.Tensor) -> None:
        """Move rows towards the mean of their assigned vectors.

        ``z``: encoder outputs ``(N, D)``; ``codes``: their indices ``(N,)``.
        """
        k = self.weight.shape[0]
        onehot = torch.zeros(z.shape[0], k, dtype=z.dtype, device=z.device)
        onehot.scatter_(1, codes.long()[:, None], 1.0)
        counts = onehot.sum(0)
        self.counts += counts
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.T @ z, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + k * self.eps) * n
        self.weight.copy_(self.embed_sum / smoothed[:, None])

    @torch.no_grad()
    def restart_dead(
        self, z: torch.Tensor, threshold: float, generator: torch.Generator | None = None
    ) -> int:
        """Replace rows whose EMA usage is below ``threshold`` by random rows of ``z``.

        Returns how many rows were restarted.
        """
        dead = torch.nonzero(self.cluster_size < threshold).flatten()
        if dead.numel() == 0:
            return 0
        rows = torch.randint(0, z.shape[0], (dead.numel(),), generator=generator).to(z.device)
        self.weight[dead] = z[rows]
        self.embed_sum[dead] = z[rows]
        self.cluster_size[dead] = 1.0
        return int(dead.numel())

    def usage(self) -> tuple[float, float]:
        """(perplexity, fraction of rows used) since the last call; resets the counts."""
        total = self.counts.sum()
        if total <= 0:
            return 0.0, 0.0
        p = self.counts / total
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        used = float((self.counts > 0).float().mean())
        self.counts.zero_()
        return float(entropy.exp()), used

    def state_dict(self) -> dict[str, torch.Tensor | bool]:
        """EMA buffers (the weights themselves live in the model)."""
        return {
            "cluster_size": self.cluster_size.cpu().clone(),
            "embed_sum": self.embed_sum.cpu().clone(),
            "counts": self.counts.cpu().clone(),
            "initialised": self.initialised,
        }

    def load_state_dict(self, state: dict[str, torch.Tensor | bool]) -> None:
        """Restore buffers saved by :meth:`state_dict`."""
        self.cluster_size.copy_(state["cluster_size"])
        self.embed_sum.copy_(state["embed_sum"])
        self.counts.copy_(state["counts"])
        self.initialised = bool(state["initialised"])
