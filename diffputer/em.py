"""The EM driver: M-step (train the denoiser, ``training.py``), then E-step (sample).

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
pass into the model and into all the imputations it makes. On a large table only the last
M-step does, as Monte Carlo EM grows its sample as it converges: each EM iteration passes on
only part of the previous model's error (about the fraction of missing information), so the
earlier draws' noise fades. An M-step that passes over a small table's rows thousands of times
would learn one draw's missing cells by heart, and its draws would come out too sure: there
every M-step trains on the copies.
"""

from __future__ import annotations

import time
from functools import partial
from dataclasses import dataclass, replace

import numpy as np
import torch

from .diffusion import Preconditioned, karras_sigmas
from .categorical import (CALIBRATION_ROWS, GROUP_CALIBRATION_ROWS, CategoryBlock, calibrate,
                          resample_categories)
from .checkpoint import Checkpointer, EMState
from .corrector_check import CorrectorCheck, error_sums, hidden_cells, verdict
from .distributed import LOCAL, Group, sample_rows
from .encoding import CATEGORICAL, NUMERIC, SIGMA_DATA, TableEncoder
from .history import History, chain_statistics, pooled_statistics
from .initial import linear_fill
from .sampling import conditional_sample, lifted
from .settings import MANY_PASSES, Settings
from .training import (DivergenceError, held_out_indices, module_device, new_denoiser,
                       train_denoiser)

