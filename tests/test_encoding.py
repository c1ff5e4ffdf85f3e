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


def test_shards_summarised_apart_encode_like_the_whole_table(mixed_df):
    from diffputer.encoding import summarise

    shards = [mixed_df.iloc[:25], mixed_df.iloc[25:26], mixed_df.iloc[26:]]
    whole = TableEncoder.fit(mixed_df)
    merged = TableEncoder.from_summaries([summarise(shard) for shard in shards])
    assert merged.columns == whole.columns
    for a, b in zip(merged.codecs, whole.codecs):
        assert (a.kind, a.levels, a.ordered, a.integer) == (b.kind, b.levels, b.ordered, b.integer)
        np.testing.assert_allclose([a.loc, a.scale, a.lower, a.upper],
                                   [b.loc, b.scale, b.lower, b.upper], rtol=1e-12)
        np.testing.assert_allclose(a.shares, b.shares, rtol=1e-12)
    X_whole, M_whole = whole.encode(mixed_df)
    X_merged, M_merged = merged.encode(mixed_df)
    np.testing.assert_allclose(X_merged, X_whole, atol=1e-6)
    assert (M_merged == M_whole).all()
    # one shard: exactly the codecs of a plain fit
    assert TableEncoder.from_summaries([summarise(mixed_df)]).to_dict() == whole.to_dict()


def test_shards_that_disagree_on_a_column_are_refused():
    from diffputer.encoding import summarise

    numbers = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]})
    words = pd.DataFrame({"x": ["a", "b"], "y": [3.0, 4.0]})
    with pytest.raises(TypeError, match="'x' holds numbers in some shards"):
        TableEncoder.from_summaries([summarise(numbers), summarise(words)])
    first = pd.DataFrame({"g": pd.Categorical(["a"], categories=["a", "b"])})
    second = pd.DataFrame({"g": pd.Categorical(["c"], categories=["a", "c"])})
    with pytest.raises(ValueError, match="'g' has different declared levels"):
        TableEncoder.from_summaries([summarise(first), summarise(second)])
    with pytest.raises(ValueError, match="different columns"):
        TableEncoder.from_summaries([summarise(numbers), summarise(numbers[["y", "x"]])])
    empty = pd.DataFrame({"x": [np.nan, np.nan]})
    with pytest.raises(ValueError, match="'x' has no observed value"):
        TableEncoder.from_summaries([summarise(empty), summarise(empty)])


def test_decoding_keeps_the_precision_of_values_far_from_zero():
    """Timestamps in seconds: float32 holds 1.7e9 only in steps of 128, a tenth of the sd."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"seconds": 1.7e9 + 1000 * rng.normal(size=200)})
    encoder = TableEncoder.fit(df)
    X, _ = encoder.encode(df)
    back = encoder.values(X.astype(np.float32))[:, 0]  # the network's outputs are float32
    assert np.abs(back - df["seconds"]).max() < 0.01


@pytest.mark.parametrize("size", [1e40, 1e300])
def test_values_near_the_float_limit_summarise_and_decode_finite(size):
    from diffputer.encoding import summarise

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"big": size * rng.normal(size=100)})
    whole = TableEncoder.fit(df).codecs[0]
    np.testing.assert_allclose([whole.loc, whole.scale], [size * df["big"].div(size).mean(),
                                                          size * df["big"].div(size).std(ddof=0)],
                               rtol=1e-12)
    merged = TableEncoder.from_summaries([summarise(df.iloc[:30]), summarise(df.iloc[30:])])
    np.testing.assert_allclose([merged.codecs[0].loc, merged.codecs[0].scale],
                               [whole.loc, whole.scale], rtol=1e-12)
    X, _ = TableEncoder.fit(df).encode(df)
    back = TableEncoder.fit(df).values(X.astype(np.float32))[:, 0]
    np.testing.assert_allclose(back, df["big"], rtol=1e-5, atol=1e-6 * size)
