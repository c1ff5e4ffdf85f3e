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


def _drawn(predicted: np.ndarray, residuals: np.ndarray, shares: np.ndarray | None,
           rng: np.random.Generator) -> np.ndarray:
    """A draw around regression predictions of one block.

    Numeric (``shares`` None): prediction + N(0, residual variance). One-hot block centred on
    ``shares``: the one-hot of a level drawn with probability proportional to the predicted
    share (clipped at 0), centred again.
    """
    if shares is None:
        return predicted + rng.normal(size=predicted.shape) * residuals.std()
    probs = np.clip(predicted + shares, 0, None) + 1e-12
    cumulative = (probs / probs.sum(axis=1, keepdims=True)).cumsum(axis=1)
    levels = (rng.random((len(probs), 1)) > cumulative).sum(axis=1).clip(max=len(shares) - 1)
    return np.eye(len(shares))[levels] - shares


def linear_fill(X: np.ndarray, M: np.ndarray, blocks: list[np.ndarray], sweeps: int = 3,
                ridge: float = 1e-3, rng: np.random.Generator | None = None,
                shares: list[np.ndarray | None] | None = None) -> np.ndarray:
    """Missing entries of X replaced by ridge-regression predictions, ``sweeps`` times over.

    ``blocks`` lists, per table column, the encoded columns it occupies. With ``rng``, the
    sweeps draw around the predictions instead (:func:`_drawn`); ``shares`` then gives, per
    block, the level shares a one-hot block is centred on (None for a numeric column).
    """
    X = X.copy()
    for _ in range(sweeps):
        for i, block in enumerate(blocks):
            missing = M[:, block[0]]
            if not missing.any() or missing.all():
                continue
            A = _design(X, block)
            obs = ~missing
            gram = A[obs].T @ A[obs] + ridge * len(A) * np.eye(A.shape[1])
            beta = np.linalg.solve(gram, A[obs].T @ X[obs][:, block])
            predicted = A[missing] @ beta
            if rng is not None:
                residuals = X[obs][:, block] - A[obs] @ beta
                predicted = _drawn(predicted, residuals, shares[i], rng)
            X[np.ix_(missing, block)] = predicted
    return X
