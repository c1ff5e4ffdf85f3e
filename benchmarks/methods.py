"""Imputation methods compared in the benchmarks: each maps an incomplete table to a complete one.

Every method is called as ``method(df, seed, device)``; methods that cannot use a GPU ignore
``device``. The scikit-learn peers and HyperImpute see the table as a matrix of z-scored
numeric columns and categories coded for the method: one-hot for KNN, k - 1 indicators for
IterativeImputer (with all k, each indicator is regressed on its complement and a missing cell
never leaves its start value), level codes for the tree-based MissForest and for HyperImpute
(which recognises columns with few values as categorical). A level is read back as the largest
imputed indicator, or as the rounded code.
mice and miceforest see the table itself. HyperImpute runs in its own virtual
environment (``make benchmarks-setup``), whose pandas and scikit-learn it needs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import diffputer

# The paper preset's budget (epochs, steps, samples) is meant for a GPU; on a budget the EM
# loop is cut to this many iterations and each M-step to this many optimiser steps.
PAPER_BUDGET = {"max_iter": 2, "max_steps": 20_000}
HYPERIMPUTE_PYTHON = Path(__file__).resolve().parents[1] / ".venv-hyperimpute" / "bin" / "python"


def is_categorical(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.CategoricalDtype)


def mean_mode(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """Mean for numeric columns, most frequent level for the others."""
    out = df.copy()
    for name in df.columns:
        column = df[name]
        fill = column.mode().iloc[0] if is_categorical(column) else column.mean()
        out[name] = column.fillna(fill)
    return out


# -- the table as a matrix, for scikit-learn imputers --------------------------------------

def to_matrix(df: pd.DataFrame, categories: str = "onehot") -> tuple[np.ndarray, list]:
    """(matrix with NaN holes, per-column layout): numeric columns z-scored; a category as one
    indicator per level (``"onehot"``), per level but the first (``"dummies"``) or as its level
    code 0..k-1 (``"codes"``)."""
    blocks, layout = [], []
    for name in df.columns:
        column = df[name]
        if is_categorical(column):
            levels = list(column.cat.categories)
            codes = column.cat.codes.to_numpy().astype(float)
            codes[codes < 0] = np.nan
            if categories == "codes":
                block = codes[:, None]
            else:
                first = 1 if categories == "dummies" else 0
                block = (codes[:, None] == np.arange(first, len(levels))).astype(float)
                block[np.isnan(codes)] = np.nan
            blocks.append(block)
            layout.append((name, categories, levels))
        else:
            values = column.to_numpy(dtype=float)
            loc, scale = np.nanmean(values), np.nanstd(values) or 1.0
            blocks.append(((values - loc) / scale)[:, None])
            layout.append((name, "numeric", (loc, scale)))
    return np.hstack(blocks), layout


def _levels_from_block(block: np.ndarray, coding: str, n_levels: int) -> np.ndarray:
    """Level codes from an imputed block of a category coded as in :func:`to_matrix`."""
    if coding == "codes":
        return np.clip(np.rint(block[:, 0]), 0, n_levels - 1).astype(int)
    if coding == "dummies":
        block = np.column_stack([1 - block.sum(axis=1), block])
    return block.argmax(axis=1)


def from_matrix(filled: np.ndarray, layout: list, df: pd.DataFrame) -> pd.DataFrame:
    """The table back from an imputed matrix; observed cells are taken from ``df`` untouched."""
    out, start = df.copy(), 0
    for name, coding, info in layout:
        missing = df[name].isna().to_numpy()
        if coding == "numeric":
            loc, scale = info
            out.loc[missing, name] = filled[missing, start] * scale + loc
            start += 1
            continue
        width = {"onehot": len(info), "dummies": len(info) - 1, "codes": 1}[coding]
        codes = _levels_from_block(filled[:, start : start + width], coding, len(info))
        out.loc[missing, name] = np.array(info, dtype=object)[codes][missing]
        start += width
    return out


def _sklearn(imputer, df: pd.DataFrame, categories: str) -> pd.DataFrame:
    matrix, layout = to_matrix(df, categories)
    return from_matrix(imputer.fit_transform(matrix), layout, df)


def knn(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """scikit-learn's KNNImputer, 5 neighbours, on the z-scored / one-hot matrix."""
    from sklearn.impute import KNNImputer

    return _sklearn(KNNImputer(n_neighbors=5), df, "onehot")


