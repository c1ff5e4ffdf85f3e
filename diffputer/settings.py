"""Hyperparameters of DiffPuter and the two presets.

``"paper"`` holds the settings of the DiffPuter paper and its reference code (meant for a GPU).
``"fast"`` (the default) was chosen by measurement on a 2-core CPU: see
``benchmarks/results/`` for the runs behind each value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from ._validation import (check_bool, check_choice, check_finite_float, check_fraction,
                          check_int, check_positive_float)
from .diffusion import P_MEAN, P_STD
from .initial import INITS

M_STEP_FILLS = ("mean", "draw")
POINT_ESTIMATES = ("mean", "median")
# Schemes of proper multiple imputation (``proper``; True means "refit"), see ``estimator.py``.
PROPER_SCHEMES = ("refit", "bootstrap")
# Passes over each row per M-step that mark a small table (at the fast preset's budget, one of
# fewer than 3,072 rows): its M-steps learn one draw's missing cells by heart unless they train
# on several drawn copies (``em.m_step_copies``), and more EM iterations buy it nothing
# (``auto_max_iter``).
MANY_PASSES = 1000


@dataclass(frozen=True)
class Settings:
    """Every knob of the EM loop, the M-step training and the E-step sampler."""

    # Denoiser: hidden width; None sizes it to the table (``auto_width``).
    width: int | None = 1024
    # M-step: training of the denoiser on the current completed table.
    epochs: int = 10_000
    # Optimiser steps per M-step at most (None: no cap; "auto": sized to the table).
    max_steps: int | str | None = None
    patience: int = 500
    batch_size: int = 4096
    # An epoch passes over the rows as often as it takes to see this many (0: once). The LR
    # schedule and early stopping watch the epoch loss; on a small table one pass is one noisy
    # batch, whose ups and downs read as a plateau and cut the training short.
    epoch_rows: int = 0
    # Share of the rows kept out of the training, at most 4,096 of them, the same rows for
    # every M-step of a fit until one keeps its last epoch; the later M-steps train on every
    # row (0: none, the paper). Their loss drives early stopping, and the weights of the last
    # epoch within one standard error of the lowest are kept: a network fitted to a small table
    # learns its rows by heart, and its draws come out far narrower than their errors.
    validation_fraction: float = 0.0
    lr: float = 1e-4
    # The noise levels the M-step trains at: ln(sigma) ~ N(noise_log_mean, noise_log_std^2)
    # (EDM's distribution, the paper's; other means did no better, see docs/design-notes.md).
    noise_log_mean: float = P_MEAN
    noise_log_std: float = P_STD
    # Half-life, in optimiser steps, of an exponential moving average of the weights (shorter
    # over an M-step's first steps, see ``training.WeightAverage``), which the M-step then ends
    # with (and early stopping scores); 0: the last weights (the paper).
    # Adam at a constant rate leaves the last weights scattered about where the loss settles,
    # and two fits of one small table then impute with different biases.
    ema_halflife: int = 0
    warm_start: bool = False
    # EM loop: iterations, and the start values of the missing entries.
    max_iter: int | str = 10
    init: str = "mean"
    # What fills the missing cells of the table each M-step trains on: the E-step's posterior
    # mean (the paper) or one conditional draw (stochastic EM; see ``em.py``).
    m_step_fill: str = "mean"
    # With draws: the M-step trains on this many copies of the table, each completed by its
    # own draw (Monte Carlo EM; on large tables only the last M-step, see
    # ``em.m_step_copies``). One draw's noise passes into the model, and every imputation it
    # makes shares it.
    m_step_draws: int = 1
    # E-step: the conditional sampler.
    n_steps: int = 50
    resample: int = 20
    n_samples: int = 20
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    churn: float = 1.0
    # Langevin corrector after the sampler (0 = off, the paper's sampler).
    corrector_steps: int = 0
    corrector_sigma: float = 0.05
    # Rows of the masked-cell check after each M-step, which turns the corrector off for that
    # E-step where it imputes hidden observed cells clearly worse (0: no check; see
    # ``corrector_check.py``).
    corrector_check: int = 0
    # Missing categories redrawn from their posterior, the ELBO estimated with this many
    # noise draws (0 = off, the paper's sampler; columns of more than 12 levels get fewer,
    # at most 768 network evaluations per cell); see ``categorical.py``.
    category_draws: int = 0
    sample_batch_size: int = 8192
    # What fills a numeric cell in ``fit_transform`` and ``transform``: the average of the
    # draws' posterior-mean estimates (the paper), or their median, which has the smaller
    # expected absolute error and stays on the spike of a column that is mostly one value.
    point_estimate: str = "mean"
    # Multiple imputation: with ``proper="refit"``, each of m > 1 draws comes from the model
    # refitted to a bootstrap resample of a table completed as the last M-step's was, in
    # ``proper_rounds`` rounds of ``proper_steps`` fine-tuning, the resample's missing cells
    # filled anew between rounds, the m weight vectors recentred on the fitted ones, their
    # categories calibrated on the original rows, Bayesian-bootstrap weighted (see
    # ``proper.proper_draws``). With ``"bootstrap"``, each comes from an EM fit of its own to a
    # bootstrap resample of the rows (``proper.bootstrap_em_draws``); False: the fitted model's.
    proper: bool | str = "refit"
    proper_steps: int = 2000
    proper_rounds: int = 1
    # Learning rate of those fine-tunes: a tenth of ``lr``. Adam's first steps move every
    # weight by about the learning rate whatever the data; at the full rate they scatter the m
    # models more than the bootstrap does and the pooled intervals come out too wide.
    proper_lr: float = 1e-5

    def validated(self) -> "Settings":
        if self.width is not None:
            check_int(self.width, name="width", minimum=1)
        for name in ("epochs", "patience", "batch_size", "n_steps",
                     "resample", "n_samples", "sample_batch_size", "proper_steps",
                     "proper_rounds", "m_step_draws"):
            check_int(getattr(self, name), name=name, minimum=1)
        if self.max_steps not in (None, "auto"):
            if isinstance(self.max_steps, str):
                raise ValueError("max_steps must be an integer >= 1, None or 'auto'; "
                                 f"got max_steps={self.max_steps!r}.")
            check_int(self.max_steps, name="max_steps", minimum=1)
        if self.max_iter != "auto":
            if isinstance(self.max_iter, str):
                raise ValueError("max_iter must be an integer >= 1 or 'auto'; "
                                 f"got max_iter={self.max_iter!r}.")
            check_int(self.max_iter, name="max_iter", minimum=1)
        for name in ("lr", "proper_lr", "sigma_min", "sigma_max", "rho", "noise_log_std"):
            check_positive_float(getattr(self, name), name=name)
        check_int(self.corrector_steps, name="corrector_steps", minimum=0)
        check_int(self.corrector_check, name="corrector_check", minimum=0)
        check_int(self.category_draws, name="category_draws", minimum=0)
        check_int(self.epoch_rows, name="epoch_rows", minimum=0)
        check_int(self.ema_halflife, name="ema_halflife", minimum=0)
        check_fraction(self.validation_fraction, name="validation_fraction", below=0.5)
        check_positive_float(self.corrector_sigma, name="corrector_sigma")
        check_finite_float(self.noise_log_mean, name="noise_log_mean")
        if self.churn < 0:
            raise ValueError(f"churn must be >= 0; got churn={self.churn!r}.")
        if not self.sigma_min < self.sigma_max:
            raise ValueError(
                f"sigma_min must be below sigma_max; got {self.sigma_min} and {self.sigma_max}."
            )
        check_choice(self.init, name="init", choices=INITS)
        check_choice(self.m_step_fill, name="m_step_fill", choices=M_STEP_FILLS)
        check_choice(self.point_estimate, name="point_estimate", choices=POINT_ESTIMATES)
        if not (isinstance(self.proper, bool) or self.proper in PROPER_SCHEMES):
            raise ValueError(f"proper must be True, False or one of {list(PROPER_SCHEMES)}; "
                             f"got proper={self.proper!r}.")
        return replace(self, warm_start=check_bool(self.warm_start, name="warm_start"),
                       proper="refit" if self.proper is True else self.proper)

    def to_dict(self) -> dict:
        return asdict(self)

    def for_table(self, n_features: int, n_rows: int) -> "Settings":
        """These settings with an automatic width, step budget and number of EM iterations
        resolved for a table of ``n_features`` encoded columns and ``n_rows`` rows."""
        width = auto_width(n_features) if self.width is None else self.width
        steps = self.max_steps
        if steps == "auto":
            steps = auto_max_steps(n_features, n_rows, self.batch_size)
        resolved = replace(self, width=width, max_steps=steps)
        if self.max_iter == "auto":
            resolved = replace(resolved, max_iter=auto_max_iter(resolved.m_step_passes(n_rows)))
        return resolved

    def m_step_passes(self, n_rows: int) -> float:
        """At most how many times an M-step passes over each of ``n_rows`` rows."""
        if self.max_steps is None:
            return self.epochs * max(1.0, self.epoch_rows / n_rows)
        return self.max_steps * self.batch_size / n_rows


def auto_width(n_features: int) -> int:
    """4 hidden units per encoded column, between 64 and 256, a multiple of 32.

    Measured on a 2-core CPU: 64 suffices for california (14 encoded columns; 128 gains 5% in
    MAE for 2.5 times the time); letter (32 columns) needs 128 (MAE 0.54 at 64, 0.45 at 128,
    0.37 at 256 for 3 times the time: pass ``width=256`` where accuracy is worth it).
    """
    return int(min(256, max(64, 32 * round(4 * n_features / 32))))


def auto_max_steps(n_features: int, n_rows: int, batch_size: int) -> int:
    """Optimiser steps per M-step: 3,000 x (encoded columns / 16)^2, at most 12,000 and at
    most 1,000 passes over the rows, never fewer than 3,000.

    Measured on a 2-core CPU (MCAR 30%, one seed): letter (32 columns, 20,000 rows) is
    undertrained at 3,000 steps (154 passes): MAE 0.446, 0.402 at 6,000 and 0.373 at 12,000
    for 1.5 times the time, where sampling costs more than training. California (14
    columns) gains 2% from 6,000 for 1.2 to 1.35 times the time, and obesity (38 columns,
    2,111 rows, 1,455 passes at 3,000 steps) 1.3% for 1.45 times.
    """
    steps = 3000 * (n_features / 16) ** 2
    passes = 1000 * n_rows / batch_size
    return int(max(3000, min(12_000, passes, round(steps))))


def auto_max_iter(passes: float) -> int:
    """EM iterations for M-steps that pass over each row ``passes`` times: 3 on a small table
    (more than MANY_PASSES), 5 on a large one.

    Measured on a 2-core CPU (MCAR 30%, one seed), 5 iterations instead of 3 cut the MAE of
    letter (614 passes) from 0.373 to 0.343 and of california (150 passes) from 0.336 to
    0.328: more training of a warm-started network, which a large table lacks. Concrete
    (2,983 passes) and obesity (1,455) stayed at 0.417 and 0.628 for 1.5 to 1.65 times the
    time.
    """
    return 3 if passes > MANY_PASSES else 5


PRESETS: dict[str, Settings] = {
    "paper": Settings(),
    "fast": Settings(
        width=None,
        epochs=10_000,
        max_steps="auto",
        patience=500,
        batch_size=1024,
        epoch_rows=16_384,
        validation_fraction=0.1,
        lr=1e-3,
        ema_halflife=200,
        warm_start=True,
        max_iter="auto",
        init="linear",
        m_step_fill="draw",
        m_step_draws=5,
        n_steps=15,
        resample=3,
        corrector_steps=200,
        corrector_check=1024,
        category_draws=64,
        n_samples=10,
        point_estimate="median",
        sigma_max=10.0,
        proper_steps=500,
        proper_rounds=3,
        proper_lr=1e-4,
    ),
}

SETTING_NAMES = tuple(f.name for f in fields(Settings))


def resolve(preset: str, **overrides) -> Settings:
    """The preset's settings with every non-None override applied, validated."""
    check_choice(preset, name="preset", choices=PRESETS.keys())
    unknown = set(overrides) - set(SETTING_NAMES)
    if unknown:
        raise TypeError(f"Unknown settings {sorted(unknown)}; known: {list(SETTING_NAMES)}.")
    chosen = {k: v for k, v in overrides.items() if v is not None}
    return replace(PRESETS[preset], **chosen).validated()
