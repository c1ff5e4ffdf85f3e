"""The point fill of fit_transform and transform: the posterior mean or median of the draws."""

import numpy as np
import pandas as pd
import pytest

import diffputer
from diffputer import em


def test_with_median_sets_only_the_given_cells_to_the_median_of_the_estimates():
    mean = np.arange(12, dtype=np.float32).reshape(4, 3)
    cells = np.zeros((4, 3), dtype=bool)
    cells[[0, 2, 3], [1, 0, 2]] = True
    estimates = [np.array([1.0, 5.0, -2.0]), np.array([9.0, 4.0, 0.0]), np.array([2.0, 6.0, 7.0])]
    point = em.with_median(mean, cells, estimates)
    np.testing.assert_array_equal(point[cells], [2.0, 5.0, 0.0])
    np.testing.assert_array_equal(point[~cells], mean[~cells])
    assert mean[0, 1] == 1.0  # the mean itself is left as it was


def _fitted(mixed_df, tiny, **settings):
    model = diffputer.DiffPuter(**{**tiny, **settings}).fit(mixed_df)
    X, M = model.encoder_.encode(mixed_df)
    rows = M.any(axis=1)
    return model, X[rows], M[rows]


def _e_step(model, X, M, n_samples, generator):
    return em.e_step(model.denoiser_, X, M, model.encoder_, model.settings_, generator,
                     n_samples=n_samples)


def test_the_median_fill_takes_each_numeric_cell_to_the_median_of_the_draws_estimates(
        mixed_df, tiny):
    """Three draws in one E-step are the three one-draw E-steps that the same random stream
    gives in turn: the median fill is their median in the missing numeric cells, the mean
    (the most probable level's one-hot, once decoded) everywhere else."""
    model, X, M = _fitted(mixed_df, tiny, n_samples=3, point_estimate="median")
    step = _e_step(model, X, M, 3, em.make_generator(7, model.device_))
    generator = em.make_generator(7, model.device_)
    singles = [_e_step(model, X, M, 1, generator) for _ in range(3)]
    np.testing.assert_allclose(step.mean, np.mean([s.mean for s in singles], axis=0), atol=1e-6)
    numeric = M & em.numeric_entries(model.encoder_)
    assert numeric.sum() > 20 and (M & ~numeric).sum() > 20
    np.testing.assert_array_equal(step.point[numeric],
                                  np.median([s.mean[numeric] for s in singles], axis=0))
    np.testing.assert_array_equal(step.point[~numeric], step.mean[~numeric])
    assert not np.allclose(step.point[numeric], step.mean[numeric])


def test_the_point_estimate_changes_only_the_numeric_fill(mixed_df, tiny):
    """Same fit, same draws: the median and the mean fill differ in imputed numeric cells
    alone; categories, observed cells and the draws of ``impute`` are the same."""
    fits = {point: diffputer.DiffPuter(**{**tiny, "n_samples": 5}, point_estimate=point)
            for point in ("mean", "median")}
    filled = {point: model.fit_transform(mixed_df) for point, model in fits.items()}
    holes = mixed_df.isna()
    for name in mixed_df.columns:
        mean, median = filled["mean"][name], filled["median"][name]
        pd.testing.assert_series_equal(mean[~holes[name]], median[~holes[name]])
        if name in ("x", "y"):
            assert not np.allclose(mean[holes[name]], median[holes[name]])
        elif name != "count":  # an integer column may round both fills alike
            pd.testing.assert_series_equal(mean, median)
    new = {point: model.transform(mixed_df) for point, model in fits.items()}
    assert not np.allclose(new["mean"]["x"][holes["x"]], new["median"]["x"][holes["x"]])
    draws = {point: model.impute(mixed_df, m=2) for point, model in fits.items()}
    for l in (1, 2):
        pd.testing.assert_frame_equal(draws["mean"].complete(l), draws["median"].complete(l))


def test_proper_draws_of_a_mean_filled_fit_refit_on_the_posterior_mean(mixed_df, tiny,
                                                                       monkeypatch):
    """With ``m_step_fill="mean"`` the proper refits train on the table the M-steps trained
    on, whatever fills the cells that fit_transform returns."""
    seen = []
    original = diffputer.estimator.DiffPuter._proper_draws
    monkeypatch.setattr(diffputer.estimator.DiffPuter, "_proper_draws",
                        lambda self, mean, *a: seen.append(mean) or original(self, mean, *a))
    options = dict(tiny, n_samples=5, m_step_fill="mean")
    diffputer.impute(mixed_df, m=2, point_estimate="median", **options)
    diffputer.impute(mixed_df, m=2, point_estimate="mean", **options)
    np.testing.assert_array_equal(seen[0], seen[1])