def iterative_bayesian_ridge(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """scikit-learn's IterativeImputer with BayesianRidge (its default), 10 rounds."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    return _sklearn(IterativeImputer(max_iter=10, random_state=seed), df, "dummies")


def missforest(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """MissForest as benchmark suites run it: IterativeImputer with random forests, 10 rounds.

    100 trees as in Stekhoven & Buehlmann (2012); each tree grows on a 20% row subsample so that
    a round on 20k rows stays within minutes on 2 cores (stated in the results).
    """
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    forest = RandomForestRegressor(n_estimators=100, max_samples=0.2, min_samples_leaf=2,
                                   n_jobs=os.cpu_count(), random_state=seed)
    return _sklearn(IterativeImputer(estimator=forest, max_iter=10, random_state=seed), df,
                    "codes")


# -- multiple imputers, averaged ------------------------------------------------------------

def average_draws(df: pd.DataFrame, tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One table from m completed ``tables``: the mean of the draws for a numeric cell, the
    most frequent level for a category (ties: the first level in order)."""
    out = df.copy()
    for name in df.columns:
        missing = df[name].isna().to_numpy()
        draws = np.stack([table[name].to_numpy() for table in tables])
        if is_categorical(df[name]):
            fill = pd.DataFrame(draws.T.astype(str)).mode(axis=1)[0].to_numpy()
        else:
            fill = draws.astype(float).mean(axis=0)
        out.loc[missing, name] = fill[missing]
    return out


# -- R mice ------------------------------------------------------------------------------

def mice_tables(df: pd.DataFrame, seed: int, m: int = 5) -> list[pd.DataFrame]:
    """R mice's m completed tables (pmm for numeric columns, mice's defaults for factors).

    polyreg's network may have up to 20,000 weights (nnet's default of 1,000 stops it on
    adult, whose factors have up to 41 levels)."""
    from rpy2.robjects import default_converter, pandas2ri
    from rpy2.robjects.conversion import localconverter

    from diffputer.r_bridge import _robjects

    ro = _robjects()
    ro.r("suppressPackageStartupMessages(library(mice))")
    names = [f"v{j}" for j in range(df.shape[1])]  # R-safe names
    frame = df.set_axis(names, axis=1).reset_index(drop=True)
    with localconverter(default_converter + pandas2ri.converter):
        data = ro.conversion.get_conversion().py2rpy(frame)
        long = ro.r("""function(d, m, seed) {
            imp <- mice(d, m = m, seed = seed, printFlag = FALSE, nnet.MaxNWts = 20000)
            complete(imp, "long")
        }""")(data, m, seed)
        long = ro.conversion.get_conversion().rpy2py(long)
    # complete(imp, "long") stacks the m tables' rows
    n = len(df)
    return [long[names].iloc[k * n : (k + 1) * n].set_axis(df.columns, axis=1) for k in range(m)]


def mice_pmm(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """R mice, m = 5 (:func:`mice_tables`), averaged: the mean of the 5 draws for numeric
    cells, the most frequent level for categories."""
    return average_draws(df, mice_tables(df, seed, m=5))


# -- miceforest ---------------------------------------------------------------------------

def miceforest_mean(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """miceforest (LightGBM chained equations), 5 datasets x 5 iterations, averaged as mice.

    Numeric cells by mean matching on the predictions (its default, like pmm); categories are
    drawn from the predicted class probabilities ("fast"), because its default nearest-neighbour
    matching on class probabilities fails on tables with several factors (obesity).
    """
    import miceforest as mf

    frame = df.reset_index(drop=True)
    strategy = {name: "fast" if is_categorical(df[name]) else "normal" for name in df.columns}
    kernel = mf.ImputationKernel(frame, num_datasets=5, random_state=seed,
                                 mean_match_strategy=strategy)
    kernel.mice(5)
    return average_draws(df, [kernel.complete_data(dataset=k) for k in range(5)])


# -- HyperImpute, in its own environment ---------------------------------------------------

def hyperimpute(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """HyperImpute's default imputer, run by ``benchmarks/run_hyperimpute.py`` in
    ``.venv-hyperimpute`` on the z-scored matrix with level codes."""
    if not HYPERIMPUTE_PYTHON.exists():
        raise RuntimeError(f"{HYPERIMPUTE_PYTHON} not found: run `make benchmarks-setup` first")
    matrix, layout = to_matrix(df, "codes")
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.npy", Path(folder) / "out.npy"
        np.save(source, matrix)
        script = Path(__file__).with_name("run_hyperimpute.py")
        subprocess.run([str(HYPERIMPUTE_PYTHON), str(script), str(source), str(target), str(seed)],
                       check=True, stdout=sys.stderr)
        filled = np.load(target)
    return from_matrix(filled, layout, df)


# -- diffputer ----------------------------------------------------------------------------

def diffputer_fast(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """The default ("fast") preset: ``fit_transform``'s fill of the last E-step."""
    model = diffputer.DiffPuter(random_state=seed, progress=False, device=device)
    return model.fit_transform(df)


def diffputer_m5(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """The default preset's multiple imputation, m = 5 proper draws (fit plus draws timed),
    averaged as mice's."""
    result = diffputer.impute(df, m=5, random_state=seed, progress=False, device=device)
    return average_draws(df, result.complete("all"))


def diffputer_paper(df: pd.DataFrame, seed: int, device: str = "cpu") -> pd.DataFrame:
    """The paper's preset (width 1024, 50 x 20 sampler steps, 20 samples) within PAPER_BUDGET."""
    model = diffputer.DiffPuter(preset="paper", random_state=seed, progress=False, device=device,
                                **PAPER_BUDGET)
    return model.fit_transform(df)


PEERS = {"mean": mean_mode, "knn": knn, "iterative": iterative_bayesian_ridge,
         "missforest": missforest, "mice": mice_pmm, "miceforest": miceforest_mean,
         "hyperimpute": hyperimpute}
METHODS = {**PEERS, "diffputer": diffputer_fast, "diffputer-m5": diffputer_m5,
           "diffputer-paper": diffputer_paper}
