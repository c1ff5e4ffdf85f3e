"""Imputation methods compared in the benchmarks: each maps an incomplete table to a complete one.

Every method is called as ``method(df, seed, device)``; methods that cannot use a GPU ignore
``device``.
"""

from __future__ import annotations

import pandas as pd

import diffputer

# The paper preset's budget (epochs, steps, samples) is meant for a GPU; on a budget the EM
# loop is cut to this many iterations and each M-step to this many optimiser steps.
PAPER_BUDGET = {"max_iter": 2, "max_steps": 20_000}


def mean_mode(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """Mean for numeric columns, most frequent level for the others."""
    out = df.copy()
    for name in df.columns:
        column = df[name]
        fill = column.mode().iloc[0] if isinstance(column.dtype, pd.CategoricalDtype) else column.mean()
        out[name] = column.fillna(fill)
    return out


def diffputer_fast(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """The default ("fast") preset: the posterior mean of the last E-step."""
    model = diffputer.DiffPuter(random_state=seed, progress=False, device=device)
    return model.fit_transform(df)


def diffputer_paper(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """The paper's preset (width 1024, 50 x 20 sampler steps, 20 samples) within PAPER_BUDGET."""
    model = diffputer.DiffPuter(preset="paper", random_state=seed, progress=False, device=device,
                                **PAPER_BUDGET)
    return model.fit_transform(df)


METHODS = {"mean": mean_mode, "diffputer": diffputer_fast, "diffputer-paper": diffputer_paper}
