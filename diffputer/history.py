"""What the EM loop records, iteration by iteration.

``losses`` holds each M-step's training loss per epoch, and ``held_out_losses`` the loss of the
rows it kept out of training (empty lists when ``validation_fraction`` is 0, and for the
M-steps after one that kept its last epoch, which train on every row: ``em.holds_rows_out``);
the M-step ends with the weights of the last epoch whose held-out loss was within one standard
error of the lowest before it (``kept_epochs``, see ``training.train_denoiser``).

``chain_mean`` and ``chain_var`` follow mice's ``chainMean`` / ``chainVar`` layout:
arrays [variables, iterations, chains] holding the mean and variance of the imputed cells of
each variable in each E-step draw (numeric columns in their own units, categorical columns as
1-based level codes, as mice does for factors; NaN where a variable has nothing imputed).

``corrector_checks`` holds, per iteration, the outcome of the check that decides whether that
E-step's sampler ends with the Langevin corrector (``corrector_check.py``; {} where none ran).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class History:
    variables: list
    losses: list[list[float]] = field(default_factory=list)
    held_out_losses: list[list[float]] = field(default_factory=list)
    kept_epochs: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    change: list[float] = field(default_factory=list)
    chain_means: list[np.ndarray] = field(default_factory=list)
    chain_vars: list[np.ndarray] = field(default_factory=list)
    # Per iteration, the corrector check's outcome (``CorrectorCheck.to_dict``; {} if none ran).
    corrector_checks: list[dict] = field(default_factory=list)

    @property
    def n_iter(self) -> int:
        """Completed EM iterations."""
        return len(self.seconds)

    def kept_epoch(self, iteration: int = -1) -> int:
        """The 1-based epoch whose weights M-step ``iteration`` kept (so far, while it runs),
        the last one when no row was held out."""
        if self.held_out_losses[iteration]:
            return self.kept_epochs[iteration]
        return len(self.losses[iteration])

    def kept_reason(self, iteration: int = -1) -> str:
        """Why M-step ``iteration`` keeps the weights of :meth:`kept_epoch`, in words."""
        if self.held_out_losses[iteration]:
            return "held-out loss within one standard error of its lowest"
        if any(self.held_out_losses[: iteration % len(self.losses)]):
            return ("last epoch: an earlier M-step kept its last epoch, so this one trained on "
                    "every row")
        return "last epoch: no rows held out"

    @property
    def chain_mean(self) -> np.ndarray:
        return self._stack(self.chain_means)

    @property
    def chain_var(self) -> np.ndarray:
        return self._stack(self.chain_vars)

    def _stack(self, per_iteration: list[np.ndarray]) -> np.ndarray:
        if not per_iteration:
            return np.empty((len(self.variables), 0, 0))
        return np.stack(per_iteration, axis=1)

    def add_iteration(self, seconds: float, change: float, chain_means, chain_vars) -> None:
        """Close an EM iteration: its wall time, imputation change and chain statistics."""
        self.seconds.append(float(seconds))
        self.change.append(float(change))
        self.chain_means.append(np.asarray(chain_means))
        self.chain_vars.append(np.asarray(chain_vars))

    def to_dict(self) -> dict:
        return {
            "variables": [str(v) for v in self.variables],
            "losses": self.losses,
            "held_out_losses": self.held_out_losses,
            "kept_epochs": self.kept_epochs,
            "seconds": self.seconds,
            "change": self.change,
            "chain_mean": self.chain_mean.tolist(),
            "chain_var": self.chain_var.tolist(),
            "corrector_checks": self.corrector_checks,
        }

    @classmethod
    def from_dict(cls, data: dict, variables: list) -> "History":
        held_out = data.get("held_out_losses", [[] for _ in data["losses"]])
        # Saved before kept_epochs were recorded: those M-steps kept their lowest held-out loss.
        kept = data.get("kept_epochs", [int(np.argmin(h)) + 1 if h else 0 for h in held_out])
        history = cls(variables=variables, losses=data["losses"], seconds=data["seconds"],
                      change=data["change"], held_out_losses=held_out, kept_epochs=kept,
                      corrector_checks=data.get("corrector_checks", [{} for _ in data["losses"]]))
        for key, target in (("chain_mean", history.chain_means), ("chain_var", history.chain_vars)):
            stacked = np.asarray(data[key], dtype=float)
            if stacked.ndim == 3:  # [variables, iterations, chains]; fewer dims when empty
                target.extend(stacked[:, i, :] for i in range(stacked.shape[1]))
        return history


def chain_statistics(draws_values: np.ndarray, missing: np.ndarray):
    """Per variable and draw: mean and variance (denominator n-1) of the imputed cells
    (inf where the variance exceeds the float range, as it does for values near 1e300)."""
    n_chains, _, p = draws_values.shape
    means = np.full((p, n_chains), np.nan)
    variances = np.full((p, n_chains), np.nan)
    for j in range(p):
        rows = missing[:, j]
        if rows.any():
            cells = draws_values[:, rows, j]
            means[j] = cells.mean(axis=1)
            if rows.sum() > 1:
                with np.errstate(over="ignore"):
                    variances[j] = cells.var(axis=1, ddof=1)
    return means, variances


def pooled_statistics(parts):
    """:func:`chain_statistics` of the union of several shards of rows, from each shard's
    (imputed cells per variable [p], means [p, chains], variances [p, chains]); inf where the
    variance exceeds the float range, as there."""
    counts = np.stack([np.asarray(c, dtype=np.float64) for c, _, _ in parts])[:, :, None]
    means = np.stack([m for _, m, _ in parts])
    variances = np.stack([v for _, _, v in parts])
    n = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = np.where(counts > 0, counts * means, 0.0).sum(axis=0) / n
        within = np.where(counts > 1, (counts - 1) * variances, 0.0)
        between = np.where(counts > 0, counts * (means - mean) ** 2, 0.0)
        variance = (within + between).sum(axis=0) / (n - 1)
    return np.where(n > 0, mean, np.nan), np.where(n > 1, variance, np.nan)
