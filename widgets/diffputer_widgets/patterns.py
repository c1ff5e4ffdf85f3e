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

    One row per pattern (1 = observed, 0 = missing), most frequent first; columns ordered
    from fewest to most missing. Column ``count`` holds the rows with that pattern and
    ``n_missing`` the missing variables in it; the last row, ``total``, counts the missing
    cells per variable.
    """
    missing = df.isna()
    order = missing.sum().sort_values(kind="stable").index
    bits = missing[order].to_numpy()
    _, first, counts = np.unique(_row_codes(bits), return_index=True, return_counts=True)
    patterns = bits[first]
    rank = np.lexsort((patterns.sum(axis=1), -counts))
    table = pd.DataFrame((~patterns[rank]).astype(int), columns=order)
    table["count"] = counts[rank]
    table["n_missing"] = patterns[rank].sum(axis=1)
    totals = pd.DataFrame([[*missing[order].sum().to_numpy(), len(df), int(missing.to_numpy().sum())]],
                          columns=table.columns, index=["total"])
    return pd.concat([table, totals])


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
