import numpy as np

from diffputer.initial import linear_fill


def test_linear_fill_predicts_a_missing_column_by_regression_on_the_others():
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=n)
    y = 0.7 * x + 0.1 * rng.normal(size=n)
    X = np.column_stack([x, y])
    M = np.zeros_like(X, dtype=bool)
    M[:500, 1] = True
    start = np.where(M, 0.0, X)
    filled = linear_fill(start, M, [np.array([0]), np.array([1])])
    slope, intercept = np.polyfit(x[500:], y[500:], 1)
    np.testing.assert_allclose(filled[:500, 1], intercept + slope * x[:500], atol=0.01)
    np.testing.assert_array_equal(filled[~M], X[~M])


def test_linear_fill_skips_a_column_block_own_entries():
    """A one-hot block is predicted from the other columns, never from itself."""
    rng = np.random.default_rng(1)
    n = 500
    x = rng.normal(size=n)
    level = (x > 0).astype(float)
    X = np.column_stack([x, level - 0.5, 0.5 - level])
    M = np.zeros_like(X, dtype=bool)
    M[:100, 1:] = True
    filled = linear_fill(np.where(M, 0.0, X), M, [np.array([0]), np.array([1, 2])])
    predicted = filled[:100, 1] > filled[:100, 2]
    assert (predicted == (x[:100] > 0)).mean() > 0.85
