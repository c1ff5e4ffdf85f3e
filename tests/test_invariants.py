"""Invariants of whole fits on hypothesis-generated tables of every supported column type."""

import warnings

import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import diffputer
from diffputer import DiffPuter

from .tables import assert_valid_completion, tables

# The smallest settings that still run every stage (EM, corrector, category redraw, proper
# draws with refills).
SMALL = dict(width=16, max_steps=8, max_iter=2, n_steps=3, resample=1, corrector_steps=2,
             category_draws=2, n_samples=2, proper_steps=4, proper_rounds=2, progress=False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=tables(), seed=st.integers(0, 2**16))
def test_property_imputations_keep_the_table_and_repeat_with_the_seed(df, seed):
    # a column with no observed value is refused by name (tests/test_bad_input.py)
    df = df.loc[:, df.notna().any()]
    assume(df.shape[1] > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # constant columns, nothing missing
        imp = diffputer.impute(df, m=2, random_state=seed, **SMALL)
        again = diffputer.impute(df, m=2, random_state=seed, **SMALL)
        model = DiffPuter(random_state=seed, **SMALL).fit(df)
        transformed = model.transform(df)
        fitted = DiffPuter(random_state=seed, **SMALL).fit_transform(df)
    for i in (1, 2):
        assert_valid_completion(df, imp.complete(i))
        pd.testing.assert_frame_equal(imp.complete(i), again.complete(i))
    # transform of the training rows: a valid completion like fit_transform's, and repeatable
    assert_valid_completion(df, transformed)
    assert_valid_completion(df, fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pd.testing.assert_frame_equal(model.transform(df), transformed)
