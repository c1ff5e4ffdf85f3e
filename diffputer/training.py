"""The M-step: training the denoiser on a completed table with the EDM loss.

Adam at the preset's learning rate, lowered when the epoch loss stalls (as in the reference
implementation), optionally ending with a moving average of the weights; rows held out of
the training score each epoch and pick the weights kept (see :func:`train_denoiser`).
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
import torch

from ._malloc import keep_freed_memory
from .diffusion import Preconditioned, edm_loss, row_losses, training_noise
from .distributed import LOCAL, Group
from .network import Denoiser
from .settings import Settings

# ReduceLROnPlateau on the epoch loss, as in the reference implementation.
LR_DECAY, LR_PATIENCE = 0.9, 40
GRAD_CLIP = 1.0
MOMENT_RIDGE = 1e-4
# Noisy copies of the held-out rows that score each epoch (see ``HeldOut``), and the most
# rows an M-step holds out, whatever the table's size.
VALIDATION_DRAWS, MAX_HELD_OUT = 2048, 4096


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss."""


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


class HeldOut:
    """Rows kept out of an M-step's training, scored under noise drawn once: every epoch's
    weights are scored on the same ``VALIDATION_DRAWS`` noisy copies, so that they compare
    without the noise of fresh draws."""

    def __init__(self, X: torch.Tensor, generator: torch.Generator, log_mean: float,
                 log_std: float):
        self.x = X.repeat(-(-VALIDATION_DRAWS // max(len(X), 1)), 1)
        self.sigma, self.noise = training_noise(self.x, generator, log_mean, log_std)

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
    are the moving average of :class:`WeightAverage`, not the last ones. The rows' moments go
    to the denoiser's buffers (:func:`record_moments`).

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
        X, scored = X[trained], HeldOut(X[held], generator, settings.noise_log_mean,
                                        settings.noise_log_std)
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
            loss = edm_loss(model, X[batch], generator, denoiser.sigma_data,
                            settings.noise_log_mean, settings.noise_log_std)
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
            raise DivergenceError(f"the training loss became {epoch_loss} "
                                  f"at epoch {len(losses) + 1}")
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
