import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffputer.encoding import SIGMA_DATA, TableEncoder

from .tables import assert_observed_unchanged, assert_valid_completion, tables


def _random_fill(encoder, df, seed):
    """Decode a random encoded matrix: any network output must decode to a valid table."""
    X, M = encoder.encode(df)
    rng = np.random.default_rng(seed)
    X = np.where(M, rng.normal(scale=2.0, size=X.shape), X).astype(np.float32)
    return encoder.decode(X, df)


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
    assert_observed_unchanged(mixed_df, out)


def test_numpy_arrays_are_encoded_with_integer_column_labels():
    arr = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 4.0]])
    encoder = TableEncoder.fit(pd.DataFrame(arr))
    assert encoder.columns == [0, 1]


# -- property tests -------------------------------------------------------------------------

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
    assert_valid_completion(df, _random_fill(encoder, df, seed))


def test_project_snaps_one_hot_blocks_and_clips_numbers():
    df = pd.DataFrame({"x": [0.0, 1.0, np.nan], "c": pd.Categorical(["a", "b", None])})
    encoder = TableEncoder.fit(df)
    X, _ = encoder.encode(df)
    X[2] = [9.0, 0.2, 0.1]
    projected = encoder.project(X.copy())
    np.testing.assert_allclose(projected[2], [SIGMA_DATA, 0.5, -0.5], rtol=1e-6)
    np.testing.assert_allclose(projected[:2], X[:2], rtol=1e-6)
