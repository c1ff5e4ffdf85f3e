"""The conditional sampler against a closed form: a Gaussian, whose exact denoiser is linear."""

import numpy as np
import pandas as pd
import torch

from diffputer.diffusion import karras_sigmas
from diffputer.em import e_step
from diffputer.encoding import TableEncoder
from diffputer.settings import resolve
from diffputer.sampling import conditional_sample, lifted

RHO = 0.8
SIGMA_DATA = 0.5


class GaussianDenoiser(torch.nn.Module):
    """The exact D(x; sigma) = Sigma (Sigma + sigma^2 I)^-1 x of a centred Gaussian."""

    def __init__(self, cov):
        super().__init__()
        self.register_buffer("cov", torch.as_tensor(cov, dtype=torch.float32))

    def forward(self, x, sigma):
        s2 = float(sigma.flatten()[0]) ** 2
        gain = self.cov @ torch.linalg.inv(self.cov + s2 * torch.eye(len(self.cov)))
        return x @ gain.T


def _query(x1_values, repeats):
    x1 = torch.tensor(x1_values, dtype=torch.float32).repeat(repeats)
    x = torch.stack([x1, torch.zeros_like(x1)], dim=1)
    missing = torch.zeros_like(x, dtype=torch.bool)
    missing[:, 1] = True
    return x, missing


def _denoiser():
    return GaussianDenoiser(SIGMA_DATA**2 * np.array([[1.0, RHO], [RHO, 1.0]]))


def test_sampler_returns_observed_entries_exactly():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3) * 0.5
    missing = torch.rand(50, 3, generator=g) < 0.3
    out, mean = conditional_sample(_denoiser_3d(), x, missing, karras_sigmas(6, 0.002, 80.0),
                             resample=2, generator=g)
    assert torch.equal(out[~missing], x[~missing])
    assert torch.equal(mean, out)  # without a corrector the estimate is the draw
    assert torch.isfinite(out).all()
    assert not torch.equal(out[missing], x[missing])


def _denoiser_3d():
    return GaussianDenoiser(0.25 * np.eye(3))


def test_paper_sampler_recovers_the_gaussian_conditional_distribution():
    settings = resolve("paper")
    sigmas = karras_sigmas(settings.n_steps, settings.sigma_min, settings.sigma_max, settings.rho)
    x1 = [-1.0, -0.5, 0.0, 0.5, 1.0]
    x, missing = _query(x1, repeats=400)
    g = torch.Generator().manual_seed(1)
    out, _ = conditional_sample(_denoiser(), x, missing, sigmas, resample=settings.resample,
                                churn=settings.churn, generator=g)
    draws = out[:, 1].reshape(400, len(x1)).numpy()
    expected_mean = RHO * np.array(x1)
    expected_sd = SIGMA_DATA * np.sqrt(1 - RHO**2)
    np.testing.assert_allclose(draws.mean(axis=0), expected_mean, atol=0.08)
    np.testing.assert_allclose(draws.std(axis=0), expected_sd, rtol=0.15)


def _conditional_slope_and_sd(settings, seed, moments=None):
    sigmas = karras_sigmas(settings.n_steps, settings.sigma_min, settings.sigma_max, settings.rho)
    x1 = [-1.0, -0.5, 0.5, 1.0]
    x, missing = _query(x1, repeats=400)
    g = torch.Generator().manual_seed(seed)
    out, _ = conditional_sample(_denoiser(), x, missing, sigmas, resample=settings.resample,
                                churn=settings.churn, corrector_steps=settings.corrector_steps,
                                corrector_sigma=settings.corrector_sigma, generator=g,
                                x_fed=None if moments is None else
                                lifted(x, missing, *moments, settings.corrector_sigma))
    draws = out[:, 1].reshape(400, len(x1)).numpy()
    slope = np.polyfit(np.tile(x1, 400), draws.ravel(), 1)[0] / RHO
    return slope, draws.std(axis=0).mean() / (SIGMA_DATA * np.sqrt(1 - RHO**2))


def test_langevin_corrector_removes_the_injection_shrinkage():
    """Fast preset: E[x2 | x1] keeps >= 95% of its slope and the right spread; without the
    corrector the same sampler shrinks the slope by more than 10%."""
    settings = resolve("fast")
    slope, sd_ratio = _conditional_slope_and_sd(settings, seed=2)
    assert slope > 0.95 and abs(sd_ratio - 1) < 0.1
    slope_off, _ = _conditional_slope_and_sd(resolve("fast", corrector_steps=0), seed=2)
    assert slope_off < 0.9


