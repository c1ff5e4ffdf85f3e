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

A learned denoiser's ELBO is a biased score: its errors differ between levels, most of all at
small sigma, where they are weighted by sigma^-2. So the scores are calibrated, per model and
categorical column, on rows where the level is observed: a temperature and per-level offsets
fitted by (lightly regularised) maximum likelihood of the observed levels, as a classifier's
scores are calibrated (vector scaling). In the validity simulation the ELBO under-drew one
level by about 0.04 of the rows; the offsets fitted on observed rows halve that. Missing at
random, a model of the level given the rest of the row holds where the level is missing as
where it is observed, so the observed rows count equally (weighting them by their odds of
being missing, as an earlier version did, halved their effective number in the validity
simulation and made the factor's coefficients noisier from table to table).

The Monte Carlo noise left in the scores is not harmless: the calibration answers it with a
temperature below 1, which weakens the drawn levels' dependence on the rest of the row (and
biases the regressions fitted on the imputed tables). Most of that noise comes from a narrow
band of noise levels, where the one-hot block is being resolved (sigma about 0.2 to 0.7 in the
validity simulation, a tenth of the log range). So the noise draws are importance-sampled: per
model and column, a pilot run on the calibration rows measures how much the level-centred
loss varies in each bin of log sigma, and the draws are spread in proportion (stratified in
that density, each weighted by its inverse), which keeps the estimate unbiased and cut its
variance to about 0.4 of the evenly spread draws' there.

