"""Each bad input gets a clear error or warning naming the column or argument."""

import numpy as np
import pandas as pd
import pytest

import diffputer
from diffputer import DiffPuter


@pytest.fixture
def df():
    return pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0, 5.0], "b": [0.5, np.nan, 1.5, 2.0, 1.0]})


def test_no_missing_values_warns_and_returns_m_copies(tiny):
    full = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]})
    with pytest.warns(UserWarning, match="no missing values"):
        imp = diffputer.impute(full, m=3, **tiny)
    assert imp.m == 3
    for i in range(1, 4):
        pd.testing.assert_frame_equal(imp.complete(i), full)


def test_column_with_no_observed_value_is_named(df, tiny):
    df["empty"] = np.nan
    with pytest.raises(ValueError, match="Column 'empty' has no observed value"):
        DiffPuter(**tiny).fit(df)


def test_constant_column_warns_and_is_filled_with_the_constant(df, tiny):
    df["k"] = [7.0, 7.0, np.nan, 7.0, 7.0]
    with pytest.warns(UserWarning, match="Column 'k' is constant"):
        out = DiffPuter(**tiny).fit_transform(df)
    assert (out["k"] == 7.0).all()


def test_datetime_column_is_refused_by_name(df, tiny):
    df["when"] = pd.date_range("2020-01-01", periods=5)
    with pytest.raises(TypeError, match="Column 'when' has dtype datetime64"):
        DiffPuter(**tiny).fit(df)


def test_object_column_of_mixed_types_is_refused_by_name(df, tiny):
    df["mess"] = pd.Series(["x", 1, 2.5, None, "y"], dtype=object)
    with pytest.raises(TypeError, match="Column 'mess' holds values of mixed types"):
        DiffPuter(**tiny).fit(df)


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_values_are_refused_by_column(df, tiny, bad):
    df.loc[0, "b"] = bad
    with pytest.raises(ValueError, match=r"Column 'b' contains \+/-inf"):
        DiffPuter(**tiny).fit(df)


def test_infinite_values_at_transform_are_refused(df, tiny):
    model = DiffPuter(**tiny).fit(df)
    df.loc[0, "a"] = np.inf
    with pytest.raises(ValueError, match="Column 'a' contains"):
        model.transform(df)


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_rows_is_refused(df, tiny, n):
    with pytest.raises(ValueError, match=f"at least 2 rows.*got {n}"):
        DiffPuter(**tiny).fit(df.iloc[:n])


def test_duplicate_column_names_are_refused(df, tiny):
    df.columns = ["a", "a"]
    with pytest.raises(ValueError, match=r"duplicate column names: \['a'\]"):
        DiffPuter(**tiny).fit(df)


@pytest.mark.parametrize("m", [0, -2])
def test_m_below_one_is_refused(df, tiny, m):
    with pytest.raises(ValueError, match=f"m must be an integer >= 1; got m={m}"):
        diffputer.impute(df, m=m, **tiny)


def test_m_not_an_integer_is_refused(df, tiny):
    with pytest.raises(TypeError, match="m must be an integer"):
        diffputer.impute(df, m=2.5, **tiny)


@pytest.mark.parametrize("garbage", ["a,b\n1,2", [[1, 2], [3, None]], 42, None,
                                      np.zeros(5)])
def test_non_tables_are_refused_with_their_type(tiny, garbage):
    with pytest.raises((TypeError, ValueError), match="X must be"):
        DiffPuter(**tiny).fit(garbage)


@pytest.mark.parametrize("name, value, message", [
    ("width", 0, "width must be an integer >= 1; got width=0"),
    ("lr", -1.0, "lr must be a positive number; got lr=-1.0"),
    ("max_iter", 1.5, "max_iter must be an integer >= 1; got 1.5"),
    ("preset", "turbo", "preset must be one of"),
    ("device", "tpu", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ("random_state", -3, "random_state must be an integer >= 0"),
    ("corrector_steps", -1, "corrector_steps must be an integer >= 0"),
    ("corrector_sigma", 0.0, "corrector_sigma must be a positive number"),
    ("category_draws", 2.5, "category_draws must be an integer >= 0"),
])
def test_bad_arguments_are_named(df, tiny, name, value, message):
    tiny[name] = value
    with pytest.raises((TypeError, ValueError), match=message):
        DiffPuter(**tiny).fit(df)


def test_unseen_level_at_transform_is_named(tiny):
    train = pd.DataFrame({"c": ["u", "v", None, "u"], "x": [1.0, np.nan, 2.0, 3.0]})
    model = DiffPuter(**tiny).fit(train)
    with pytest.raises(ValueError, match=r"Column 'c' has levels \['w'\] that were not seen"):
        model.transform(pd.DataFrame({"c": ["w", None], "x": [1.0, np.nan]}))


def test_new_or_missing_columns_at_transform_are_named(df, tiny):
    model = DiffPuter(**tiny).fit(df)
    with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['z'\]"):
        model.transform(df.rename(columns={"b": "z"}))


def test_single_level_categorical_is_imputed_with_that_level(df, tiny):
    df["one"] = pd.Categorical(["only", None, "only", None, "only"])
    out = DiffPuter(**tiny).fit_transform(df)
    assert out["one"].tolist() == ["only"] * 5


def test_all_missing_row_is_imputed(df, tiny):
    df.loc[2] = np.nan
    out = DiffPuter(**tiny).fit_transform(df)
    assert out.notna().all().all()
    assert df["a"].min() <= out.loc[2, "a"] <= df["a"].max()


def test_object_column_of_numbers_is_imputed_as_numeric(df, tiny):
    df["obj"] = pd.Series([1, 2, None, 4, 5], dtype=object)
    out = DiffPuter(**tiny).fit_transform(df)
    assert out["obj"].dtype == object
    assert 1 <= float(out.loc[2, "obj"]) <= 5