def test_lifted_entries_are_what_the_denoiser_shrinks_back_to_the_clean_ones():
    """Per row, the exact denoiser of the observed block at sigma maps the lifted entries to
    the given ones; missing entries are left as they are."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    cov, mean, sigma = A @ A.T / 3 + 0.1 * np.eye(3), np.array([0.3, -0.2, 0.1]), 0.2
    x = torch.as_tensor(rng.normal(size=(4, 3)))
    missing = torch.tensor([[False, False, True], [True, False, False],
                            [False, False, False], [False, True, True]])
    out = lifted(x, missing, torch.as_tensor(mean), torch.as_tensor(cov), sigma).numpy()
    assert np.array_equal(out[missing.numpy()], x.numpy()[missing.numpy()])
    for row, miss in zip(range(4), missing.numpy()):
        o = ~miss
        S = cov[np.ix_(o, o)]
        noised = S + sigma**2 * np.eye(o.sum())
        shrunk = mean[o] + S @ np.linalg.solve(noised, out[row, o] - mean[o])
        np.testing.assert_allclose(shrunk, x.numpy()[row, o], rtol=1e-10)


def test_lifted_inputs_undo_the_correctors_shrinkage_of_the_observed_entries():
    """Held clean, the observed entry reaches the denoiser as if noised at the corrector's sigma
    and is shrunk by Sigma / (Sigma + sigma^2): 1% here. Lifted, the slope of the same draws
    (same noise) is larger by that factor."""
    settings = resolve("fast")
    cov = SIGMA_DATA**2 * np.array([[1.0, RHO], [RHO, 1.0]])
    moments = (torch.zeros(2), torch.as_tensor(cov, dtype=torch.float32))
    clean, _ = _conditional_slope_and_sd(settings, seed=2)
    lifted_slope, _ = _conditional_slope_and_sd(settings, seed=2, moments=moments)
    expected = 1 + settings.corrector_sigma**2 / SIGMA_DATA**2
    assert abs(lifted_slope / clean - expected) < 0.002
    assert clean < 0.995


def test_e_step_average_approaches_the_conditional_mean():
    """The E-step's point estimate (average of N draws) with the fast preset's sampler."""
    settings = resolve("fast", n_samples=40)
    rng = np.random.default_rng(0)
    n = 200

    z = rng.multivariate_normal([0, 0], [[1, RHO], [RHO, 1]], size=n)
    df = pd.DataFrame(z, columns=["a", "b"])
    df.loc[df.index[: n // 2], "b"] = np.nan
    encoder = TableEncoder.fit(df)
    X, M = encoder.encode(df)
    rows = np.flatnonzero(M.any(axis=1))
    # The exact denoiser of the encoded data (its covariance estimated from complete rows).
    cov = np.cov(X[n // 2 :].T)
    step = e_step(GaussianDenoiser(cov), X[rows], M[rows], encoder, settings,
                  torch.Generator().manual_seed(2), n_samples=40)
    slope = cov[0, 1] / cov[0, 0]
    exact = slope * X[rows, 0]
    estimate = step.mean[:, 1]
    # Replacement-based conditioning shrinks towards the mean a little; bound the gap.
    fitted_slope = (estimate * exact).sum() / (exact**2).sum()
    assert 0.8 < fitted_slope < 1.1
    # Monte Carlo error alone is about 0.04 here; ignoring x1 altogether would give about 0.3.
    assert np.abs(estimate - exact).mean() < 0.08
    assert step.chain_means.shape == (2, 40)
    assert np.isnan(step.chain_means[0]).all()  # column a has nothing imputed
    assert np.isfinite(step.chain_means[1]).all()


def test_chain_mean_estimates_the_posterior_mean_with_less_noise_than_a_draw():
    settings = resolve("fast")
    sigmas = karras_sigmas(settings.n_steps, settings.sigma_min, settings.sigma_max, settings.rho)
    x, missing = _query([-1.0, -0.5, 0.5, 1.0], repeats=200)
    g = torch.Generator().manual_seed(3)
    out, mean = conditional_sample(_denoiser(), x, missing, sigmas, resample=settings.resample,
                                   churn=settings.churn, corrector_steps=settings.corrector_steps,
                                   corrector_sigma=settings.corrector_sigma, generator=g)
    assert torch.equal(mean[~missing], x[~missing])
    posterior_mean = RHO * x[:, 0]
    error_of_mean, error_of_draw = mean[:, 1] - posterior_mean, out[:, 1] - posterior_mean
    assert abs(float(error_of_mean.mean())) < 0.03
    # the chain's second half holds about two independent draws' worth (0.70 x the noise)
    assert float(error_of_mean.std()) < 0.85 * float(error_of_draw.std())
