"""Each bad input gets a clear error or warning naming the column or argument."""

import warnings

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
    ("max_steps", "many", "must be an integer >= 1, None or 'auto'; got max_steps='many'"),
    ("max_iter", "many", "max_iter must be an integer >= 1 or 'auto'; got max_iter='many'"),
    ("max_steps", 0, "max_steps must be an integer >= 1; got max_steps=0"),
    ("preset", "turbo", "preset must be one of"),
    ("device", "tpu", "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ("random_state", -3, "random_state must be an integer >= 0"),
    ("corrector_steps", -1, "corrector_steps must be an integer >= 0"),
    ("corrector_sigma", 0.0, "corrector_sigma must be a positive number"),
    ("corrector_check", -1, "corrector_check must be an integer >= 0"),
    ("point_estimate", "mode", "point_estimate must be one of"),
    ("category_draws", 2.5, "category_draws must be an integer >= 0"),
    ("ema_halflife", -5, "ema_halflife must be an integer >= 0"),
    ("noise_log_std", 0.0, "noise_log_std must be a positive number; got noise_log_std=0.0"),
    ("noise_log_mean", float("nan"), "noise_log_mean must be a finite number"),
    ("validation_fraction", 0.5, r"validation_fraction must be a number in \[0, 0.5\)"),
    ("validation_fraction", "0.1", "validation_fraction must be a number"),
    ("warm_start", 1, "warm_start must be True or False; got warm_start=1"),
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


# -- messy tables that must simply work ------------------------------------------------------

def test_columns_reordered_at_transform_are_matched_by_name(df, tiny):
    model = DiffPuter(**tiny).fit(df)
    reordered = model.transform(df[["b", "a"]])
    assert list(reordered.columns) == ["b", "a"]
    pd.testing.assert_frame_equal(reordered[["a", "b"]], model.transform(df))


def test_nullable_integer_column_with_pd_na_stays_integer(df, tiny):
    df["n"] = pd.array([3, pd.NA, 5, 7, pd.NA], dtype="Int64")
    out = DiffPuter(**tiny).fit_transform(df)
    assert out["n"].dtype == "Int64"
    assert out["n"].notna().all()
    assert out.loc[[0, 2, 3], "n"].tolist() == [3, 5, 7]


def test_integer_column_read_as_float_stays_float(df, tiny):
    df["k"] = [1.0, 2.0, np.nan, 4.0, 3.0]  # what read_csv gives for integers with a hole
    out = DiffPuter(**tiny).fit_transform(df)
    assert out["k"].dtype == np.float64
    assert out.loc[[0, 1, 3, 4], "k"].tolist() == [1.0, 2.0, 4.0, 3.0]
    assert np.isfinite(out.loc[2, "k"])


def test_string_column_with_pd_na_is_imputed_as_categorical(df, tiny):
    df["s"] = pd.array(["x", pd.NA, "y", "x", pd.NA], dtype="string")
    out = DiffPuter(**tiny).fit_transform(df)
    assert set(out["s"]) <= {"x", "y"}
    assert out.loc[[0, 2, 3], "s"].tolist() == ["x", "y", "x"]


def test_ninety_nine_percent_missing_column_is_imputed(tiny):
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    data.loc[1:, "y"] = np.nan  # 1 observed value of 200
    data.loc[0, "y"] = 2.5
    out = DiffPuter(**tiny).fit_transform(data)
    assert out["y"].notna().all() and out.loc[0, "y"] == 2.5
    pd.testing.assert_series_equal(out["x"], data["x"])


def test_no_complete_row_and_one_shared_pattern(tiny):
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    every_row = data.copy()
    every_row.loc[::2, "a"] = np.nan
    every_row.loc[1::2, "b"] = np.nan  # no row is complete
    one_pattern = data.copy()
    one_pattern.loc[:19, ["b", "c"]] = np.nan  # every incomplete row misses the same cells
    for table in (every_row, one_pattern):
        out = DiffPuter(**tiny).fit_transform(table)
        assert out.notna().all().all()
        observed = table.notna()
        assert (out[observed] == table[observed]).sum().sum() == observed.sum().sum()


@pytest.mark.parametrize("column", [
    pd.Series([1.0, np.nan, 3.0, 2.0, np.nan, 5.0]),
    pd.Series(["u", None, "v", "u", None, "v"], dtype="category"),
])
def test_one_column_table_is_imputed_from_its_margin(column, tiny):
    data = column.to_frame("only")
    out = DiffPuter(**tiny).fit_transform(data)
    assert out["only"].notna().all()
    kept = data["only"].notna()
    assert out.loc[kept, "only"].tolist() == data.loc[kept, "only"].tolist()


def test_unicode_column_names_are_kept(df, tiny):
    data = df.rename(columns={"a": "température °C", "b": "名前 ☂"})
    imp = diffputer.impute(data, m=2, **tiny)
    assert list(imp.complete(1).columns) == ["température °C", "名前 ☂"]
    assert "température °C" in imp.summary().index


def test_a_thousand_columns_fit_and_impute(tiny):
    rng = np.random.default_rng(2)
    base = rng.normal(size=(60, 1))
    data = pd.DataFrame(base + 0.3 * rng.normal(size=(60, 1000)),
                        columns=[f"v{i}" for i in range(1000)])
    holes = rng.random(data.shape) < 0.1
    out = DiffPuter(**tiny).fit_transform(data.mask(holes))
    assert out.shape == (60, 1000) and out.notna().all().all()
    np.testing.assert_array_equal(out.to_numpy()[~holes], data.to_numpy()[~holes])


def test_columns_reordered_at_impute_keep_the_callers_order(df, tiny):
    model = DiffPuter(**tiny).fit(df)
    imp = model.impute(df[["b", "a"]], m=2)
    assert list(imp.complete(1).columns) == ["b", "a"]
    kept = df["a"].notna()
    assert imp.complete(2).loc[kept, "a"].tolist() == df.loc[kept, "a"].tolist()
    assert imp.complete(2)[["a", "b"]].notna().all().all()


def test_values_near_the_float_limit_are_imputed_within_their_range(tiny):
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"a": rng.normal(size=40), "big": 1e300 * rng.normal(size=40)})
    data.loc[::5, "big"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        out = DiffPuter(**tiny).fit_transform(data)
    kept = data["big"].notna()
    assert out.loc[kept, "big"].tolist() == data.loc[kept, "big"].tolist()
    filled = out.loc[~kept, "big"]
    assert filled.between(data["big"].min(), data["big"].max()).all()
