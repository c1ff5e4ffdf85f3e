import numpy as np
import pandas as pd
import pytest

from diffputer import ampute, missing_mask


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 10))
    x[:, 1] += x[:, 0]
    df = pd.DataFrame(x, columns=[f"v{i}" for i in range(10)])
    df["g"] = pd.Categorical(rng.choice(["a", "b", "c"], size=4000))
    return df


def test_mcar_removes_a_share_p_of_cells_and_is_seeded(table):
    mask = missing_mask(table, 0.3, "MCAR", seed=1)
    assert abs(mask.mean() - 0.3) < 0.01
    np.testing.assert_array_equal(mask, missing_mask(table, 0.3, "MCAR", seed=1))
    assert not np.array_equal(mask, missing_mask(table, 0.3, "MCAR", seed=2))


def test_mar_keeps_input_columns_observed_and_masks_p_of_the_others(table):
    mask = missing_mask(table, 0.3, "MAR", seed=0)
    untouched = ~mask.any(axis=0)
    assert untouched.sum() == 3  # 30% of 11 columns
    assert abs(mask[:, ~untouched].mean() - 0.3) < 0.02


def test_mar_missingness_depends_on_the_observed_columns(table):
    mask = missing_mask(table, 0.3, "MAR", seed=0)
    inputs = np.flatnonzero(~mask.any(axis=0))
    target = np.flatnonzero(mask.any(axis=0))[0]
    X = table.iloc[:, inputs].apply(lambda c: pd.Series(c).astype("category").cat.codes
                                    if c.dtype.name == "category" else c).to_numpy(float)
    # The missing rows differ in the inputs' means: not MCAR.
    diff = np.abs(X[mask[:, target]].mean(axis=0) - X[~mask[:, target]].mean(axis=0))
    assert diff.max() > 0.1


def test_mnar_masks_its_inputs_too(table):
    mask = missing_mask(table, 0.3, "MNAR", seed=0)
    assert mask.any(axis=0).all()
    assert abs(mask.mean() - 0.3) < 0.03


def test_ampute_returns_the_same_type_and_keeps_existing_holes(table):
    table.iloc[0, 0] = np.nan
    out = ampute(table, 0.2, seed=0)
    assert isinstance(out, pd.DataFrame) and np.isnan(out.iloc[0, 0])
    arr = ampute(table.iloc[:, :10].to_numpy(), 0.2, seed=0)
    assert isinstance(arr, np.ndarray) and np.isnan(arr).mean() > 0.15


@pytest.mark.parametrize("kwargs, message", [
    ({"p": 1.2}, "p must be in"), ({"mechanism": "NMAR"}, "mechanism must be one of"),
])
def test_bad_arguments_are_named(table, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ampute(table, **{"p": 0.3, **kwargs})
