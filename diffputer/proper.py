"""Multiple imputations that carry the model's uncertainty (Rubin's proper imputation).

``proper="refit"``: each draw from the fitted model refitted to a bootstrap resample
(:func:`proper_draws`); ``proper="bootstrap"``: each from an EM fit of its own to a bootstrap
resample (:func:`bootstrap_em_draws`).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch

from . import em
from .diffusion import Preconditioned
from .distributed import LOCAL, Group
from .encoding import TableEncoder
from .settings import Settings
from .training import module_device, train_denoiser


def proper_draws(
    denoiser: Preconditioned,
    tables: list[np.ndarray],
    M: np.ndarray,
    encoder: TableEncoder,
    settings: Settings,
    generator: torch.Generator,
    group: Group = LOCAL,
) -> list[np.ndarray]:
    """One draw per table in ``tables``, each carrying parameter uncertainty.

    ``tables`` hold the data completed as the last M-step saw it (see :func:`m_step_tables`).
    Draw l comes from the model refitted to a bootstrap resample of the rows of ``tables[l]``,
    as EM rerun on the resample would refit it (bootstrap EM), but warm-started from the
    fitted denoiser: ``proper_rounds`` rounds, each a fine-tune for ``proper_steps`` (at
    ``proper_lr``) followed, but for the last, by a new fill of the resample's missing cells
    (:func:`refill`). With one round the resample's missing cells keep the fitted model's
    fill, and the refit moves only part of the way a bootstrap EM would: by the observed share
    of the information.

    Any fine-tune from the fitted weights also drifts the same way whatever the resample (a
    fresh optimiser's first steps, training past the early-stopping point), and that drift
    narrows the draws. The m refitted weight vectors are therefore recentred on the fitted
    ones (:func:`recentred`): their spread is the bootstrap's, their mean the fitted model.
    The missing cells of the original rows are then drawn from each recentred model, its
    categories' calibration (:func:`em.calibrated_blocks`) refitted to it on the original rows,
    weighted by Bayesian-bootstrap draws independent of the refit's resample. Fitted on each
    refit's own resample, the calibration's error added to the refits' spread more than its
    share (``benchmarks/recentring.py``) and widened the factor's pooled intervals to about
    1.2 times mice's (``benchmarks/validity.py``).

    The fine-tunes hold no rows out: a resample repeats rows, so held-out ones would be
    trained on too. Like the M-step, each ends with the moving average of its weights
    (``ema_halflife``). Over a process ``group``, each rank resamples
    its own rows (a bootstrap stratified by shard) and the fine-tune is data-parallel.
    """
    refits = bootstrap_refits(denoiser, tables, M, encoder, settings, generator, group)
    fitted = torch.nn.utils.parameters_to_vector(denoiser.parameters()).detach()
    centred = recentred(fitted, [refit.weights for refit in refits])
    return [draw_with_weights(denoiser, weights, table, M, encoder, settings, generator, group)
            for table, weights in zip(tables, centred)]


def bootstrap_em_draws(X: np.ndarray, M: np.ndarray, encoder: TableEncoder, settings: Settings,
                       *, m: int, seed: int, device: torch.device,
                       group: Group = LOCAL) -> list[np.ndarray]:
    """m draws of X's missing cells (``M``; X encoded, those cells at their start values), draw
    l from an EM fit of its own to a bootstrap resample of X's rows: bootstrap EM, as Amelia II
    makes its imputations (Honaker and King 2010).

    Draws of one fitted model share that model's error, which the pooled variance does not
    see; m independent fits scatter it across the draws, where the between-imputation
    variance counts it, and the pooled estimate averages it. The fits hold no rows out (a
    resample repeats rows, so held-out ones would be trained on too), and each draws X's rows
    with its categories calibrated on them (:func:`em.step_on_rows`). Cost: m EM fits. Over a
    process ``group``, each rank resamples its own rows (a bootstrap stratified by shard) and
    each fit is data-parallel.
    """
    fit_settings = replace(settings, validation_fraction=0.0)
    # Per fit: the seeds of its EM, of its resample and of its draw.
    seeds = np.random.SeedSequence(seed).generate_state(3 * m, np.uint64) >> np.uint64(1)
    draws = []
    for fit_seed, resample_seed, draw_seed in seeds.reshape(m, 3).tolist():
        boot = np.random.default_rng(group.rank_seed(resample_seed)).integers(0, len(X), len(X))
        fit = em.run_em(X[boot], M[boot], encoder, fit_settings, seed=fit_seed, device=device,
                        last_samples=1, group=group)
        generator = em.make_generator(group.rank_seed(draw_seed), device)
        sampler = replace(settings, corrector_steps=fit.settings.corrector_steps)
        rows, step = em.step_on_rows(fit.denoiser, X, M, encoder, sampler, generator, group,
                                     n_samples=1, keep=1)
        draws.append(em.with_rows(X, rows, step.draws[0]))
    return draws


class Refit(NamedTuple):
    """A model refitted to a bootstrap resample: its weights (one vector), and the rows of the
    table that the resample drew (with repeats)."""

    weights: torch.Tensor
    rows: np.ndarray


def bootstrap_refits(denoiser: Preconditioned, tables: list[np.ndarray], M: np.ndarray,
                     encoder: TableEncoder, settings: Settings, generator: torch.Generator,
                     group: Group = LOCAL) -> list[Refit]:
    """Per table, the fitted denoiser refitted to a bootstrap resample of its rows, as
    :func:`proper_draws` describes."""
    device = module_device(denoiser)
    tuning = replace(settings, max_steps=settings.proper_steps, patience=settings.proper_steps,
                     lr=settings.proper_lr)
    refits = []
    for table in tables:
        boot = torch.randint(0, len(table), (len(table),), generator=generator, device=device)
        boot = boot.cpu().numpy()
        resample, M_boot = table[boot], M[boot]
        tuned = copy.deepcopy(denoiser)
        for round_ in range(settings.proper_rounds):
            if round_:
                resample = refill(tuned, resample, M_boot, encoder, settings, generator, group)
            train_denoiser(tuned, torch.as_tensor(resample, device=device), tuning, generator,
                           group=group)
        weights = torch.nn.utils.parameters_to_vector(tuned.parameters()).detach()
        refits.append(Refit(weights, boot))
    return refits


def draw_with_weights(denoiser: Preconditioned, weights: torch.Tensor, table: np.ndarray,
                      M: np.ndarray, encoder: TableEncoder, settings: Settings,
                      generator: torch.Generator, group: Group = LOCAL,
                      calibrated_on: tuple[np.ndarray, np.ndarray] | None = None,
                      bootstrap: bool = True) -> np.ndarray:
    """``table`` with its missing cells (``M``) drawn from ``denoiser`` holding ``weights``, its
    categories calibrated on the rows ``calibrated_on`` (X, M; by default ``table``'s), the
    calibration drawn from its Bayesian-bootstrap posterior unless not ``bootstrap``."""
    model = copy.deepcopy(denoiser)
    torch.nn.utils.vector_to_parameters(weights, model.parameters())
    categories = em.calibrated_blocks(model, *(calibrated_on or (table, M)), encoder, settings,
                                      generator, group, bootstrap=bootstrap)
    rows = np.flatnonzero(M.any(axis=1))
    device = module_device(denoiser)
    sample, _ = em.draw(model, torch.as_tensor(table[rows], device=device),
                        torch.as_tensor(M[rows], device=device), settings, generator, categories)
    return em.with_rows(table, rows, encoder.project(sample.cpu().numpy()))


def recentred(fitted: torch.Tensor, tuned: list[torch.Tensor]) -> list[torch.Tensor]:
    """The ``tuned`` weight vectors less their mean displacement from ``fitted``:
    ``fitted + w_l - mean(w)``. Their spread is unchanged; their mean is ``fitted``."""
    mean = torch.stack(tuned).mean(dim=0)
    return [fitted + w - mean for w in tuned]


def refill(denoiser: Preconditioned, X: np.ndarray, M: np.ndarray, encoder: TableEncoder,
           settings: Settings, generator: torch.Generator, group: Group = LOCAL) -> np.ndarray:
    """X with its missing cells filled anew by ``denoiser``, as the M-step's tables are filled
    (one draw, or the posterior mean of ``n_samples`` draws)."""
    rows = np.flatnonzero(M.any(axis=1))
    stochastic = settings.m_step_fill == "draw"
    categories = em.calibrated_blocks(denoiser, X, M, encoder, settings, generator, group)
    step = em.e_step(denoiser, X[rows], M[rows], encoder, settings, generator,
                     n_samples=1 if stochastic else settings.n_samples, keep=int(stochastic),
                     categories=categories)
    return em.with_rows(X, rows, np.where(M[rows], em.m_step_values(step, settings)[0], X[rows]))


def needs_posterior_mean(settings: Settings, m: int) -> bool:
    """Whether m proper draws fine-tune on the posterior mean (else on single draws)."""
    return settings.proper == "refit" and m > 1 and settings.m_step_fill == "mean"


def m_step_tables(mean_table: np.ndarray, draw_tables: list[np.ndarray], m: int,
                  settings: Settings) -> list[np.ndarray]:
    """The m tables that proper draws fine-tune on: completed as the M-step's tables are."""
    if settings.m_step_fill == "mean":
        return [mean_table] * m
    return list(draw_tables[:m])
