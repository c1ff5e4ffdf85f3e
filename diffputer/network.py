"""The denoiser network: an MLP on the flat encoded row, conditioned on the noise level.

As in DiffPuter's reference implementation: ``h = Linear(d, W)(x) + time_embed(pos(c_noise))``,
then ``W -> 2W -> 2W -> W -> d`` with SiLU activations. It sees no mask: it learns the joint
distribution of the (completed) rows.
"""

from __future__ import annotations

import torch
from torch import nn


class PositionalEmbedding(nn.Module):
    """Sinusoidal embedding of a scalar per row (EDM's ``PositionalEmbedding``)."""

    def __init__(self, channels: int, max_positions: int = 10_000):
        super().__init__()
        self.channels = channels
        self.max_positions = max_positions

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.channels // 2
        freqs = torch.arange(half, dtype=torch.float32, device=t.device) / half
        freqs = (1.0 / self.max_positions) ** freqs
        angles = t.float()[:, None] * freqs[None, :]
        return torch.cat([angles.cos(), angles.sin()], dim=1)


class Denoiser(nn.Module):
    """F_theta(x, c_noise): the raw network inside EDM's preconditioning."""

    def __init__(self, n_features: int, width: int = 1024):
        super().__init__()
        self.n_features = n_features
        self.width = width
        self.embed_noise = PositionalEmbedding(width)
        self.time_embed = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.proj = nn.Linear(n_features, width)
        self.body = nn.Sequential(
            nn.Linear(width, 2 * width),
            nn.SiLU(),
            nn.Linear(2 * width, 2 * width),
            nn.SiLU(),
            nn.Linear(2 * width, width),
            nn.SiLU(),
            nn.Linear(width, n_features),
        )

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        h = self.proj(x) + self.time_embed(self.embed_noise(c_noise))
        return self.body(h)