LIFT_ENTRIES = 2**25  # 128 MiB of float32
# Rows of new data that a fitted model completes to calibrate its categories on: twice what
# one column's calibration reads, so that columns with half their levels missing still fill it.
CALIBRATION_SAMPLE = 2 * CALIBRATION_ROWS
# The most entries (float32: 256 MiB) of the completed copies that an M-step trains on.
STACKED_ENTRIES = 2**26
# Seeds the draw of the held-out rows apart from the start values' draws (same base seed).
HELD_OUT_STREAM = 1
# Seeds the corrector check's rows, cells and draws apart from the fit's (same base seed).
CHECK_STREAM = 2


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def with_rows(X: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A copy of X whose ``rows`` are replaced by ``values``."""
    out = X.copy()
    out[rows] = values
    return out


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


def m_step_copies(settings: Settings, n: int, d: int, last: bool = True) -> int:
    """How many completed copies of an n x d table an M-step trains on: with stochastic EM,
    ``m_step_draws``, fewer where they would pass STACKED_ENTRIES (on a table that large one
    draw's noise averages out over the rows); one in M-steps but the ``last`` on a large table
    (at most MANY_PASSES over its rows); one without stochastic EM."""
    if settings.m_step_fill != "draw":
        return 1
    if not last and settings.m_step_passes(n) <= MANY_PASSES:
        return 1
    return max(1, min(settings.m_step_draws, STACKED_ENTRIES // max(1, n * d)))


def stacked_indices(indices: np.ndarray, n: int, copies: int) -> np.ndarray:
    """``indices`` of rows of an n-row table, in each of ``copies`` copies stacked on it."""
    return (indices[None, :] + n * np.arange(copies)[:, None]).ravel()


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
    estimate takes these cells' level probabilities, whose average over draws is less noisy
    than the drawn levels' (Rao-Blackwellisation). The corrector is fed ``fed``, by default
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
            sample, expected = resample_categories(
                denoiser, sample, m, categories, settings.sigma_min, settings.sigma_max,
                settings.category_draws, generator)
            for block in categories:
                mean[:, block.cols] = expected[:, block.cols]
        samples.append(sample)
        means.append(mean)
    return torch.cat(samples), torch.cat(means)


@dataclass
class EStep:
    mean: np.ndarray  # [rows, D] the posterior mean (the next M-step's table with fill "mean")
    point: np.ndarray  # [rows, D] the fill returned to users (``settings.point_estimate``)
    draws: list[np.ndarray]  # the first ``keep`` draws, each [rows, D]
    chain_means: np.ndarray  # [p, chains]
    chain_vars: np.ndarray


def with_median(mean: np.ndarray, cells: np.ndarray, estimates: list[np.ndarray]) -> np.ndarray:
    """``mean`` with its ``cells`` (a mask) set to the median of the draws' ``estimates`` of
    them, each a vector in the order of ``mean[cells]``."""
    point = mean.copy()
    point[cells] = np.median(np.stack(estimates), axis=0)
    return point


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
    """Average ``n_samples`` conditional draws' posterior-mean estimates (and, with
    ``settings.point_estimate="median"``, take their median in the missing numeric cells for
    the point fill); keep the first ``keep`` draws.

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
    # With the median, each draw's estimates of the missing numeric cells, [n_samples, cells].
    median_cells = M & numeric_entries(encoder) if settings.point_estimate == "median" else None
    estimates = []
    fed = corrector_inputs(denoiser, X_t, M_t, settings)
    for s in range(n_samples):
        sample, mean = draw(denoiser, X_t, M_t, settings, generator, categories, fed)
        sample = encoder.clip(sample.cpu().numpy())
        estimate = encoder.clip(mean.cpu().numpy())
        total += estimate
        if median_cells is not None:
            estimates.append(estimate[median_cells])
        if s < keep:  # a single draw must be a valid table: one-hot blocks snapped
            kept.append(encoder.project(sample.copy()))
        if chains is None or s < chains:
            mean, var = chain_statistics(encoder.values(sample)[None], missing_cells)
            means.append(mean)
            variances.append(var)
    mean = (total / n_samples).astype(np.float32)
    return EStep(
        mean=mean,
        point=mean if median_cells is None else with_median(mean, median_cells, estimates),
        draws=kept,
        chain_means=np.concatenate(means, axis=1),
        chain_vars=np.concatenate(variances, axis=1),
    )


def check_corrector(denoiser: Preconditioned, X: np.ndarray, M: np.ndarray,
                    encoder: TableEncoder, settings: Settings, seed: int,
                    group: Group = LOCAL) -> CorrectorCheck | None:
    """The masked-cell check of ``corrector_check.py`` on ``settings.corrector_check`` rows of
    the completed table X (split over a group's ranks), each side's point fill summarising
    ``n_samples`` draws (``EStep.point``), categories not redrawn; None when there is no
    corrector or no check.
    Its random streams come from ``seed`` alone, so that the fit's own draws are the same
    whether it runs or not."""
    numeric = np.flatnonzero(numeric_entries(encoder))
    if not settings.corrector_steps or not settings.corrector_check or not len(numeric):
        return None
    rng = np.random.default_rng([group.rank_seed(seed), CHECK_STREAM])
    rows, hide = hidden_cells(M, numeric, -(-settings.corrector_check // group.size), rng)
    truth, M_check = X[rows], M[rows] | hide
    X_check = np.where(hide, 0.0, truth).astype(X.dtype)  # hidden cells at the observed mean
    draw_seed = int(rng.integers(2**62))
    scale = z_scale(encoder)
    errors = []
    for steps in (settings.corrector_steps, 0):
        generator = make_generator(draw_seed, module_device(denoiser))
        step = e_step(denoiser, X_check, M_check, encoder,
                      replace(settings, corrector_steps=steps, category_draws=0), generator,
                      n_samples=settings.n_samples)
        errors.append((np.abs(step.point - truth) * scale)[hide])
    return verdict(group.sum(error_sums(*errors)))


def numeric_entries(encoder: TableEncoder) -> np.ndarray:
    """Per encoded entry: whether it holds a numeric column (one entry each)."""
    numeric = np.zeros(encoder.n_features, dtype=bool)
    for codec, cols in encoder.blocks():
        numeric[cols] = codec.kind == NUMERIC
    return numeric


def z_scale(encoder: TableEncoder) -> np.ndarray:
    """Per encoded entry: the factor that puts it on the z-scored scale (1 for one-hots)."""
    return np.where(numeric_entries(encoder), 1 / SIGMA_DATA, 1.0)


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
    completed: np.ndarray  # the last E-step's point estimates (``EStep.point``), all rows [n, D]
    mean: np.ndarray  # its posterior means, all rows (the same array where they are the point)
    missing: np.ndarray  # the mask M [n, D]
    draws: list[np.ndarray]  # ``keep`` single draws of the last E-step, all rows
    history: History
    # The settings the last E-step sampled with: without the corrector where the check
    # (``check_corrector``) turned it off. New draws from the model should use them.
    settings: Settings


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
    n_iter = settings.max_iter if incomplete else 1

    def copies_for(iteration: int) -> int:
        """The completed copies the M-step of ``iteration`` trains on."""
        if not incomplete:
            return 1
        return m_step_copies(settings, group.max(n), d, last=iteration == n_iter - 1)

    denoiser = None
    state = checkpoint.load(encoder.columns) if checkpoint is not None else None
    if state is None:
        first = 0
        rng = np.random.default_rng(group.rank_seed(seed)) if stochastic else None
        # The copies of the table that the M-steps train on, each completed by its own draws.
        tables = np.stack([start_values(X, M, encoder, settings.init, rng, group)
                           for _ in range(copies_for(0))])
        previous = tables[0][rows]  # the last E-step's mean (start values at first)
    else:
        first, tables, previous = state.iteration, state.tables, state.previous
        history = state.history
        denoiser = new_denoiser(encoder.n_features, settings.width, seed, device)
        denoiser.load_state_dict(state.weights)
        generator.set_state(state.generator)
    X = tables[0]  # the copy that the E-steps complete, and the result
    held_out = held_out_indices(n, settings.validation_fraction,
                                np.random.default_rng([group.rank_seed(seed), HELD_OUT_STREAM]))
    n_samples = max(settings.n_samples, keep)
    last_samples = n_samples if last_samples is None else max(last_samples, keep, 1)
    # With draws filling the M-step's tables, only the last E-step needs n_samples draws
    # (for the posterior mean); the others draw one per chain, at least one per copy.
    chains = max(keep, 1) if stochastic else n_samples
    scale = z_scale(encoder)
    draws: list[np.ndarray] = []
    sampler = settings

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

    imputed_cells = M[rows][:, encoder.offsets[:-1]].sum(axis=0)
    for iteration in range(first, n_iter):
        started = time.perf_counter()
        if denoiser is None or not settings.warm_start:
            denoiser = new_denoiser(encoder.n_features, settings.width, seed + iteration, device)
        withheld = (stacked_indices(held_out, n, len(tables)) if holds_rows_out(history)
                    else None)
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
        copies = 1 if last else copies_for(iteration + 1)  # for the next M-step
        keep_now = keep if last else 0
        if stochastic:
            keep_now = max(keep_now, copies)
        if last:
            count = last_samples
        else:  # a stochastic EM fills each copy of the next M-step's table with one draw
            count = max(chains, copies) if stochastic else n_samples
        check = check_corrector(denoiser, X, M, encoder, settings, seed + iteration, group)
        history.corrector_checks.append({} if check is None else check.to_dict())
        sampler = settings if check is None or check.keep else replace(settings,
                                                                        corrector_steps=0)
        categories = calibrated_blocks(denoiser, X, M, encoder, sampler, generator, group)
        step = e_step(denoiser, X[rows], M[rows], encoder, sampler, generator,
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
        # The last iteration leaves the posterior mean (what proper refits train on with fill
        # "mean").
        if last:
            X[rows] = np.where(missing, step.mean, X[rows])
        else:
            tables = np.stack([with_rows(X, rows, np.where(missing, fill, X[rows]))
                               for fill in m_step_values(step, settings, copies)])
            X = tables[0]
        history.add_iteration(time.perf_counter() - started, change, chain_means, chain_vars)
        if callback is not None:
            callback(history)
        if last:
            completed = X if step.point is step.mean else with_rows(X, rows, step.point)
            draws = [with_rows(X, rows, d) for d in step.draws[:keep]]
        elif checkpoint is not None:
            checkpoint.save(EMState(iteration + 1, tables, previous, denoiser.state_dict(),
                                    generator.get_state(), history))
    if checkpoint is not None:
        checkpoint.clear()
    if progress is not None:
        progress.close()
    return EMResult(denoiser=denoiser, completed=completed, mean=X, missing=M, draws=draws,
                    history=history, settings=sampler)
