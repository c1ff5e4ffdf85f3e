import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffputer.encoding import SIGMA_DATA, TableEncoder


def _random_fill(encoder, df, seed):
    """Decode a random encoded matrix: any network output must decode to a valid table."""
    X, M = encoder.encode(df)
    rng = np.random.default_rng(seed)
    X = np.where(M, rng.normal(scale=2.0, size=X.shape), X).astype(np.float32)
    return encoder.decode(X, df)


def _assert_observed_unchanged(original, completed):
    for name in original.columns:
        observed = original[name].notna().to_numpy()
        left = original[name][observed]
        right = completed[name][observed]
        pd.testing.assert_series_equal(left, right, check_exact=True)


def test_numeric_columns_are_z_scored_on_observed_entries_and_halved():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0, np.nan, 5.0]})
    X, M = TableEncoder.fit(df).encode(df)
    observed = np.array([1.0, 2.0, 3.0, 5.0])
    expected = (observed - observed.mean()) / observed.std() * SIGMA_DATA
    np.testing.assert_allclose(X[~M[:, 0], 0], expected, rtol=1e-6)
    assert M[:, 0].tolist() == [False, False, False, True, False]
    assert X[3, 0] == 0.0  # missing cells start at the observed mean


def test_categorical_block_is_one_hot_centred_on_observed_shares():
    df = pd.DataFrame({"c": ["a", "b", "a", None]})
    encoder = TableEncoder.fit(df)
    X, M = encoder.encode(df)
    assert encoder.codecs[0].levels == ["a", "b"]
    np.testing.assert_allclose(X[0], [1 - 2 / 3, -1 / 3], rtol=1e-6)
    np.testing.assert_array_equal(X[3], [0.0, 0.0])
    assert M[3].all() and not M[:3].any()


def test_decode_argmax_gives_a_valid_level_even_from_garbage():
    df = pd.DataFrame({"c": pd.Categorical(["x", None, "y", None], categories=["x", "y", "z"])})
    encoder = TableEncoder.fit(df)
    X, _ = encoder.encode(df)
    X[1] = [-5.0, -7.0, 3.0]
    X[3] = [np.float32(1e6), np.float32(-1e6), np.float32(0)]
    out = encoder.decode(X, df)
    assert out["c"].tolist() == ["x", "z", "y", "x"]
    assert list(out["c"].cat.categories) == ["x", "y", "z"]


def test_decode_rounds_integers_and_clips_to_the_observed_range():
    df = pd.DataFrame({"n": pd.array([1, 4, None, None], dtype="Int64")})
    encoder = TableEncoder.fit(df)
    X, _ = encoder.encode(df)
    X[2, 0], X[3, 0] = 100.0, 0.01
    out = encoder.decode(X, df)
    assert str(out["n"].dtype) == "Int64"
    assert out["n"].tolist() == [1, 4, 4, 3]


def test_encoder_round_trips_through_its_dict():
    df = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": pd.Categorical(["u", "v", None])})
    encoder = TableEncoder.fit(df)
    again = TableEncoder.from_dict(encoder.to_dict())
    np.testing.assert_array_equal(encoder.encode(df)[0], again.encode(df)[0])


def test_decode_keeps_every_dtype_level_and_the_index(mixed_df):
    encoder = TableEncoder.fit(mixed_df)
    out = _random_fill(encoder, mixed_df, seed=1)
    assert out.index.equals(mixed_df.index)
    assert list(out.columns) == list(mixed_df.columns)
    assert out.dtypes.equals(mixed_df.dtypes)
    assert not out.isna().any().any()
    assert list(out["colour"].cat.categories) == ["red", "green", "blue", "unused"]
    assert out["grade"].cat.ordered
    assert set(out["city"]) <= {"Oslo", "Lima"}
    _assert_observed_unchanged(mixed_df, out)


def test_numpy_arrays_are_encoded_with_integer_column_labels():
    arr = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 4.0]])
    encoder = TableEncoder.fit(pd.DataFrame(arr))
    assert encoder.columns == [0, 1]


# -- property tests -------------------------------------------------------------------------

_NA = st.none()


@st.composite
def tables(draw):
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
            values = draw(st.lists(st.one_of(_NA, st.integers(-1000, 1000)), min_size=n, max_size=n))
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


@pytest.mark.filterwarnings("ignore:Column .* is constant")
@settings(max_examples=60, deadline=None)
@given(df=tables(), seed=st.integers(0, 2**16))
def test_property_round_trip_keeps_observed_cells_dtypes_index_and_levels(df, seed):
    df = df.loc[:, [c for c in df.columns if df[c].notna().any()]]
    if df.shape[1] == 0:
        return
    encoder = TableEncoder.fit(df)
    X, M = encoder.encode(df)
    assert np.isfinite(X).all()
    out = _random_fill(encoder, df, seed)
    assert not out.isna().any().any()
    assert out.index.equals(df.index)
    assert out.dtypes.equals(df.dtypes)
    for name in df.columns:
        if isinstance(df[name].dtype, pd.CategoricalDtype):
            assert list(out[name].cat.categories) == list(df[name].cat.categories)
            assert out[name].cat.ordered == df[name].cat.ordered
        elif df[name].dtype == object:
            assert set(out[name]) <= set(df[name].dropna())
    _assert_observed_unchanged(df, out)


def test_project_snaps_one_hot_blocks_and_clips_numbers():
    df = pd.DataFrame({"x": [0.0, 1.0, np.nan], "c": pd.Categorical(["a", "b", None])})
    encoder = TableEncoder.fit(df)
    X, _ = encoder.encode(df)
    X[2] = [9.0, 0.2, 0.1]
    projected = encoder.project(X.copy())
    np.testing.assert_allclose(projected[2], [SIGMA_DATA, 0.5, -0.5], rtol=1e-6)
    np.testing.assert_allclose(projected[:2], X[:2], rtol=1e-6)
