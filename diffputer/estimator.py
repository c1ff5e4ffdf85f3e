"""``DiffPuter``: the scikit-learn style estimator around the EM engine."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._progress import ProgressBars
from ._validation import as_dataframe, check_int, check_min_rows
from .checkpoint import Checkpointer, fingerprint
from .distributed import Group, current_group, local_device
from .em import make_generator, run_em, step_on_rows, with_rows
from .encoding import TableEncoder, summarise
from .history import History
from .proper import bootstrap_em_draws, m_step_tables, needs_posterior_mean, proper_draws
from .result import MultipleImputation
from .settings import SETTING_NAMES, resolve

# Offsets that separate the random streams of fitting, transform and impute.
_SEED_FIT, _SEED_TRANSFORM, _SEED_IMPUTE, _SEED_PROPER = 0, 1, 2, 3


def resolve_device(device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; other values as ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError("device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; "
                         f"got device={device!r}.") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here.")
    return resolved


def _seed(random_state, stream: int) -> int:
    """A 63-bit seed for one random stream; fresh entropy when ``random_state`` is None."""
    if random_state is not None:
        random_state = check_int(random_state, name="random_state", minimum=0)
    entropy = None if random_state is None else [random_state, stream]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)


class DiffPuter(TransformerMixin, BaseEstimator):
    """Missing-data imputation with a diffusion model inside EM (DiffPuter, ICLR 2025).

    Parameters
    ----------
    preset : {"fast", "paper"}
        Default values of every setting below that is left as None. ``"paper"`` is the
        authors' configuration (for GPUs); ``"fast"`` is tuned for a laptop CPU.
    width : int
        Hidden width W of the denoiser MLP (W -> 2W -> 2W -> W). The fast preset sizes it to
        the table: 4 units per encoded column, between 64 and 256.
    epochs, epoch_rows, max_steps, patience, batch_size, lr, warm_start :
        M-step training: at most ``epochs`` epochs and ``max_steps`` optimiser updates
        (``"auto"``, the fast preset's: 3,000 x (encoded columns / 16)^2, at most 12,000 and
        1,000 passes over the rows, at least 3,000), early stop after ``patience`` epochs
        without improvement, Adam with learning rate ``lr``; an epoch passes over the rows as
        often as it takes to see ``epoch_rows`` rows (once with 0, the paper's);
        ``warm_start`` keeps the network from one EM iteration to the next.
    noise_log_mean, noise_log_std : float
        The noise levels the M-step trains at: ln(sigma) is normal with this mean and
        standard deviation (EDM's -1.2 and 1.2, the paper's).
    ema_halflife : int
        The M-step ends with a moving average of the weights over its last steps (this
        half-life, in steps; 0: the last weights, the paper's), which early stopping also
        scores: the last weights of a constant-rate Adam wander about the optimum, and each
        fit would impute with its own bias.
    validation_fraction : float in [0, 0.5)
        Share of the rows kept out of the training (at most 4,096 rows, drawn once per fit);
        early stopping watches their loss, and the M-step keeps the weights of the last epoch
        whose loss is within one standard error of the lowest. Once an M-step keeps its last
        epoch (no sign of rows learnt by heart), the later ones train on every row. 0 (the
        paper's) trains on every row for the whole budget. On a small table a network trained
        to the end learns its rows by heart, and its draws come out far narrower than their
        errors.
    max_iter : int or "auto"
        EM iterations; ``"auto"`` (the fast preset's): 3 on a small table, 5 where an M-step
        passes over the rows at most 1,000 times (at the fast preset's budget, 3,072 rows or
        more), whose network more iterations train further.
    init : {"mean", "linear"}
        Start values of the missing entries: the observed mean (the paper's), or a few
        sweeps of ridge regressions on the other columns (drawing around their predictions
        when ``m_step_fill="draw"``).
    m_step_fill : {"mean", "draw"}
        What completes the table each M-step trains on: the E-step's posterior mean (the
        paper's) or one conditional draw (stochastic EM, the fast preset's). Trained on means,
        the model overstates how predictable the missing cells are, and so do its imputations.
    m_step_draws : int
        With ``m_step_fill="draw"``, each M-step trains on this many copies of the table, each
        completed by its own draw (Monte Carlo EM; fewer copies where they would pass 2**26
        entries). On a table whose M-steps pass over the rows at most 1,000 times, only the
        last M-step does, the others train on one. Trained on one draw, the model keeps that
        draw's noise, and all its imputations share it, unseen by the pooled intervals.
    n_steps, resample, n_samples, sigma_min, sigma_max, rho, churn, sample_batch_size :
        E-step sampler: Heun steps, RePaint repeats per step, draws averaged per E-step,
        EDM noise schedule and stochasticity, rows per sampling batch.
    corrector_steps, corrector_sigma :
        Langevin moves at noise level ``corrector_sigma`` after the sampler, with the
        observed entries held exact; they undo the injection sampler's shrinkage of the
        draws towards the mean (0 turns them off, as in the paper).
    corrector_check : int
        Rows of a check after each M-step: a further 30% of their observed numeric cells are
        hidden and imputed with the corrector and without, and that E-step samples without
        it where its errors are larger by more than two standard errors (on a table the
        network fits badly it can cost accuracy). 0: no check. ``settings_`` and
        ``history_.corrector_checks`` record the outcome.
    category_draws :
        If > 0, each missing categorical cell is finally redrawn from its posterior given
        the rest of the row, p(level | row) from the model's ELBO estimated with this many
        noise draws (fewer for columns of more than 12 levels, so that a cell costs at most
        768 network evaluations), calibrated on the rows where the level is observed; the
        injection sampler alone makes categories depend too little on the row. 0 turns it
        off (the paper preset).
    point_estimate : {"mean", "median"}
        What fills a missing numeric cell in ``fit_transform`` and ``transform``: the
        average of the ``n_samples`` draws' posterior-mean estimates (the paper's), or their
        median (the fast preset's), which has the smaller expected absolute error and, on a
        column that is mostly one value (zeros, say), stays on that value where the mean
        would not. Categories take the most probable level either way; the M-steps and the
        draws of ``impute`` are the same.
    proper : {"refit", "bootstrap", False}
        How m > 1 imputations carry parameter uncertainty (True means "refit"). ``"refit"``
        (the default): each draw comes from the fitted model refitted to a bootstrap resample
        of a table completed as the last M-step's was (by one draw each, or by the posterior
        mean), in ``proper_rounds`` rounds of fine-tuning for ``proper_steps`` at learning
        rate ``proper_lr`` (a tenth of ``lr``), the resample's missing cells filled anew
        between rounds, the m refitted weight vectors then recentred on the fitted ones
        (their spread is the bootstrap's, not their common drift), each one's categories
        calibrated on the original rows with Bayesian-bootstrap weights. ``"bootstrap"``:
        each draw comes from an EM fit of its own to a bootstrap resample of the rows
        (bootstrap EM, holding no rows out): m more fits, but the fitted model's own error
        is no longer shared by every draw. False: the m draws share the final model.
    proper_steps, proper_rounds, proper_lr :
        The fine-tunes of ``proper="refit"``, above.
    device : "auto", "cpu", "cuda" or torch.device
    random_state : int or None
        Seed; the same seed on the same device gives the same output (and, with
        ``distributed``, the same number of processes).
    distributed : bool
        Fit together with the other processes of the ``torch.distributed`` process group
        (launched by ``torchrun``, initialised by the caller): each process passes its own
        contiguous shard of the rows (rank 0 the first) and gets its shard back; they train
        one model, data-parallel (see ``distributed.py``). On GPUs each process uses the
        device ``cuda:LOCAL_RANK``.
    progress : bool
        Show tqdm progress bars.
    callback : callable or None
        ``callback(history)`` after every training epoch and every EM iteration.
    """

    def __init__(
        self,
        *,
        preset="fast",
        width=None,
        epochs=None,
        epoch_rows=None,
        validation_fraction=None,
        max_steps=None,
        patience=None,
        batch_size=None,
        lr=None,
        noise_log_mean=None,
        noise_log_std=None,
        ema_halflife=None,
        warm_start=None,
        max_iter=None,
        init=None,
        m_step_fill=None,
        m_step_draws=None,
        n_steps=None,
        resample=None,
        n_samples=None,
        sigma_min=None,
        sigma_max=None,
        rho=None,
        churn=None,
        corrector_steps=None,
        corrector_sigma=None,
        corrector_check=None,
        category_draws=None,
        sample_batch_size=None,
        point_estimate=None,
        proper=None,
        proper_steps=None,
        proper_rounds=None,
        proper_lr=None,
        device="auto",
        random_state=None,
        progress=True,
        callback=None,
        distributed=False,
    ):
        self.preset = preset
        self.width = width
        self.epochs = epochs
        self.epoch_rows = epoch_rows
        self.validation_fraction = validation_fraction
        self.max_steps = max_steps
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.noise_log_mean = noise_log_mean
        self.noise_log_std = noise_log_std
        self.ema_halflife = ema_halflife
        self.warm_start = warm_start
        self.max_iter = max_iter
        self.init = init
        self.m_step_fill = m_step_fill
        self.m_step_draws = m_step_draws
        self.n_steps = n_steps
        self.resample = resample
        self.n_samples = n_samples
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.rho = rho
        self.churn = churn
        self.corrector_steps = corrector_steps
        self.corrector_sigma = corrector_sigma
        self.corrector_check = corrector_check
        self.category_draws = category_draws
        self.sample_batch_size = sample_batch_size
        self.point_estimate = point_estimate
        self.proper = proper
        self.proper_steps = proper_steps
        self.proper_rounds = proper_rounds
        self.proper_lr = proper_lr
        self.device = device
        self.random_state = random_state
        self.progress = progress
        self.callback = callback
        self.distributed = distributed

    # -- fitting ---------------------------------------------------------------------------

    def _settings(self):
        return resolve(self.preset, **{name: getattr(self, name) for name in SETTING_NAMES})

    def _group(self) -> Group:
        return current_group(self.distributed)

    def _fit(self, X, keep: int = 0, mean: bool = True, checkpoint_dir=None):
        """EM on X; ``mean=False``: the caller wants only the ``keep`` draws (see ``impute``)."""
        settings = self._settings()
        group = self._group()
        device = local_device(resolve_device(self.device), group)
        if group.size > 1 and checkpoint_dir is not None:
            raise ValueError("checkpoint_dir cannot be combined with distributed=True yet; "
                             "leave it out (None).")
        seed = _seed(self.random_state, _SEED_FIT)
        if self.callback is not None and not callable(self.callback):
            raise TypeError("callback must be callable or None; "
                            f"got {type(self.callback).__name__}.")
        df, was_array = as_dataframe(X)
        check_min_rows(df)
        # Every process learns the encoding from the column summaries of all of them.
        encoder = TableEncoder.from_summaries(group.all_gather(summarise(df)))
        settings = settings.for_table(encoder.n_features, int(group.sum(float(len(df)))))
        X_enc, M = encoder.encode(df)
        incomplete = bool(group.sum(float(M.any())))
        if not incomplete:
            warnings.warn("X has no missing values; nothing to impute.", UserWarning, stacklevel=3)
        progress = (ProgressBars(settings.max_iter if incomplete else 1)
                    if self.progress and group.rank == 0 else None)
        last_samples = None if mean or needs_posterior_mean(settings, keep) else keep
        checkpoint = None
        if checkpoint_dir is not None:
            fit_id = fingerprint(X_enc, M, settings, seed=seed, keep=keep,
                                 last_samples=last_samples, device=str(device))
            checkpoint = Checkpointer(checkpoint_dir, fit_id)
        result = run_em(X_enc, M, encoder, settings, seed=seed, device=device, keep=keep,
                        last_samples=last_samples, callback=self.callback, progress=progress,
                        checkpoint=checkpoint, group=group)
        self.settings_ = result.settings
        self.encoder_ = encoder
        self.denoiser_ = result.denoiser
        self.history_ = result.history
        self.device_ = device
        self.n_features_in_ = df.shape[1]
        if not was_array:
            self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        return df, was_array, result

    def fit(self, X, y=None, checkpoint_dir=None):
        """Run EM on X: learn the diffusion model of its rows. Returns self.

        With ``checkpoint_dir``, the EM state is saved there after each iteration, and a fit
        killed mid-way resumes from it when rerun with the same data, parameters and
        directory, ending as an uninterrupted fit would (see ``checkpoint.py``).
        """
        self._fit(X, checkpoint_dir=checkpoint_dir)
        return self

    def fit_transform(self, X, y=None, checkpoint_dir=None):
        """Fit on X and return X completed with the last E-step's point estimates (see
        ``point_estimate``; ``checkpoint_dir``: see ``fit``)."""
        df, was_array, result = self._fit(X, checkpoint_dir=checkpoint_dir)
        return self._output(self.encoder_.decode(result.completed, df), was_array)

    # -- imputing with the fitted model ------------------------------------------------------

    def _prepare(self, X):
        check_is_fitted(self, "denoiser_")
        df, was_array = as_dataframe(X)
        if was_array and df.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {df.shape[1]} columns but DiffPuter was fitted with {self.n_features_in_}."
            )
        X_enc, M = self.encoder_.encode(df)
        return df, was_array, X_enc, M

    def _draws(self, X_enc, M, n_samples: int, keep: int, stream: int):
        group = self._group()
        generator = make_generator(group.rank_seed(_seed(self.random_state, stream)), self.device_)
        return step_on_rows(self.denoiser_, X_enc, M, self.encoder_, self.settings_, generator,
                            group, n_samples=n_samples, keep=keep)

    def transform(self, X):
        """Impute X with the fitted model (no refit): the mean (or median, see
        ``point_estimate``) of ``n_samples`` draws."""
        df, was_array, X_enc, M = self._prepare(X)
        rows, step = self._draws(X_enc, M, self.settings_.n_samples, 0, _SEED_TRANSFORM)
        X_enc[rows] = step.point
        return self._output(self.encoder_.decode(X_enc, df), was_array)

    def impute(self, X, m: int = 5) -> MultipleImputation:
        """m conditional draws of X's missing cells (no refit of EM on X, but with
        ``proper="bootstrap"``).

        Without ``proper``, or with m = 1, these are m draws from the fitted model. With
        ``proper="refit"`` (default), draw l then comes from the model fine-tuned on a bootstrap
        resample of X completed by draw l (or, with ``m_step_fill="mean"``, by the posterior
        mean of ``n_samples`` draws); with ``proper="bootstrap"``, from an EM fit of its own
        to a bootstrap resample of X.
        """
        m = check_int(m, name="m", minimum=1)
        df, _, X_enc, M = self._prepare(X)
        if self._is_proper(m, "bootstrap"):
            return self._result(df, self._bootstrap_draws(X_enc, M, m), self.history_)
        needs_mean = needs_posterior_mean(self.settings_, m)
        n_draws = max(m, self.settings_.n_samples) if needs_mean else m
        rows, step = self._draws(X_enc, M, n_draws, m, _SEED_IMPUTE)
        draws = [with_rows(X_enc, rows, d) for d in step.draws]
        if self._is_proper(m, "refit"):
            draws = self._proper_draws(with_rows(X_enc, rows, step.mean), draws, M)
        return self._result(df, draws, self.history_)

    def _is_proper(self, m: int, scheme: str) -> bool:
        """Whether m draws are proper ones of this ``scheme`` ("refit" or "bootstrap")."""
        return self.settings_.proper == scheme and m > 1

    def _proper_draws(self, mean_table, draw_tables, M):
        """One proper draw per draw table; they fine-tune on tables like the M-step's."""
        group = self._group()
        generator = make_generator(group.rank_seed(_seed(self.random_state, _SEED_PROPER)),
                                   self.device_)
        tables = m_step_tables(mean_table, draw_tables, len(draw_tables), self.settings_)
        return proper_draws(self.denoiser_, tables, M, self.encoder_, self.settings_, generator,
                            group)

    def _bootstrap_draws(self, X_enc, M, m: int):
        """m draws of X_enc's missing cells, each from an EM fit to a bootstrap resample."""
        return bootstrap_em_draws(X_enc, M, self.encoder_, self.settings_, m=m,
                                  seed=_seed(self.random_state, _SEED_PROPER),
                                  device=self.device_, group=self._group())

    def _result(self, df, draws, history: History) -> MultipleImputation:
        """Wrap encoded completed tables [n, D] into a MultipleImputation of ``df``."""
        imp = [self.encoder_.imputed_cells(draw, df) for draw in draws]
        return MultipleImputation(df, imp, history, model=self)

    @staticmethod
    def _output(df: pd.DataFrame, was_array: bool):
        return df.to_numpy() if was_array else df

    # -- persistence --------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the fitted model (weights + JSON metadata) to ``path``."""
        from .persistence import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path) -> "DiffPuter":
        """Read a model written by ``save``; never unpickles arbitrary objects."""
        from .persistence import load_model

        return load_model(path)


def impute(data, m: int = 5, checkpoint_dir=None, **options) -> MultipleImputation:
    """Fit DiffPuter on ``data`` and return m imputations: the one-call path.

    ``options`` are ``DiffPuter``'s parameters; ``checkpoint_dir``: see ``DiffPuter.fit``.
    Each of the m imputations is one conditional draw: from the final model fine-tuned on a
    bootstrap resample of a table completed as the last M-step's was (``proper="refit"``,
    default), from an EM fit of its own to a bootstrap resample of the rows
    (``proper="bootstrap"``), or from the final model (``proper=False``).
    """
    m = check_int(m, name="m", minimum=1)
    unknown = sorted(set(options) - set(DiffPuter._get_param_names()))
    if unknown:
        raise TypeError(f"Unknown option(s) {unknown}; DiffPuter's parameters are "
                        f"{DiffPuter._get_param_names()}.")
    model = DiffPuter(**options)
    if model._settings().proper == "bootstrap" and m > 1:  # the m fits replace the last draws
        df, _, result = model._fit(data, mean=False, checkpoint_dir=checkpoint_dir)
        draws = model._bootstrap_draws(*model.encoder_.encode(df), m)
        return model._result(df, draws, result.history)
    df, _, result = model._fit(data, keep=m, mean=False, checkpoint_dir=checkpoint_dir)
    draws = result.draws
    if model._is_proper(m, "refit"):
        draws = model._proper_draws(result.mean, draws, result.missing)
    return model._result(df, draws, result.history)
