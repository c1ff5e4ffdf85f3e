"""Start values of the missing entries before the first EM iteration.

``"mean"`` is DiffPuter's start: every missing entry at the observed mean (0 once encoded).
``"linear"`` refines it with a few sweeps of ridge regressions, each encoded column on all
the others (its own one-hot block excluded), like a chained-equations imputer with linear
models: a cheap, better table for the first M-step to learn from. Given a random generator,
the sweeps draw instead of predicting (stochastic regression imputation: the prediction plus a
residual-sized normal draw, or a level drawn from the predicted shares), so that a stochastic EM
does not start by teaching its first model that the missing cells lie on a regression plane.
"""

from __future__ import annotations

import numpy as np

INITS = ("mean", "linear")


def _design(X: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    keep = np.ones(X.shape[1], dtype=bool)
    keep[exclude] = False
    return np.column_stack([np.ones(len(X)), X[:, keep]])


def _drawn(predicted: np.ndarray, residual_sd: float | None, shares: np.ndarray | None,
           rng: np.random.Generator) -> np.ndarray:
    """A draw around regression predictions of one block.

    Numeric (``shares`` None): prediction + N(0, residual_sd^2). One-hot block centred on
    ``shares``: the one-hot of a level drawn with probability proportional to the predicted
    share (clipped at 0), centred again.
    """
    if shares is None:
        return predicted + rng.normal(size=predicted.shape) * residual_sd
    probs = np.clip(predicted + shares, 0, None) + 1e-12
    cumulative = (probs / probs.sum(axis=1, keepdims=True)).cumsum(axis=1)
    levels = (rng.random((len(probs), 1)) > cumulative).sum(axis=1).clip(max=len(shares) - 1)
    return np.eye(len(shares))[levels] - shares


def _residual_sd(residuals: np.ndarray, total) -> float:
    """Standard deviation of all the residuals (over every process's rows with ``total``)."""
    if total is None:
        return float(residuals.std())
    count, first, second = total(np.array([residuals.size, residuals.sum(),
                                           np.square(residuals).sum()]))
    return float(np.sqrt(max(second / count - (first / count) ** 2, 0.0)))


def linear_fill(X: np.ndarray, M: np.ndarray, blocks: list[np.ndarray], sweeps: int = 3,
                ridge: float = 1e-3, rng: np.random.Generator | None = None,
                shares: list[np.ndarray | None] | None = None, total=None) -> np.ndarray:
    """Missing entries of X replaced by ridge-regression predictions, ``sweeps`` times over.

    ``blocks`` lists, per table column, the encoded columns it occupies. With ``rng``, the
    sweeps draw around the predictions instead (:func:`_drawn`); ``shares`` then gives, per
    block, the level shares a one-hot block is centred on (None for a numeric column).
    ``total``: when X holds one shard of the rows, the function that sums an array over all
    shards (the regressions are then fitted on their sufficient statistics over all rows).
    """
    add = (lambda a: a) if total is None else total
    X = X.copy()
    n = add(float(len(X)))
    for _ in range(sweeps):
        for i, block in enumerate(blocks):
            missing = M[:, block[0]]
            n_missing = add(float(missing.sum()))
            if n_missing == 0 or n_missing == n:
                continue
            A = _design(X, block)
            obs = ~missing
            gram = add(A[obs].T @ A[obs]) + ridge * n * np.eye(A.shape[1])
            beta = np.linalg.solve(gram, add(A[obs].T @ X[obs][:, block]))
            predicted = A[missing] @ beta
            if rng is not None:
                sd = (None if shares[i] is not None else
                      _residual_sd(X[obs][:, block] - A[obs] @ beta, total))
                predicted = _drawn(predicted, sd, shares[i], rng)
            X[np.ix_(missing, block)] = predicted
    return X