Even calibrated, a learned model's scores can miss part of how the level depends on the rest
of the row: in the validity simulation its drawn levels followed the exact posterior with a
slope of 0.86 (mice's 0.98), and on some tables barely at all, which attenuates the factor's
coefficients in the regressions fitted on the imputed tables. So the calibration also has a
term linear in the row's other encoded columns: a weakly penalised multinomial logit, as mice
fits for a factor, on top of which the scores carry whatever else the model learned. Proper
draws refit the calibration to each drawn model on the original rows, each row weighted by an
independent Exp(1) draw (the Bayesian bootstrap), so that the calibration's own estimation
error is drawn too: fitted on each model's bootstrap resample instead, that error was coupled
to the refit's and made the factor's intervals wider than their coverage needs
(``benchmarks/recentring.py``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

# Observed rows per column that the calibration is fitted on (a random subset of them).
CALIBRATION_ROWS = 1024
# Fewer observed rows than this, or a single observed level: the scores are used as they are.
MIN_CALIBRATION_ROWS = 20
# Rows (a random sample of every process's) that rank 0 calibrates on when the table is
# spread over a process group.
GROUP_CALIBRATION_ROWS = 20_000
# Network evaluations per missing cell (noise draws x levels) that a column with many levels
# may spend on its scores: it gets fewer noise draws than ``n_draws``, but at least MIN_DRAWS.
# 26 levels at 64 draws made the redraw cost four times the conditional sampler on letter.
EVALS_PER_CELL, MIN_DRAWS = 768, 8
# Prior sd of the calibration's coefficients, per unit of an encoded column (whose sd is
# about 0.5): weak, a guard against separation rather than a shrinkage.
COEFFICIENT_SD = 5.0


def draws_per_level(n_levels: int, n_draws: int) -> int:
    """The noise draws of a column with ``n_levels`` levels (see EVALS_PER_CELL)."""
    return min(n_draws, max(MIN_DRAWS, EVALS_PER_CELL // n_levels))


def antithetic_pairs(n_draws: int) -> int:
    """The (sigma, +eps), (sigma, -eps) pairs that ``n_draws`` noise draws make."""
    return max(1, (n_draws + 1) // 2)


class CategoryBlock(NamedTuple):
    """A categorical column's encoded columns, level shares and score calibration."""

    cols: slice
    shares: tuple
    temperature: float = 1.0
    offsets: torch.Tensor | None = None  # per level, added to the scaled scores
    # [other encoded columns, levels]: the linear term in the rest of the row (first level 0).
    coefficients: torch.Tensor | None = None
    # Per equal-width bin of log sigma, the share of the noise draws spent there (None: even);
    # see :func:`noise_density`.
    density: torch.Tensor | None = None


def pair_losses(denoiser, rows: torch.Tensor, sigma: torch.Tensor,
                eps: torch.Tensor) -> torch.Tensor:
    """[c, n]: || x - D(x + sigma e) ||^2 / sigma^2 for each candidate row x of ``rows``
    [c, n, d], averaged over the antithetic pair e = +eps, -eps (``sigma`` [n, 1], ``eps`` [n, d]
    shared by the c candidates of a row)."""
    c, n, d = rows.shape
    total = rows.new_zeros(c, n)
    for noise in (eps, -eps):
        noisy = (rows + sigma * noise).reshape(c * n, d)
        denoised = denoiser(noisy, sigma.repeat(c, 1).flatten()).reshape(c, n, d)
        total += ((rows - denoised) ** 2).sum(dim=2) / sigma.flatten() ** 2
    return total / 2


def log_sigmas(u: torch.Tensor, log_sigma_range: tuple[float, float],
               density: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniforms ``u`` mapped to log sigma with the piecewise-constant ``density`` over equal
    bins of the range (even when None), and the importance weights 1 / density(log sigma)."""
    lo, hi = log_sigma_range
    if density is None:
        return lo + (hi - lo) * u, torch.full_like(u, hi - lo)
    bins = len(density)
    ends = torch.cumsum(density, 0)
    k = torch.searchsorted(ends, u.flatten().contiguous(), right=True).clamp(max=bins - 1)
    k = k.reshape(u.shape)
    within = ((u - (ends[k] - density[k])) / density[k]).clamp(0, 1)
    return lo + (k + within) * (hi - lo) / bins, (hi - lo) / (bins * density[k])


def row_losses(denoiser, rows: torch.Tensor, log_sigma_range: tuple[float, float],
               n_draws: int, generator: torch.Generator,
               density: torch.Tensor | None = None) -> torch.Tensor:
    """ELBO estimate (up to a constant) for each candidate completion in ``rows`` [c, n, d].

    The c candidates of a row share their noise draws: ``n_draws`` (rounded up to even) as
    antithetic pairs (sigma, eps) and (sigma, -eps), with log sigma stratified over the range
    (in ``density``, see :func:`log_sigmas`). The pairs cancel the terms linear in eps, which
    carry most of the Monte Carlo noise of the differences between candidates. Returns [c, n].
    """
    c, n, d = rows.shape
    pairs = antithetic_pairs(n_draws)
    total = rows.new_zeros(c, n)
    for k in range(pairs):
        jitter = torch.rand(n, 1, generator=generator, device=rows.device, dtype=rows.dtype)
        u = (k + jitter) / pairs
        log_sigma, weight = log_sigmas(u, log_sigma_range, density)
        eps = torch.randn(n, d, generator=generator, device=rows.device, dtype=rows.dtype)
        total += weight.T * pair_losses(denoiser, rows, torch.exp(log_sigma), eps)
    return total / pairs


def noise_density(denoiser, rows: torch.Tensor, log_sigma_range: tuple[float, float], bins: int,
                  generator: torch.Generator, floor: float = 0.05) -> torch.Tensor | None:
    """Shares of the noise draws per equal bin of log sigma, for candidates ``rows`` [c, n, d]:
    proportional to the root mean square of the level-centred pair losses in the bin (one pair
    per row and bin), plus ``floor`` times their mean so that no bin is left out. None (even)
    when the losses do not differ between levels."""
    lo, hi = log_sigma_range
    c, n, d = rows.shape
    spread = []
    for k in range(bins):
        u = (k + torch.rand(n, 1, generator=generator, device=rows.device, dtype=rows.dtype)) / bins
        eps = torch.randn(n, d, generator=generator, device=rows.device, dtype=rows.dtype)
        losses = pair_losses(denoiser, rows, torch.exp(lo + (hi - lo) * u), eps)
        spread.append((losses - losses.mean(dim=0)).square().mean().sqrt())
    spread = torch.stack(spread)
    if not torch.isfinite(spread).all() or spread.sum() <= 0:
        return None
    density = spread + floor * spread.mean()
    return density / density.sum()


def encoded_levels(block: CategoryBlock, like: torch.Tensor) -> torch.Tensor:
    """[levels, levels]: row k is level k's encoding (one-hot minus the shares)."""
    width = block.cols.stop - block.cols.start
    return torch.eye(width, dtype=like.dtype, device=like.device) - torch.as_tensor(
        block.shares, dtype=like.dtype, device=like.device)


def completions(x: torch.Tensor, block: CategoryBlock) -> torch.Tensor:
    """[levels, n, d]: each row of x completed with each level of ``block``."""
    levels = encoded_levels(block, x)
    candidates = x.unsqueeze(0).repeat(len(levels), 1, 1)
    candidates[:, :, block.cols] = levels[:, None, :]
    return candidates


def other_columns(x: torch.Tensor, block: CategoryBlock) -> torch.Tensor:
    """x without ``block``'s encoded columns: what its level's linear term depends on."""
    return torch.cat([x[:, : block.cols.start], x[:, block.cols.stop :]], dim=1)


def calibrated_logits(block: CategoryBlock, scores: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """[n, levels]: ``scores`` of the rows x under ``block``'s calibration."""
    logits = block.temperature * scores
    if block.offsets is not None:
        logits = logits + block.offsets
    if block.coefficients is not None:
        logits = logits + other_columns(x, block) @ block.coefficients
    return logits


def _log_range(sigma_range: tuple[float, float]) -> tuple[float, float]:
    return math.log(sigma_range[0]), math.log(sigma_range[1])


def level_scores(denoiser, x: torch.Tensor, block: CategoryBlock, sigma_range: tuple[float, float],
                 n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """[n, levels]: minus the ELBO of each row of x completed with each level of ``block``,
    estimated with ``n_draws`` noise draws (fewer for many levels: :func:`draws_per_level`)
    spread in ``block.density``."""
    candidates = completions(x, block)
    n_draws = draws_per_level(len(candidates), n_draws)
    density = None if block.density is None else block.density.to(x.device, x.dtype)
    return -row_losses(denoiser, candidates, _log_range(sigma_range), n_draws, generator,
                       density).T


class Calibration(NamedTuple):
    """What :func:`fit_calibration` fits: see :func:`calibrated_logits`."""

    temperature: float
    offsets: torch.Tensor  # [levels]
    coefficients: torch.Tensor | None  # [features, levels], None without features


def fit_calibration(scores: torch.Tensor, labels: torch.Tensor, prior_sd: float = 0.5,
                    weights: torch.Tensor | None = None, features: torch.Tensor | None = None,
                    coefficient_sd: float = COEFFICIENT_SD) -> Calibration:
    """The calibration maximising the likelihood of ``labels`` (each row counted ``weights``
    times, once by default) under softmax(temperature x scores + offsets + features @
    coefficients), with N(0, prior_sd^2) priors on log temperature and the offsets, so that few
    rows barely move them, and N(0, coefficient_sd^2) on the coefficients (the first level's
    offset and coefficients are 0)."""
    scores = scores.double().detach()
    n, levels = scores.shape
    weights = scores.new_ones(n) if weights is None else weights.double()
    features = scores.new_zeros(n, 0) if features is None else features.double().detach()
    log_t = scores.new_zeros(1, requires_grad=True)
    free = scores.new_zeros(1 + features.shape[1], levels - 1, requires_grad=True)
    design = torch.cat([scores.new_ones(n, 1), features], dim=1)
    optimizer = torch.optim.LBFGS([log_t, free], max_iter=100, line_search_fn="strong_wolfe")

    def linear_part():
        return torch.cat([free.new_zeros(len(free), 1), free], dim=1)

    def objective():
        optimizer.zero_grad()
        logits = torch.exp(log_t) * scores + design @ linear_part()
        nll = (weights * torch.nn.functional.cross_entropy(logits, labels, reduction="none")).sum()
        penalty = (log_t.square().sum() + free[0].square().sum()) / prior_sd**2
        penalty = penalty + free[1:].square().sum() / coefficient_sd**2
        loss = nll + 0.5 * penalty
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(objective)
    fitted = linear_part().detach()
    return Calibration(float(torch.exp(log_t.detach())), fitted[0],
                       fitted[1:] if features.shape[1] else None)


@torch.no_grad()
def calibrate(denoiser, x: torch.Tensor, missing: torch.Tensor, block: CategoryBlock,
              sigma_range: tuple[float, float], n_draws: int, generator: torch.Generator,
              bootstrap: bool = False) -> CategoryBlock:
    """``block`` with the noise density (:func:`noise_density`) and the calibration (the
    scores' temperature and offsets and the linear term in the other columns) fitted on (up to
    CALIBRATION_ROWS) rows of x where its level is observed; unchanged when too few rows or a
    single level are observed. ``bootstrap``: the rows weighted by Exp(1) draws, a draw of the
    calibration from its Bayesian-bootstrap posterior rather than its fit."""
    rows = torch.nonzero(~missing[:, block.cols.start], as_tuple=True)[0]
    if len(rows) > CALIBRATION_ROWS:
        pick = torch.randperm(len(rows), generator=generator, device=rows.device)
        rows = rows[pick[:CALIBRATION_ROWS]]
    observed = x[rows]
    labels = torch.argmax(observed[:, block.cols], dim=1)  # 1 - share beats every -share
    if len(rows) < MIN_CALIBRATION_ROWS or len(torch.unique(labels)) < 2:
        return block
    pairs = antithetic_pairs(draws_per_level(len(block.shares), n_draws))
    density = noise_density(denoiser, completions(observed, block), _log_range(sigma_range),
                            pairs, generator)
    block = block._replace(density=density)
    scores = level_scores(denoiser, observed, block, sigma_range, n_draws, generator)
    weights = None
    if bootstrap:
        weights = torch.empty(len(rows), dtype=torch.float64, device=x.device)
        weights.exponential_(generator=generator)
    fitted = fit_calibration(scores, labels, weights=weights,
                             features=other_columns(observed, block))
    return block._replace(
        temperature=fitted.temperature, offsets=fitted.offsets.to(x.device, x.dtype),
        coefficients=None if fitted.coefficients is None
        else fitted.coefficients.to(x.device, x.dtype))


@torch.no_grad()
def resample_categories(denoiser, x: torch.Tensor, missing: torch.Tensor, blocks,
                        sigma_min: float, sigma_max: float, n_draws: int,
                        generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` with every missing one-hot block redrawn from its posterior given the row, and
    ``x`` with those blocks at their posterior expectation (the level probabilities, centred
    on the shares), whose argmax is the most probable level.

    ``blocks``: a :class:`CategoryBlock` for each categorical column (an encoded block is the
    one-hot minus the shares), its calibration applied to the scores. Blocks are visited in
    turn (one Gibbs sweep): a block's expectation is given the levels drawn before it.
    """
    x, expected = x.clone(), x.clone()
    for block in blocks:
        rows = torch.nonzero(missing[:, block.cols.start], as_tuple=True)[0]
        if len(rows) == 0:
            continue
        incomplete = x[rows]
        scores = level_scores(denoiser, incomplete, block, (sigma_min, sigma_max), n_draws,
                              generator)
        probabilities = torch.softmax(calibrated_logits(block, scores, incomplete), dim=1)
        chosen = torch.multinomial(probabilities, 1, generator=generator).flatten()
        levels = encoded_levels(block, x)
        x[rows, block.cols] = levels[chosen]
        expected[rows, block.cols] = probabilities @ levels
    return x, expected
