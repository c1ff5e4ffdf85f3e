"""Hypothesis tables of every supported column type, and the checks every completed table
must pass."""

import numpy as np
import pandas as pd
from hypothesis import strategies as st

_NA = st.none()


@st.composite
def tables(draw):
    """2 to 25 rows of 1 to 5 columns of mixed types, holes anywhere, each column with an
    observed value."""
    n = draw(st.integers(min_value=2, max_value=25))
    columns = {}
    kinds = draw(st.lists(st.sampled_from(["float", "Int64", "boolean", "category", "ordered",
                                           "str", "float32"]), min_size=1, max_size=5))
    for j, kind in enumerate(kinds):
        observed_first = True
        if kind in ("float", "float32"):
            values = draw(st.lists(st.one_of(_NA, st.floats(-1e6, 1e6, allow_nan=False)),
                                   min_size=n, max_size=n))
            col = pd.Series([np.nan if v is None else v for v in values],
                            dtype="float32" if kind == "float32" else "float64")
        elif kind == "Int64":
            values = draw(st.lists(st.one_of(_NA, st.integers(-1000, 1000)),
                                   min_size=n, max_size=n))
            col = pd.Series(pd.array(values, dtype="Int64"))
        elif kind == "boolean":
            values = draw(st.lists(st.one_of(_NA, st.booleans()), min_size=n, max_size=n))
            col = pd.Series(pd.array(values, dtype="boolean"))
        else:
            levels = draw(st.lists(st.text(min_size=1, max_size=4), min_size=1, max_size=4,
                                   unique=True))
            values = draw(st.lists(st.one_of(_NA, st.sampled_from(levels)), min_size=n, max_size=n))
            if kind == "str":
                col = pd.Series(values, dtype=object)
            else:
                col = pd.Series(pd.Categorical(values, categories=levels,
                                               ordered=kind == "ordered"))
        if observed_first and col.isna().all():
            col.iloc[0] = col.dropna().iloc[0] if col.notna().any() else _first_value(kind, draw)
        columns[f"c{j}"] = col
    index = draw(st.sampled_from([pd.RangeIndex(n), pd.Index([f"r{i}" for i in range(n)]),
                                  pd.Index(np.arange(n)[::-1] * 7)]))
    df = pd.DataFrame(columns)
    df.index = index
    return df


def _first_value(kind, draw):
    return {"float": 0.5, "float32": 0.5, "Int64": 3, "boolean": True}.get(kind)


def assert_observed_unchanged(original, completed):
    for name in original.columns:
        observed = original[name].notna().to_numpy()
        left = original[name][observed]
        right = completed[name][observed]
        pd.testing.assert_series_equal(left, right, check_exact=True)


def assert_valid_completion(original, completed):
    """No missing cell left; index, columns, dtypes and levels kept; observed cells exact."""
    assert not completed.isna().any().any()
    assert completed.index.equals(original.index)
    assert list(completed.columns) == list(original.columns)
    assert completed.dtypes.equals(original.dtypes)
    for name in original.columns:
        if isinstance(original[name].dtype, pd.CategoricalDtype):
            assert list(completed[name].cat.categories) == list(original[name].cat.categories)
            assert completed[name].cat.ordered == original[name].cat.ordered
        elif original[name].dtype == object:
            assert set(completed[name]) <= set(original[name].dropna())
    assert_observed_unchanged(original, completed)
