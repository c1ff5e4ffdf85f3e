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


def test_drawn_fill_keeps_the_residual_spread_around_the_regression():
    """With a generator, a numeric cell is the prediction plus residual-sized noise."""
    rng = np.random.default_rng(2)
    n = 4000
    x = rng.normal(size=n)
    y = 0.7 * x + 0.3 * rng.normal(size=n)
    X = np.column_stack([x, y])
    M = np.zeros_like(X, dtype=bool)
    M[:2000, 1] = True
    filled = linear_fill(np.where(M, 0.0, X), M, [np.array([0]), np.array([1])],
                         rng=np.random.default_rng(0), shares=[None, None])
    residual = filled[:2000, 1] - 0.7 * x[:2000]
    assert abs(residual.mean()) < 0.03
    assert 0.27 < residual.std() < 0.33
    np.testing.assert_array_equal(filled[~M], X[~M])


def test_drawn_fill_puts_a_missing_category_on_a_level_drawn_from_its_predicted_shares():
    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(size=n)
    level = (rng.random(n) < np.where(x > 0, 0.8, 0.2)).astype(float)
    shares = np.array([1 - level.mean(), level.mean()])
    X = np.column_stack([x, 1 - level - shares[0], level - shares[1]])
    M = np.zeros_like(X, dtype=bool)
    M[:2000, 1:] = True
    filled = linear_fill(np.where(M, 0.0, X), M, [np.array([0]), np.array([1, 2])],
                         rng=np.random.default_rng(0), shares=[None, shares])
    onehot = filled[:2000, 1:] + shares
    assert set(np.unique(onehot)) == {0.0, 1.0}
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    drawn = onehot[:, 1] == 1
    # A linear probability model puts about 0.74 / 0.26 on each side, not 1 / 0.
    assert 0.65 < drawn[x[:2000] > 0].mean() < 0.85
    assert 0.15 < drawn[x[:2000] <= 0].mean() < 0.35
