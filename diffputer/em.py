"""The EM driver: M-step (train the denoiser on the completed table), E-step (sample).

DiffPuter, Algorithm 1: start from the mean-imputed table; at each iteration train a
diffusion model on the current completed table, then replace the missing entries by the
average of ``n_samples`` conditional draws (the posterior mean; with a Langevin corrector,
the average of each draw's chain mean, see ``sampling.py``). The draws of the last E-step are
single conditional draws from the final model: they are the multiple imputations.

With ``m_step_fill="draw"`` the M-step trains on the table completed by conditional draws
instead (stochastic EM, Celeux and Diebolt 1985). A model trained on posterior means learns
missing cells that are too predictable from the rest of their row, and multiple imputations
drawn from it overstate the relations between variables; a model trained on draws does not.
With ``m_step_draws`` > 1 it trains on that many copies of the table, each completed by its
own draw (Monte Carlo EM, Wei and Tanner 1990): the noise of a single draw would otherwise
pass into the model and into all the imputations it makes.
"""

from __future__ import annotations

import copy
import time
from functools import partial
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import torch

from ._malloc import keep_freed_memory
from .diffusion import Preconditioned, edm_loss, karras_sigmas, row_losses, training_noise
from .categorical import (CALIBRATION_ROWS, GROUP_CALIBRATION_ROWS, CategoryBlock, calibrate,
                          resample_categories)
from .checkpoint import Checkpointer, EMState
from .distributed import LOCAL, Group, sample_rows
from .encoding import CATEGORICAL, NUMERIC, SIGMA_DATA, TableEncoder
from .history import History, chain_statistics, pooled_statistics
from .initial import linear_fill
from .network import Denoiser
from .sampling import conditional_sample, lifted
from .settings import Settings

# ReduceLROnPlateau on the epoch loss, as in the reference implementation.
LR_DECAY, LR_PATIENCE = 0.9, 40
GRAD_CLIP = 1.0
MOMENT_RIDGE = 1e-4
LIFT_ENTRIES = 2**25  # 128 MiB of float32
# Rows of new data that a fitted model completes to calibrate its categories on: twice what
# one column's calibration reads, so that columns with half their levels missing still fill it.
CALIBRATION_SAMPLE = 2 * CALIBRATION_ROWS
# Noisy copies of the held-out rows that score each epoch (see ``HeldOut``), and the most
# rows an M-step holds out, whatever the table's size.
VALIDATION_DRAWS, MAX_HELD_OUT = 2048, 4096
# The most entries (float32: 256 MiB) of the completed copies that an M-step trains on.
STACKED_ENTRIES = 2**26
# Seeds the draw of the held-out rows apart from the start values' draws (same base seed).
HELD_OUT_STREAM = 1


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss."""


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def with_rows(X: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A copy of X whose ``rows`` are replaced by ``values``."""
    out = X.copy()
    out[rows] = values
    return out


def module_device(module: torch.nn.Module) -> torch.device:
    return next(iter(module.state_dict().values())).device


def new_denoiser(n_features: int, width: int, seed: int, device) -> Preconditioned:
    """A freshly initialised denoiser; initialisation depends on ``seed`` only. The first one
    of a process keeps freed tensor memory in it (see ``_malloc.py``)."""
    keep_freed_memory()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = Denoiser(n_features, width)
    return Preconditioned(net).to(device)


