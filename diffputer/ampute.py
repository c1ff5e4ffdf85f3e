"""Simulating missing values (seeded): MCAR, MAR and MNAR masks, as in the imputation literature.

The MAR and MNAR mechanisms follow Muzellec et al. (2020), whose masks the DiffPuter
benchmarks use: a logistic model with random coefficients, scaled to unit-variance linear
predictors, and intercepts solved so that each masked column loses a share ``p`` of its cells.

* MCAR: every cell is missing with probability ``p``.
* MAR: a share ``p_obs`` of the columns stays fully observed; the others are masked by a
  logistic model of those observed columns.
* MNAR: a share ``p_obs`` of the columns are the inputs of a logistic model that masks the
  others, and the inputs are themselves masked completely at random with probability ``p``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import as_dataframe, check_choice

MECHANISMS = ("MCAR", "MAR", "MNAR")


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def fit_intercept(z: np.ndarray, p: float, iterations: int = 60) -> float:
    """The b with mean(sigmoid(z + b)) = p, by bisection."""
    lo, hi = -50.0 - np.abs(z).max(), 50.0 + np.abs(z).max()
    for _ in range(iterations):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _sigmoid(z + mid).mean() < p else (lo, mid)
    return (lo + hi) / 2


def logistic_mask(inputs: np.ndarray, n_targets: int, p: float, rng) -> np.ndarray:
    """[n, n_targets] mask from a random logistic model of ``inputs`` [n, k]."""
    coefs = rng.standard_normal((inputs.shape[1], n_targets))
    z = inputs @ coefs
    z /= np.where(z.std(axis=0) > 0, z.std(axis=0), 1.0)
    probs = np.column_stack([_sigmoid(z[:, j] + fit_intercept(z[:, j], p))
                             for j in range(n_targets)])
    return rng.random(probs.shape) < probs


def _standardised(df: pd.DataFrame) -> np.ndarray:
    """Numeric view of a table: numbers z-scored, categories as z-scored codes."""
    columns = []
    for name in df.columns:
        col = df[name]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            values = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            codes = pd.Series(pd.Categorical(col).codes, dtype=float)
            values = codes.replace(-1, np.nan).to_numpy()
        sd = np.nanstd(values)
        columns.append(np.nan_to_num((values - np.nanmean(values)) / (sd if sd > 0 else 1.0)))
    return np.column_stack(columns)


def missing_mask(df: pd.DataFrame, p: float, mechanism: str = "MCAR", *, p_obs: float = 0.3,
                 seed=None) -> np.ndarray:
    """Boolean [n, d] mask of the cells to remove (True = make missing)."""
    check_choice(mechanism, name="mechanism", choices=MECHANISMS)
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1); got p={p!r}.")
    if not 0 < p_obs < 1:
        raise ValueError(f"p_obs must be in (0, 1); got p_obs={p_obs!r}.")
    rng = np.random.default_rng(seed)
    n, d = df.shape
    if mechanism == "MCAR" or d < 2:
        return rng.random((n, d)) < p
    X = _standardised(df)
    n_inputs = min(max(int(p_obs * d), 1), d - 1)
    order = rng.permutation(d)
    inputs, targets = order[:n_inputs], order[n_inputs:]
    mask = np.zeros((n, d), dtype=bool)
    mask[:, targets] = logistic_mask(X[:, inputs], len(targets), p, rng)
    if mechanism == "MNAR":
        mask[:, inputs] = rng.random((n, len(inputs))) < p
    return mask


def ampute(data, p: float = 0.3, mechanism: str = "MCAR", *, p_obs: float = 0.3, seed=None):
    """``data`` with a share ``p`` of its cells made missing under ``mechanism``.

    Cells already missing stay missing. Returns the same type as ``data`` (DataFrame or
    array); the new mask is ``result.isna() & data.notna()``.
    """
    df, was_array = as_dataframe(data, name="data")
    mask = missing_mask(df, p, mechanism, p_obs=p_obs, seed=seed)
    out = df.mask(mask)
    return out.to_numpy() if was_array else out
