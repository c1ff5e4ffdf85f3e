"""Missing-data summaries as tables: the numbers behind the Missingness tab.

Pure pandas / numpy; fast on 100k+ rows (patterns are counted on rows packed into bytes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def percent_missing(df: pd.DataFrame) -> pd.Series:
    """Percent of missing cells per column, in column order."""
    return df.isna().mean() * 100


def missing_pattern(df: pd.DataFrame) -> pd.DataFrame:
    """The distinct missing-data patterns, like mice's ``md.pattern``.

    One row per pattern (1 = observed, 0 = missing), most frequent first; one column per
    variable, from fewest to most missing. The rows' index has two levels: ``count``, the rows
    with that pattern, and ``n_missing``, the missing variables in it. The last row, indexed
    ("total", missing cells), counts the missing cells per variable. Keeping the counts in the
    index leaves every column to a variable, whatever the variables are called.
    """
    missing = df.isna()
    order = missing.sum().sort_values(kind="stable").index
    bits = missing[order].to_numpy()
    _, first, counts = np.unique(_row_codes(bits), return_index=True, return_counts=True)
    patterns = bits[first]
    rank = np.lexsort((patterns.sum(axis=1), -counts))
    index = pd.MultiIndex.from_arrays(
        [[*counts[rank].tolist(), "total"],
         [*patterns[rank].sum(axis=1).tolist(), int(bits.sum())]],
        names=["count", "n_missing"])
    rows = np.vstack([(~patterns[rank]).astype(int), bits.sum(axis=0)])
    return pd.DataFrame(rows, index=index, columns=order)


def _row_codes(bits: np.ndarray) -> np.ndarray:
    """One hashable code per row of a boolean matrix (its bits packed into bytes)."""
    packed = np.ascontiguousarray(np.packbits(bits, axis=1))
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def nullity_correlation(df: pd.DataFrame) -> pd.DataFrame:
    """Correlation between the missingness indicators of the columns that have any (and not all)
    values missing, as missingno's heatmap shows it."""
    missing = df.isna()
    varying = missing.columns[(missing.any()) & (~missing.all())]
    return missing[varying].astype(float).corr()


def display_sample(df: pd.DataFrame, max_rows: int, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """At most ``max_rows`` rows of df (a seeded random sample) and a note saying so."""
    if len(df) <= max_rows:
        return df, ""
    sample = df.sample(n=max_rows, random_state=seed)
    return sample, f"showing a random sample of {max_rows:,} of {len(df):,} rows"
