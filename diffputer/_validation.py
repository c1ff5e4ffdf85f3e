"""Input checks shared by the estimator, the one-call API and the command line.

Every message names the argument or column, what was expected and what was given.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd


def as_dataframe(X, *, name: str = "X") -> tuple[pd.DataFrame, bool]:
    """Return ``X`` as a DataFrame and whether it came in as a numpy array."""
    if isinstance(X, pd.DataFrame):
        df, was_array = X, False
    elif isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array; got an array with shape {X.shape}.")
        df, was_array = pd.DataFrame(X), True
    else:
        raise TypeError(
            f"{name} must be a pandas DataFrame or a 2-D numpy array; got {type(X).__name__}."
        )
    if df.columns.has_duplicates:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise ValueError(f"{name} has duplicate column names: {dupes}. Rename them first.")
    if df.shape[1] == 0:
        raise ValueError(f"{name} has no columns.")
    return df, was_array


def check_min_rows(df: pd.DataFrame, *, name: str = "X", minimum: int = 2) -> None:
    if len(df) < minimum:
        raise ValueError(
            f"{name} needs at least {minimum} rows to learn a distribution from; got {len(df)}."
        )


def check_int(value, *, name: str, minimum: int) -> int:
    """An integer argument at least ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {name}={value}.")
    return int(value)


def check_positive_float(value, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a positive number; got {name}={value!r}.")
    return float(value)


def check_finite_float(value, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {name}={value!r}.")
    return float(value)


def check_fraction(value, *, name: str, below: float) -> float:
    """A number in [0, below)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < below:
        raise ValueError(f"{name} must be a number in [0, {below}); got {name}={value!r}.")
    return float(value)


def check_bool(value, *, name: str) -> bool:
    """True or False (numpy's bools too); 0 and 1 are refused, as ``check_int`` refuses bools."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {name}={value!r}.")
    return bool(value)


def check_choice(value, *, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {name}={value!r}.")
    return value
