"""Imputation methods compared in the benchmarks: each maps an incomplete table to a complete one."""

from __future__ import annotations

import pandas as pd

import diffputer


def mean_mode(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Mean for numeric columns, most frequent level for the others."""
    out = df.copy()
    for name in df.columns:
        column = df[name]
        fill = column.mode().iloc[0] if isinstance(column.dtype, pd.CategoricalDtype) else column.mean()
        out[name] = column.fillna(fill)
    return out


def diffputer_default(df: pd.DataFrame, seed: int, **options) -> pd.DataFrame:
    return diffputer.DiffPuter(random_state=seed, progress=False, **options).fit_transform(df)


METHODS = {"mean": mean_mode, "diffputer": diffputer_default}
