"""MultipleImputation's mice-style accessors, on a hand-built result."""

import numpy as np
import pandas as pd
import pytest

from diffputer import History, MultipleImputation


@pytest.fixture
def imp():
    data = pd.DataFrame(
        {"x": [1.0, np.nan, 3.0, np.nan], "c": pd.Categorical(["a", "b", None, "a"]),
         "n": pd.array([1, None, 3, 4], dtype="Int64")},
        index=["w", "x", "y", "z"],
    )
    draws = [
        {0: np.array([10.0, 20.0]), 1: np.array(["a"], dtype=object), 2: np.array([2])},
        {0: np.array([30.0, 40.0]), 1: np.array(["b"], dtype=object), 2: np.array([3])},
        {0: np.array([50.0, 60.0]), 1: np.array(["b"], dtype=object), 2: np.array([3])},
    ]
    return MultipleImputation(data, draws, History(variables=list(data.columns)))


def test_complete_numbers_follow_mice(imp):
    assert imp.m == 3
    pd.testing.assert_frame_equal(imp.complete(0), imp.data)
    second = imp.complete(2)
    assert second["x"].tolist() == [1.0, 30.0, 3.0, 40.0]
    assert second["c"].tolist() == ["a", "b", "b", "a"]
    assert second.dtypes.equals(imp.data.dtypes)
    with pytest.raises(ValueError, match="action must be between 0 and m=3; got action=4"):
        imp.complete(4)
    with pytest.raises(ValueError, match="action must be an integer 0..3 or one of"):
        imp.complete("wide")


def test_complete_long_refuses_a_column_named_like_its_own(imp):
    clash = MultipleImputation(imp.data.rename(columns={"n": ".id"}), imp.imp, imp.history)
    with pytest.raises(ValueError, match="Column '.id' has the name of a column the long"):
        clash.complete("long")
    assert list(clash.complete(1).columns) == ["x", "c", ".id"]


def test_complete_long_stacks_with_imp_and_id(imp):
    long = imp.complete("long")
    assert list(long.columns) == [".imp", ".id", "x", "c", "n"]
    assert long[".imp"].tolist() == [1] * 4 + [2] * 4 + [3] * 4
    assert long[".id"].tolist() == ["w", "x", "y", "z"] * 3
    assert long["x"].tolist()[4:8] == [1.0, 30.0, 3.0, 40.0]
    assert isinstance(long["c"].dtype, pd.CategoricalDtype)
    with_original = imp.complete("long", include=True)
    assert with_original[".imp"].tolist()[:4] == [0] * 4
    assert with_original["x"].isna().sum() == 2


def test_complete_broad_repeated_and_all(imp):
    broad = imp.complete("broad")
    assert list(broad.columns) == ["x.1", "c.1", "n.1", "x.2", "c.2", "n.2", "x.3", "c.3", "n.3"]
    repeated = imp.complete("repeated")
    assert list(repeated.columns)[:3] == ["x.1", "x.2", "x.3"]
    assert repeated["x.3"].tolist() == [1.0, 50.0, 3.0, 60.0]
    tables = imp.complete("all", include=True)
    assert len(tables) == 4 and tables[0]["x"].isna().sum() == 2


def test_mean_averages_numbers_and_takes_the_modal_level(imp):
    pooled = imp.mean()
    assert pooled["x"].tolist() == [1.0, 30.0, 3.0, 40.0]
    assert pooled["c"].tolist() == ["a", "b", "b", "a"]
    assert pooled["n"].tolist() == [1, 3, 3, 4]  # mean 8/3 rounded, integer dtype kept
    assert str(pooled["n"].dtype) == "Int64"


def test_summary_counts_missing_cells_and_describes_imputations(imp):
    summary = imp.summary()
    assert summary.loc["x", "missing"] == 2
    assert summary.loc["x", "imputed mean"] == pytest.approx(35.0)
    assert summary.loc["c", "imputed top level"] == "b (67%)"
    assert "m=3" in repr(imp)
