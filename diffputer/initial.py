"""Start values of the missing entries before the first EM iteration.

``"mean"`` is DiffPuter's start: every missing entry at the observed mean (0 once encoded).
``"linear"`` refines it with a few sweeps of ridge regressions, each encoded column on all
the others (its own one-hot block excluded), like a chained-equations imputer with linear
models: a cheap, better table for the first M-step to learn from.
"""

from __future__ import annotations

import numpy as np

INITS = ("mean", "linear")


def _design(X: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    keep = np.ones(X.shape[1], dtype=bool)
    keep[exclude] = False
    return np.column_stack([np.ones(len(X)), X[:, keep]])


def linear_fill(X: np.ndarray, M: np.ndarray, blocks: list[np.ndarray], sweeps: int = 3,
                ridge: float = 1e-3) -> np.ndarray:
    """Missing entries of X replaced by ridge-regression predictions, ``sweeps`` times over.

    ``blocks`` lists, per table column, the encoded columns it occupies.
    """
    X = X.copy()
    for _ in range(sweeps):
        for block in blocks:
            missing = M[:, block[0]]
            if not missing.any() or missing.all():
                continue
            A = _design(X, block)
            obs = ~missing
            gram = A[obs].T @ A[obs] + ridge * len(A) * np.eye(A.shape[1])
            beta = np.linalg.solve(gram, A[obs].T @ X[obs][:, block])
            X[np.ix_(missing, block)] = A[missing] @ beta
    return X
