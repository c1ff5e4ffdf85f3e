"""The masked-cell check that turns the Langevin corrector off where it imputes worse."""

import numpy as np
import pandas as pd

import diffputer
from diffputer import em
from diffputer.corrector_check import (HIDDEN_SHARE, MIN_CELLS, CorrectorCheck, error_sums,
                                       hidden_cells, verdict)
from diffputer.encoding import TableEncoder
from diffputer.settings import resolve

from .test_sampling import RHO, SIGMA_DATA, GaussianDenoiser


def test_verdict_keeps_the_corrector_unless_its_errors_are_clearly_larger():
    rng = np.random.default_rng(0)
    without = np.abs(rng.normal(size=500))
    close = verdict(error_sums(without + rng.normal(scale=0.3, size=500) + 0.01, without))
    assert close.keep and close.cells == 500
    assert abs(close.error_without - without.mean()) < 1e-12
    worse = verdict(error_sums(without + rng.normal(scale=0.3, size=500) + 0.1, without))
    assert not worse.keep
    assert worse.error_with - worse.error_without > 2 * worse.standard_error
    better = verdict(error_sums(without - 0.1, without))
    assert better.keep and better.error_with < better.error_without


def test_verdict_keeps_the_corrector_when_too_few_cells_were_hidden():
    few = np.ones(MIN_CELLS - 1)
    assert verdict(error_sums(few + 1.0, few)).keep
    none = verdict(error_sums(np.array([]), np.array([])))
    assert none.keep and none.to_dict()["error_with"] is None and none.to_dict()["cells"] == 0


def test_error_sums_of_shards_add_up_to_those_of_the_whole():
    rng = np.random.default_rng(1)
    a, b = np.abs(rng.normal(size=(2, 300)))
    whole = verdict(error_sums(a, b))
    shards = verdict(error_sums(a[:120], b[:120]) + error_sums(a[120:], b[120:]))
    np.testing.assert_allclose(list(shards[:4]), list(whole[:4]), rtol=1e-12)
    assert shards.keep == whole.keep


def test_hidden_cells_are_observed_numeric_cells_of_distinct_rows():
    rng = np.random.default_rng(2)
    M = rng.random((2000, 6)) < 0.3
    numeric = np.array([0, 2, 3])
    rows, hide = hidden_cells(M, numeric, 1000, rng)
    assert len(rows) <= 1000 and len(np.unique(rows)) == len(rows)
    assert hide.shape == (len(rows), 6) and hide.any(axis=1).all()
    assert not (hide & M[rows]).any()
    assert not hide[:, [1, 4, 5]].any()
    # 1,000 rows drawn, each observed numeric cell of theirs hidden with HIDDEN_SHARE
    expected = 1000 * HIDDEN_SHARE * (~M[:, numeric]).sum(axis=1).mean()
    assert 0.9 * expected < hide.sum() < 1.1 * expected


class BiasedAtSigma(GaussianDenoiser):
    """The exact Gaussian denoiser, but off by ``bias`` at noise level ``sigma`` alone: the
    corrector (which runs there) pulls the draws off, the sampler does not."""

    def __init__(self, cov, sigma, bias):
        super().__init__(cov)
        self.sigma, self.bias = sigma, bias

    def forward(self, x, sigma):
        out = super().forward(x, sigma)
        return out + self.bias if abs(float(sigma.flatten()[0]) - self.sigma) < 1e-6 else out


def _gaussian_table(n=600):
    rng = np.random.default_rng(3)
    z = rng.multivariate_normal([0, 0], [[1, RHO], [RHO, 1]], size=n)
    df = pd.DataFrame(z, columns=["a", "b"])
    df.loc[df.index[: n // 3], "b"] = np.nan
    encoder = TableEncoder.fit(df)
    X, M = encoder.encode(df)
    return encoder, X, M


def test_the_check_keeps_the_corrector_of_an_exact_denoiser_and_drops_a_wrong_one():
    """With the exact denoiser the corrector brings the draws to the conditional mean, and
    the check sees its errors smaller; with one pulled off at the corrector's noise level the
    check sees them larger, and turns it off."""
    encoder, X, M = _gaussian_table()
    settings = resolve("fast", corrector_steps=100, n_samples=4, corrector_check=400)
    cov = SIGMA_DATA**2 * np.array([[1.0, RHO], [RHO, 1.0]])
    exact = em.check_corrector(GaussianDenoiser(cov), X, M, encoder, settings, seed=0)
    assert exact.keep and exact.error_with < exact.error_without
    assert exact.cells >= MIN_CELLS
    wrong = BiasedAtSigma(cov, settings.corrector_sigma, 0.4)
    off = em.check_corrector(wrong, X, M, encoder, settings, seed=0)
    assert not off.keep and off.error_with > off.error_without


def test_no_check_without_a_corrector_or_with_corrector_check_0():
    encoder, X, M = _gaussian_table()
    denoiser = GaussianDenoiser(0.25 * np.eye(2))
    for settings in (resolve("fast", corrector_steps=0), resolve("fast", corrector_check=0)):
        assert em.check_corrector(denoiser, X, M, encoder, settings, seed=0) is None


def _force_verdict(monkeypatch, keep):
    monkeypatch.setattr(em, "verdict", lambda sums: CorrectorCheck(0.5, 0.4, 0.01, 100, keep))


def test_a_fit_whose_check_drops_the_corrector_samples_without_it(mixed_df, tiny, monkeypatch):
    """Every E-step, the draws and new imputations then come from the sampler without the
    corrector: the same as a fit with it off from the start; ``settings_`` says so."""
    plain = diffputer.DiffPuter(**{**tiny, "corrector_steps": 0}, corrector_check=0)
    expected = plain.fit_transform(mixed_df)
    expected_draws = plain.impute(mixed_df, m=2)
    _force_verdict(monkeypatch, keep=False)
    model = diffputer.DiffPuter(**tiny, corrector_check=50)
    pd.testing.assert_frame_equal(model.fit_transform(mixed_df), expected)
    got_draws = model.impute(mixed_df, m=2)
    for l in (1, 2):
        pd.testing.assert_frame_equal(got_draws.complete(l), expected_draws.complete(l))
    assert model.settings_.corrector_steps == 0
    assert [c["keep"] for c in model.history_.corrector_checks] == [False] * tiny["max_iter"]


def test_a_check_that_keeps_the_corrector_leaves_the_fit_unchanged(mixed_df, tiny, monkeypatch):
    """The check (its imputations run, its verdict forced) draws from random streams of its
    own: a fit whose check keeps the corrector is the fit without a check."""
    expected = diffputer.DiffPuter(**tiny, corrector_check=0).fit_transform(mixed_df)
    _force_verdict(monkeypatch, keep=True)
    model = diffputer.DiffPuter(**tiny, corrector_check=50)
    pd.testing.assert_frame_equal(model.fit_transform(mixed_df), expected)
    assert model.settings_.corrector_steps == tiny["corrector_steps"]
    assert len(model.history_.corrector_checks) == tiny["max_iter"]