def batch_indices(order: torch.Tensor, batch_size: int, steps: int):
    """``steps`` batches of the shuffled rows ``order``: its consecutive slices (the last may
    be short), then, when more steps are asked (a rank with fewer rows than another), full
    batches taken from its start again."""
    n = len(order)
    own = -(-n // batch_size)
    for i in range(steps):
        if i < own:
            yield order[i * batch_size : (i + 1) * batch_size]
        else:
            start = (i - own) * batch_size
            yield order[torch.arange(start, start + batch_size, device=order.device) % n]


def passes_per_epoch(rows_per_pass: int, epoch_rows: int) -> int:
    """Passes over the rows in one training epoch: enough to train on ``epoch_rows`` rows,
    at least one."""
    return max(1, -(-epoch_rows // rows_per_pass))


class EpochPlan(NamedTuple):
    """How an M-step trains on its rows: ``batch_size`` rows per step (per rank), ``passes``
    over the rows and ``steps`` optimiser steps per epoch, at most ``epochs`` epochs."""
    batch_size: int
    passes: int
    steps: int
    epochs: int


def epoch_plan(n: int, settings: Settings, group: Group = LOCAL) -> EpochPlan:
    """The :class:`EpochPlan` of an M-step training on this rank's ``n`` rows: every rank
    takes as many steps per epoch as the one with the most rows, and ``max_steps`` caps the
    epochs."""
    batch_size = max(1, min(settings.batch_size // group.size, group.max(n)))
    per_pass = group.max(-(-n // batch_size))
    passes = passes_per_epoch(per_pass * batch_size * group.size, settings.epoch_rows)
    steps = passes * per_pass
    epochs = settings.epochs
    if settings.max_steps is not None:
        epochs = min(epochs, -(-settings.max_steps // steps))
    return EpochPlan(batch_size, passes, steps, epochs)


def held_out_rows(n: int, fraction: float) -> int:
    """How many of n rows an M-step keeps out of its training: ``fraction`` of them, rounded
    down, at most MAX_HELD_OUT, and none when that leaves less than 8 rows to train on."""
    held = min(int(n * fraction), MAX_HELD_OUT)
    return held if n - held >= 8 else 0


def held_out_indices(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """The rows (sorted indices) that a fit keeps out of all its M-steps, drawn once: a
    warm-started network has learnt every row an earlier M-step trained on, and rows drawn
    afresh would score it as if they were new to it (their loss then rises from the first
    epoch, and the M-step keeps nearly untrained weights)."""
    return np.sort(rng.permutation(n)[:held_out_rows(n, fraction)])


def holds_rows_out(history: History) -> bool:
    """Whether the next M-step keeps the held-out rows out of its training: until one M-step
    has kept its last epoch (its held-out loss ended within one standard error of its lowest,
    no sign of rows learnt by heart); the M-steps after it train on every row. On 1,000-row
    tables the held-out loss is flat to the end of every M-step, and the rows withheld from
    the later ones only cost accuracy and interval coverage (docs/design-notes.md); a small
    table, learnt by heart, keeps an early epoch and its rows held out (airquality: epochs 68,
    66 and 95 of 125 in the first M-step, seeds 0 to 2)."""
    return not any(scores and kept == len(losses) for scores, kept, losses
                   in zip(history.held_out_losses, history.kept_epochs, history.losses))


def m_step_copies(settings: Settings, n: int, d: int) -> int:
    """How many completed copies of an n x d table each M-step trains on: ``m_step_draws``
    with stochastic EM (else 1), fewer where they would pass STACKED_ENTRIES; on a table that
    large one draw's noise averages out over the rows."""
    if settings.m_step_fill != "draw":
        return 1
    return max(1, min(settings.m_step_draws, STACKED_ENTRIES // max(1, n * d)))


def stacked_indices(indices: np.ndarray, n: int, copies: int) -> np.ndarray:
    """``indices`` of rows of an n-row table, in each of ``copies`` copies stacked on it."""
    return (indices[None, :] + n * np.arange(copies)[:, None]).ravel()


class HeldOut:
    """Rows kept out of an M-step's training, scored under noise drawn once: every epoch's
    weights are scored on the same ``VALIDATION_DRAWS`` noisy copies, so that they compare
    without the noise of fresh draws."""

    def __init__(self, X: torch.Tensor, generator: torch.Generator):
        self.x = X.repeat(-(-VALIDATION_DRAWS // max(len(X), 1)), 1)
        self.sigma, self.noise = training_noise(self.x, generator)

    @torch.no_grad()
    def loss(self, denoiser: Preconditioned) -> np.ndarray:
        """[summed loss, summed squared loss, count] of the noisy copies (zeros when no row is
        held out), to sum over ranks before :func:`mean_and_error`."""
        if not len(self.x):
            return np.zeros(3)
        losses = row_losses(denoiser, self.x, self.sigma, self.noise, denoiser.sigma_data)
        return np.array([float(losses.sum()), float((losses ** 2).sum()), len(self.x)])


def mean_and_error(summed: float, squares: float, count: float) -> tuple[float, float]:
    """The mean of ``count`` losses from their sum and sum of squares, and its standard error."""
    mean = summed / count
    return mean, float(np.sqrt(max(squares / count - mean ** 2, 0.0) / count))


class WeightAverage:
    """An exponential moving average of a module's weights with a half-life of ``halflife``
    updates, in a copy of the module (``model``). Its first updates weigh the new weights
    more (decay at most (1 + t) / (10 + t) at update t), so that the average soon leaves the
    starting point."""

    def __init__(self, module: torch.nn.Module, halflife: int):
        self.model = copy.deepcopy(module)
        self.decay = 0.5 ** (1 / halflife)
        self.updates = 0

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        averaged = list(self.model.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in module.parameters()], 1 - decay)


@torch.no_grad()
def record_moments(denoiser: Preconditioned, X: torch.Tensor, group: Group = LOCAL) -> None:
    """Store the mean and covariance of X's rows (all ranks') in the denoiser's buffers. A
    ridge of 1e-4 keeps the covariance invertible: a one-hot block's entries sum to a constant."""
    X64 = X.double()
    n = group.sum(float(X.shape[0]))
    total = group.sum(X64.sum(dim=0).cpu().numpy())
    products = group.sum((X64.T @ X64).cpu().numpy())
    mean = total / n
    cov = products / n - np.outer(mean, mean) + MOMENT_RIDGE * np.eye(len(mean))
    denoiser.data_mean.copy_(torch.as_tensor(mean))
    denoiser.data_cov.copy_(torch.as_tensor(cov))


def train_denoiser(
    denoiser: Preconditioned,
    X: torch.Tensor,
    settings: Settings,
    generator: torch.Generator,
    on_epoch=None,
    group: Group = LOCAL,
    held_out: np.ndarray | None = None,
    on_start=None,
) -> list[float]:
    """M-step: fit the denoiser to the rows of X with the EDM loss; the epoch losses. An epoch
    passes over the rows as often as ``settings.epoch_rows`` asks (:func:`passes_per_epoch`),
    each time in a new order.

    The rows ``held_out`` (indices into X, see :func:`held_out_indices`) are kept out of the
    training: their loss (:class:`HeldOut`) decides early stopping, and the denoiser ends
    with the weights of the last epoch whose held-out loss was within one standard error of
    the lowest so far. Where the loss is flat within its noise, that is the last epoch, not
    one the noise happened to favour; where it rises (a small table learnt by heart), an
    early one. The learning rate follows the training loss.
    ``on_start(epochs)`` runs before the first epoch, with the most epochs the M-step can
    run (:func:`epoch_plan`); ``on_epoch(loss, held_out_loss, kept)`` runs after every epoch
    (``held_out_loss`` None when no row is held out; ``kept`` whether the denoiser now ends
    with this epoch's weights). With ``settings.ema_halflife``, the weights scored and kept
    are the moving average of :class:`WeightAverage`, not the last ones. The rows' moments go to the denoiser's
    buffers (:func:`record_moments`).

    Over a process ``group`` (X this rank's rows), each step trains on ``batch_size / size``
    rows of every rank, every rank takes as many steps per epoch as the one with the most
    rows, and the epoch loss is the ranks' mean (see ``distributed.py``).
    """
    denoiser.train()
    record_moments(denoiser, X, group)
    held = torch.as_tensor([] if held_out is None else held_out, dtype=torch.long,
                           device=X.device)
    validating = group.sum(float(len(held))) > 0
    if validating:
        trained = torch.ones(X.shape[0], dtype=torch.bool, device=X.device)
        trained[held] = False
        X, scored = X[trained], HeldOut(X[held], generator)
    model = group.parallel(denoiser)
    average = WeightAverage(denoiser, settings.ema_halflife) if settings.ema_halflife else None
    kept = denoiser if average is None else average.model
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=LR_DECAY, patience=LR_PATIENCE
    )
    n = X.shape[0]
    plan = epoch_plan(n, settings, group)
    if on_start is not None:
        on_start(plan.epochs)
    losses, steps, best, stale, best_weights = [], 0, float("inf"), 0, None
    for _ in range(plan.epochs):
        order = torch.cat([torch.randperm(n, generator=generator, device=X.device)
                           for _ in range(plan.passes)])
        total, batches = 0.0, 0
        for batch in batch_indices(order, plan.batch_size, plan.steps):
            loss = edm_loss(model, X[batch], generator, denoiser.sigma_data)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(denoiser.parameters(), GRAD_CLIP)
            optimizer.step()
            if average is not None:
                average.update(denoiser)
            total, batches, steps = total + loss.item(), batches + 1, steps + 1
            if settings.max_steps is not None and steps >= settings.max_steps:
                break
        epoch_loss = group.mean(total / batches)
        if not np.isfinite(epoch_loss):
            raise DivergenceError(f"the training loss became {epoch_loss} at epoch {len(losses) + 1}")
        losses.append(epoch_loss)
        scheduler.step(epoch_loss)
        held_out_loss, error = None, 0.0
        if validating:
            held_out_loss, error = mean_and_error(*group.sum(scored.loss(kept)))
        watched = epoch_loss if held_out_loss is None else held_out_loss
        if watched < best:
            best, stale = watched, 0
        else:
            stale += 1
        keeping = validating and held_out_loss <= best + error
        if keeping:
            best_weights = copy.deepcopy(kept.state_dict())
        if on_epoch is not None:
            on_epoch(epoch_loss, held_out_loss, keeping)
        if stale >= settings.patience or (settings.max_steps and steps >= settings.max_steps):
            break
    if best_weights is not None:
        denoiser.load_state_dict(best_weights)
    elif average is not None:
        denoiser.load_state_dict(average.model.state_dict())
    denoiser.eval()
    return losses


def categorical_blocks(encoder: TableEncoder) -> list[CategoryBlock]:
    """The (uncalibrated) :class:`CategoryBlock` of every categorical column."""
    return [CategoryBlock(cols, tuple(codec.shares))
            for codec, cols in encoder.blocks() if codec.kind == CATEGORICAL]


def calibrated_blocks(denoiser: Preconditioned, X: np.ndarray, M: np.ndarray,
                      encoder: TableEncoder, settings: Settings,
                      generator: torch.Generator, group: Group = LOCAL,
                      bootstrap: bool = False) -> list[CategoryBlock]:
    """The categorical blocks with the denoiser's scores calibrated on X's observed levels
    (see ``categorical.py``; ``bootstrap``: calibrations drawn from their Bayesian-bootstrap
    posterior); uncalibrated when categories are not redrawn.

    Over a process ``group`` they are calibrated on rank 0, on a sample of every rank's rows
    (at most GROUP_CALIBRATION_ROWS in all), and broadcast.
    """
    blocks = categorical_blocks(encoder)
    if not settings.category_draws or not blocks:
        return blocks
    device = module_device(denoiser)
    if group.size > 1:
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator,
                                                      device=generator.device)))
        X, M = sample_rows((X, M), GROUP_CALIBRATION_ROWS, group, rng)
        fitted = None
        if group.rank == 0:
            fitted = [block_to(block, "cpu") for block in
                      calibrated_blocks(denoiser, X, M, encoder, settings, generator,
                                        bootstrap=bootstrap)]
        return [block_to(block, device) for block in group.broadcast(fitted)]
    X_t, M_t = torch.as_tensor(X, device=device), torch.as_tensor(M, device=device)
    return [calibrate(denoiser, X_t, M_t, block, (settings.sigma_min, settings.sigma_max),
                      settings.category_draws, generator, bootstrap) for block in blocks]


def step_on_rows(denoiser: Preconditioned, X: np.ndarray, M: np.ndarray, encoder: TableEncoder,
                 settings: Settings, generator: torch.Generator, group: Group = LOCAL, *,
                 n_samples: int, keep: int) -> tuple[np.ndarray, "EStep"]:
    """A fitted model's E-step on the incomplete rows of a table, as on new data: its
    categories calibrated on the table's rows completed by one draw (:func:`calibration_table`).
    Returns (the incomplete rows' indices, the step)."""
    X_cal, M_cal = calibration_table(denoiser, X, M, encoder, settings, generator)
    categories = calibrated_blocks(denoiser, X_cal, M_cal, encoder, settings, generator, group)
    rows = np.flatnonzero(M.any(axis=1))
    step = e_step(denoiser, X[rows], M[rows], encoder, settings, generator,
                  n_samples=n_samples, keep=keep, categories=categories)
    return rows, step


def calibration_table(denoiser: Preconditioned, X: np.ndarray, M: np.ndarray,
                      encoder: TableEncoder, settings: Settings,
                      generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(X, M) of at most CALIBRATION_SAMPLE rows of new data, their missing cells completed by
    one conditional draw (categories uncalibrated): what a fitted model calibrates its
    categories on (:func:`calibrated_blocks`) before drawing new rows. The calibration reads
    the rest of each row, and the encoder's fill of a missing cell (the observed mean) would
    stand in for it: on the validity design the factor's coefficients then came out off by 0.1.
    (X, M) unchanged when no category is redrawn, or none is missing."""
    blocks = categorical_blocks(encoder)
    if not settings.category_draws or not any(M[:, b.cols.start].any() for b in blocks):
        return X, M
    keep = torch.randperm(len(X), generator=generator, device=generator.device)
    keep = np.sort(keep[:CALIBRATION_SAMPLE].cpu().numpy())
    X, M = X[keep], M[keep]
    rows = np.flatnonzero(M.any(axis=1))
    if len(rows):
        step = e_step(denoiser, X[rows], M[rows], encoder, settings, generator,
                      n_samples=1, keep=1)
        X = with_rows(X, rows, step.draws[0])
    return X, M


def block_to(block: CategoryBlock, device) -> CategoryBlock:
    """``block`` with its tensors on ``device``."""
    return block._replace(**{name: getattr(block, name).to(device)
                             for name in ("offsets", "coefficients", "density")
                             if getattr(block, name) is not None})


def trained_moments(denoiser) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mean, covariance) of the rows the denoiser was trained on; None if it holds none."""
    cov = getattr(denoiser, "data_cov", None)
    if cov is None or not bool(cov.any()):
        return None
    return denoiser.data_mean, cov


def corrector_inputs(denoiser, X: torch.Tensor, M: torch.Tensor,
                     settings: Settings) -> torch.Tensor | None:
    """X with its observed entries lifted for the corrector (:func:`sampling.lifted`) with
    the moments of the denoiser's training rows, in row batches; None when there is no
    corrector, no moments or no row."""
    moments = trained_moments(denoiser)
    if not settings.corrector_steps or moments is None or not len(X):
        return None
    # Each row solves its own d x d system: batches hold at most LIFT_ENTRIES matrix entries.
    step = max(1, min(settings.sample_batch_size, LIFT_ENTRIES // X.shape[1] ** 2))
    return torch.cat([lifted(X[i : i + step], M[i : i + step], *moments,
                             settings.corrector_sigma) for i in range(0, X.shape[0], step)])


def draw(
    denoiser: Preconditioned,
    X: torch.Tensor,
    M: torch.Tensor,
    settings: Settings,
    generator: torch.Generator,
    categories: list = (),
    fed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One conditional draw of the missing entries of X, in row batches, and an estimate of
    their posterior mean (see :func:`conditional_sample`).

    With ``settings.category_draws`` > 0, the missing cells of the ``categories`` blocks
    (see :func:`calibrated_blocks`) are then redrawn from their posterior given the row; the
    estimate takes these cells from the draw. The corrector is fed ``fed``, by default
    :func:`corrector_inputs` (pass it to share it between draws of the same rows).
    """
    if X.shape[0] == 0:
        return X.clone(), X.clone()
    sigmas = karras_sigmas(settings.n_steps, settings.sigma_min, settings.sigma_max, settings.rho)
    step = settings.sample_batch_size
    samples, means = [], []
    if fed is None:
        fed = corrector_inputs(denoiser, X, M, settings)
    for i in range(0, X.shape[0], step):
        x, m = X[i : i + step], M[i : i + step]
        sample, mean = conditional_sample(
            denoiser, x, m, sigmas, resample=settings.resample, churn=settings.churn,
            corrector_steps=settings.corrector_steps, corrector_sigma=settings.corrector_sigma,
            x_fed=None if fed is None else fed[i : i + step], generator=generator,
        )
        if settings.category_draws and categories:
            sample = resample_categories(denoiser, sample, m, categories, settings.sigma_min,
                                         settings.sigma_max, settings.category_draws, generator)
            for block in categories:
                mean[:, block.cols] = sample[:, block.cols]
        samples.append(sample)
        means.append(mean)
    return torch.cat(samples), torch.cat(means)


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
    categories' calibration (:func:`calibrated_blocks`) refitted to it on the original rows,
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
    with its categories calibrated on them (:func:`step_on_rows`). Cost: m EM fits. Over a
    process ``group``, each rank resamples its own rows (a bootstrap stratified by shard) and
    each fit is data-parallel.
    """
    fit_settings = replace(settings, validation_fraction=0.0)
    # Per fit: the seeds of its EM, of its resample and of its draw.
    seeds = np.random.SeedSequence(seed).generate_state(3 * m, np.uint64) >> np.uint64(1)
    draws = []
    for fit_seed, resample_seed, draw_seed in seeds.reshape(m, 3).tolist():
        boot = np.random.default_rng(group.rank_seed(resample_seed)).integers(0, len(X), len(X))
        fit = run_em(X[boot], M[boot], encoder, fit_settings, seed=fit_seed, device=device,
                     last_samples=1, group=group)
        generator = make_generator(group.rank_seed(draw_seed), device)
        rows, step = step_on_rows(fit.denoiser, X, M, encoder, settings, generator, group,
                                  n_samples=1, keep=1)
        draws.append(with_rows(X, rows, step.draws[0]))
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
    categories = calibrated_blocks(model, *(calibrated_on or (table, M)), encoder, settings,
                                   generator, group, bootstrap=bootstrap)
    rows = np.flatnonzero(M.any(axis=1))
    device = module_device(denoiser)
    sample, _ = draw(model, torch.as_tensor(table[rows], device=device),
                     torch.as_tensor(M[rows], device=device), settings, generator, categories)
    return with_rows(table, rows, encoder.project(sample.cpu().numpy()))


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
    categories = calibrated_blocks(denoiser, X, M, encoder, settings, generator, group)
    step = e_step(denoiser, X[rows], M[rows], encoder, settings, generator,
                  n_samples=1 if stochastic else settings.n_samples, keep=int(stochastic),
                  categories=categories)
    return with_rows(X, rows, np.where(M[rows], m_step_values(step, settings)[0], X[rows]))


def needs_posterior_mean(settings: Settings, m: int) -> bool:
    """Whether m proper draws fine-tune on the posterior mean (else on single draws)."""
    return settings.proper == "refit" and m > 1 and settings.m_step_fill == "mean"


def m_step_tables(mean_table: np.ndarray, draw_tables: list[np.ndarray], m: int,
                  settings: Settings) -> list[np.ndarray]:
    """The m tables that proper draws fine-tune on: completed as the M-step's tables are."""
    if settings.m_step_fill == "mean":
        return [mean_table] * m
    return list(draw_tables[:m])


@dataclass
class EStep:
    mean: np.ndarray  # [rows, D] the posterior mean (the next M-step's table with fill "mean")
    draws: list[np.ndarray]  # the first ``keep`` draws, each [rows, D]
    chain_means: np.ndarray  # [p, chains]
    chain_vars: np.ndarray


def m_step_values(step: EStep, settings: Settings, copies: int = 1) -> list[np.ndarray]:
    """What fills the missing cells of the next M-step's table, per copy: one draw each, or
    the mean."""
    return step.draws[:copies] if settings.m_step_fill == "draw" else [step.mean]


def e_step(
    denoiser: Preconditioned,
    X: np.ndarray,
    M: np.ndarray,
    encoder: TableEncoder,
    settings: Settings,
    generator: torch.Generator,
    *,
    n_samples: int,
    keep: int = 0,
    chains: int | None = None,
    categories: list[CategoryBlock] | None = None,
) -> EStep:
    """Average ``n_samples`` conditional draws' posterior-mean estimates; keep the first
    ``keep`` draws.

    ``chains``: how many of the draws (the first ones; default all) enter the chain statistics.
    ``categories``: the calibrated blocks of :func:`calibrated_blocks` (default uncalibrated).

    X and M hold only rows with at least one missing entry.
    """
    device = module_device(denoiser)
    X_t = torch.as_tensor(X, device=device)
    M_t = torch.as_tensor(M, device=device)
    missing_cells = M[:, encoder.offsets[:-1]]
    total = np.zeros_like(X, dtype=np.float64)
    if categories is None:
        categories = categorical_blocks(encoder)
    kept, means, variances = [], [], []
    fed = corrector_inputs(denoiser, X_t, M_t, settings)
    for s in range(n_samples):
        sample, mean = draw(denoiser, X_t, M_t, settings, generator, categories, fed)
        sample = encoder.clip(sample.cpu().numpy())
        total += encoder.clip(mean.cpu().numpy())
        if s < keep:  # a single draw must be a valid table: one-hot blocks snapped
            kept.append(encoder.project(sample.copy()))
        if chains is None or s < chains:
            mean, var = chain_statistics(encoder.values(sample)[None], missing_cells)
            means.append(mean)
            variances.append(var)
    return EStep(
        mean=(total / n_samples).astype(np.float32),
        draws=kept,
        chain_means=np.concatenate(means, axis=1),
        chain_vars=np.concatenate(variances, axis=1),
    )


def z_scale(encoder: TableEncoder) -> np.ndarray:
    """Per encoded entry: the factor that puts it on the z-scored scale (1 for one-hots)."""
    scale = np.ones(encoder.n_features)
    for codec, cols in encoder.blocks():
        if codec.kind == NUMERIC:
            scale[cols] = 1 / SIGMA_DATA
    return scale


def start_values(X: np.ndarray, M: np.ndarray, encoder: TableEncoder, init: str,
                 rng: np.random.Generator | None = None, group: Group = LOCAL) -> np.ndarray:
    """X with its missing entries at their EM start values (a copy); drawn when ``rng`` is
    given (for a stochastic EM), else predicted. Over a process ``group`` (X this rank's
    rows), the regressions are fitted on all ranks' rows."""
    if init == "mean" or not group.sum(float(M.any())):
        return X.copy()
    blocks = [np.arange(cols.start, cols.stop) for _, cols in encoder.blocks()]
    shares = [np.asarray(codec.shares) if codec.kind == CATEGORICAL else None
              for codec, _ in encoder.blocks()]
    total = None if group.size == 1 else group.sum
    return encoder.clip(linear_fill(X, M, blocks, rng=rng, shares=shares,
                                    total=total).astype(np.float32))


@dataclass
class EMResult:
    denoiser: Preconditioned
    completed: np.ndarray  # the last E-step's mean, all rows [n, D]
    missing: np.ndarray  # the mask M [n, D]
    draws: list[np.ndarray]  # ``keep`` single draws of the last E-step, all rows
    history: History


def run_em(
    X: np.ndarray,
    M: np.ndarray,
    encoder: TableEncoder,
    settings: Settings,
    *,
    seed: int,
    device: torch.device,
    keep: int = 0,
    last_samples: int | None = None,
    callback=None,
    progress=None,
    checkpoint: Checkpointer | None = None,
    group: Group = LOCAL,
) -> EMResult:
    """DiffPuter's EM loop on an encoded table (missing entries of X at their initial value).

    The last E-step averages ``last_samples`` draws (default ``max(n_samples, keep)``) and
    keeps the first ``keep``; fewer than ``n_samples`` when only the draws are wanted.

    ``progress`` is an object with ``iteration(k, epochs)`` (``epochs``: the most that M-step
    can run), ``epoch(loss)`` and ``close()`` (a tqdm wrapper) or None; ``callback(history)``
    runs after every epoch and every EM iteration.
    With a ``checkpoint``, the loop resumes from its saved state and saves it after every
    iteration but the last (see ``checkpoint.py``). Over a process ``group``, X and M hold
    this rank's rows, and so does the result (see ``distributed.py``).
    """
    generator = make_generator(group.rank_seed(seed), device)
    history = History(variables=encoder.columns)
    rows = np.flatnonzero(M.any(axis=1))
    stochastic = settings.m_step_fill == "draw"
    n, d = X.shape
    # Nothing to iterate on, nor to draw copies of, on a complete table.
    incomplete = bool(group.sum(float(M.any())))
    copies = m_step_copies(settings, group.max(n), d) if incomplete else 1
    denoiser = None
    state = checkpoint.load(encoder.columns) if checkpoint is not None else None
    if state is None:
        first = 0
        rng = np.random.default_rng(group.rank_seed(seed)) if stochastic else None
        # The copies of the table that the M-steps train on, each completed by its own draws.
        tables = np.stack([start_values(X, M, encoder, settings.init, rng, group)
                           for _ in range(copies)])
        previous = tables[0][rows]  # the last E-step's mean (start values at first)
    else:
        first, tables, previous = state.iteration, state.tables, state.previous
        history = state.history
        denoiser = new_denoiser(encoder.n_features, settings.width, seed, device)
        denoiser.load_state_dict(state.weights)
        generator.set_state(state.generator)
    X = tables[0]  # the copy that the E-steps complete, and the result
    held_out = stacked_indices(
        held_out_indices(n, settings.validation_fraction,
                         np.random.default_rng([group.rank_seed(seed), HELD_OUT_STREAM])),
        n, copies)
    n_samples = max(settings.n_samples, keep)
    last_samples = n_samples if last_samples is None else max(last_samples, keep, 1)
    # With draws filling the M-step's tables, only the last E-step needs n_samples draws
    # (for the posterior mean); the others draw one per chain, at least one per copy.
    chains = max(keep, 1) if stochastic else n_samples
    scale = z_scale(encoder)
    draws: list[np.ndarray] = []

    def on_epoch(loss, held_out_loss, kept):
        history.losses[-1].append(loss)
        if held_out_loss is not None:
            history.held_out_losses[-1].append(held_out_loss)
        if kept:
            history.kept_epochs[-1] = len(history.losses[-1])
        if progress is not None:
            progress.epoch(loss)
        if callback is not None:
            callback(history)

    n_iter = settings.max_iter if incomplete else 1
    imputed_cells = M[rows][:, encoder.offsets[:-1]].sum(axis=0)
    for iteration in range(first, n_iter):
        started = time.perf_counter()
        if denoiser is None or not settings.warm_start:
            denoiser = new_denoiser(encoder.n_features, settings.width, seed + iteration, device)
        withheld = held_out if holds_rows_out(history) else None
        on_start = None if progress is None else partial(progress.iteration, iteration)
        history.losses.append([])
        history.held_out_losses.append([])
        history.kept_epochs.append(0)
        try:
            train_denoiser(denoiser, torch.as_tensor(tables.reshape(-1, d), device=device),
                           settings, generator, on_epoch, group, withheld, on_start)
        except DivergenceError as err:
            raise DivergenceError(
                f"EM iteration {iteration + 1} diverged: {err}. Try a smaller lr or batch_size."
            ) from None
        last = iteration == n_iter - 1
        keep_now = keep if last else 0
        if stochastic:
            keep_now = max(keep_now, 1 if last else copies)
        if last:
            count = last_samples
        else:  # a stochastic EM fills each copy of the next M-step's table with one draw
            count = max(chains, copies) if stochastic else n_samples
        categories = calibrated_blocks(denoiser, X, M, encoder, settings, generator, group)
        step = e_step(denoiser, X[rows], M[rows], encoder, settings, generator,
                      n_samples=count, keep=keep_now, chains=chains, categories=categories)
        missing = M[rows]
        changed, n_missing = group.sum(np.array([
            np.abs((step.mean - previous) * scale)[missing].sum(), missing.sum()]))
        change = float(changed / n_missing) if n_missing else 0.0
        chain_means, chain_vars = step.chain_means, step.chain_vars
        if group.size > 1:
            chain_means, chain_vars = pooled_statistics(
                group.all_gather((imputed_cells, chain_means, chain_vars)))
        previous = step.mean
        # The last iteration leaves the posterior mean: fit_transform's answer.
        fills = [step.mean] if last else m_step_values(step, settings, copies)
        for table, fill in zip(tables, fills):
            table[rows] = np.where(missing, fill, table[rows])
        history.add_iteration(time.perf_counter() - started, change, chain_means, chain_vars)
        if callback is not None:
            callback(history)
        if last:
            draws = [with_rows(X, rows, d) for d in step.draws[:keep]]
        elif checkpoint is not None:
            checkpoint.save(EMState(iteration + 1, tables, previous, denoiser.state_dict(),
                                    generator.get_state(), history))
    if checkpoint is not None:
        checkpoint.clear()
    if progress is not None:
        progress.close()
    return EMResult(denoiser=denoiser, completed=X, missing=M, draws=draws, history=history)
