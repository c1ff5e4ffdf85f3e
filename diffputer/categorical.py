"""Drawing missing categories from their posterior under the diffusion model.

The injection sampler decides a category at the noise levels where the one-hot block
separates (sigma around 0.3 to 1), when the observed entries it conditions on are just as
noisy; at low noise it cannot switch levels any more. Its categorical draws therefore depend
too little on the rest of the row (in the validity simulation, the imputed shares follow the
true posterior with a slope of 0.1 to 0.5).

Here the level of each missing categorical cell is drawn from p(level k | rest of the row),
proportional to the model's likelihood of the row completed with level k. The likelihood is
the diffusion ELBO (Kingma et al. 2021, in EDM's variance-exploding form):

    -log p(x) ~ integral over sigma of sigma^-3 E_eps || x - D(x + sigma eps; sigma) ||^2,

estimated with stratified log-uniform sigma, antithetic noise, and the same (sigma, eps) draws
for every level, so the Monte Carlo noise largely cancels in the differences between levels
(with an exact mixture denoiser and 64 draws, the posterior's standard error falls from 0.21
with plain draws to 0.05).
"""

from __future__ import annotations

import math

import torch


def row_losses(denoiser, rows: torch.Tensor, log_sigma_range: tuple[float, float],
               n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """ELBO estimate (up to a constant) for each candidate completion in ``rows`` [c, n, d].

    The c candidates of a row share their noise draws: ``n_draws`` (rounded up to even) as
    antithetic pairs (sigma, eps) and (sigma, -eps), with log sigma stratified over the range.
    The pairs cancel the terms linear in eps, which carry most of the Monte Carlo noise of
    the differences between candidates. Returns [c, n].
    """
    lo, hi = log_sigma_range
    c, n, d = rows.shape
    pairs = max(1, (n_draws + 1) // 2)
    total = rows.new_zeros(c, n)
    for k in range(pairs):
        u = (k + torch.rand(n, 1, generator=generator, device=rows.device, dtype=rows.dtype)) / pairs
        sigma = torch.exp(lo + (hi - lo) * u)
        eps = torch.randn(n, d, generator=generator, device=rows.device, dtype=rows.dtype)
        for noise in (eps, -eps):
            noisy = (rows + sigma * noise).reshape(c * n, d)
            denoised = denoiser(noisy, sigma.repeat(c, 1).flatten()).reshape(c, n, d)
            total += ((rows - denoised) ** 2).sum(dim=2) / sigma.flatten() ** 2
    return total * (hi - lo) / (2 * pairs)


@torch.no_grad()
def resample_categories(denoiser, x: torch.Tensor, missing: torch.Tensor, blocks,
                        sigma_min: float, sigma_max: float, n_draws: int,
                        generator: torch.Generator) -> torch.Tensor:
    """``x`` with every missing one-hot block redrawn from its posterior given the row.

    ``blocks``: (slice of encoded columns, level shares) for each categorical column; an
    encoded block is the one-hot minus the shares. Blocks are visited in turn (one Gibbs sweep).
    """
    x = x.clone()
    log_range = (math.log(sigma_min), math.log(sigma_max))
    for cols, shares in blocks:
        rows = torch.nonzero(missing[:, cols.start], as_tuple=True)[0]
        if len(rows) == 0:
            continue
        width = cols.stop - cols.start
        levels = torch.eye(width, dtype=x.dtype, device=x.device) - torch.as_tensor(
            shares, dtype=x.dtype, device=x.device)
        candidates = x[rows].unsqueeze(0).repeat(width, 1, 1)
        candidates[:, :, cols] = levels[:, None, :]
        losses = row_losses(denoiser, candidates, log_range, n_draws, generator)
        probabilities = torch.softmax(-losses.T, dim=1)
        chosen = torch.multinomial(probabilities, 1, generator=generator).flatten()
        x[rows, cols] = levels[chosen]
    return x
