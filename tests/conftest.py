import numpy as np
import pandas as pd
import pytest

# Small settings that keep every fit in the suite to about a second.
TINY = dict(width=32, max_steps=40, max_iter=2, n_steps=4, resample=1, corrector_steps=2,
            category_draws=4, n_samples=2, proper_steps=20, progress=False, random_state=0)


@pytest.fixture
def tiny():
    return dict(TINY)


@pytest.fixture
def mixed_df():
    """60 rows of every supported column type, about 20% of each column missing."""
    rng = np.random.default_rng(0)
    n = 60
    x = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(scale=0.5, size=n),
            "count": pd.array(rng.integers(0, 10, size=n), dtype="Int64"),
            "flag": pd.array(rng.random(n) < 0.4, dtype="boolean"),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], size=n),
                                     categories=["red", "green", "blue", "unused"]),
            "grade": pd.Categorical(rng.choice(["low", "mid", "high"], size=n),
                                    categories=["low", "mid", "high"], ordered=True),
            "city": pd.Series(rng.choice(["Oslo", "Lima"], size=n), dtype=object),
        }
    )
    df.index = pd.Index(np.arange(100, 100 + n) * 3, name="row")
    holes = rng.random(df.shape) < 0.2
    for j, name in enumerate(df.columns):
        df[name] = df[name].mask(holes[:, j])
    return df
