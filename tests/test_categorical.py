"""Posterior draws of missing categories, checked against an exact mixture denoiser."""

from typing import NamedTuple

import numpy as np
import torch

from diffputer.categorical import CategoryBlock, calibrate, fit_calibration, resample_categories

SHARES = np.array([0.3, 0.7])
MEANS = np.array([-0.4, 0.4])  # mean of the numeric entry for each level
SPREAD = 0.3                   # its standard deviation within a level
BLOCK = CategoryBlock(slice(1, 3), tuple(SHARES))


class MixtureDenoiser(torch.nn.Module):
    """The exact E[x0 | x0 + sigma eps] for rows [number, one-hot - shares] of a 2-level mixture
    whose level weights are ``weights`` and means of the number ``means`` (the data's are
    SHARES and MEANS)."""

    def __init__(self, weights=SHARES, means=MEANS):
        super().__init__()
        self.weights, self.means = np.asarray(weights), np.asarray(means)

    def forward(self, x, sigma):
        s2 = sigma.double()[:, None] ** 2
        x = x.double()
        centres = torch.tensor([[m, *(np.eye(2)[k] - SHARES)] for k, m in enumerate(self.means)])
        variances = torch.tensor([SPREAD**2, 0.0, 0.0])
        log_w = []
        for k in range(2):
            var = variances + s2
            log_w.append(np.log(self.weights[k])
                         - 0.5 * (((x - centres[k]) ** 2) / var + torch.log(var)).sum(1))
        weights = torch.softmax(torch.stack(log_w, 1), dim=1)
        means = torch.stack([centres[k] + variances / (variances + s2) * (x - centres[k])
                             for k in range(2)], 1)
        return (weights[:, :, None] * means).sum(1).float()


def exact_posterior(numbers: np.ndarray) -> np.ndarray:
    """P(level 1 | number) under the data's mixture."""
    likelihood = np.exp(-0.5 * ((numbers[:, None] - MEANS) / SPREAD) ** 2) * SHARES
    return likelihood[:, 1] / likelihood.sum(axis=1)


def rows_with_missing_level(numbers: torch.Tensor):
    x = torch.stack([numbers, torch.zeros_like(numbers), torch.zeros_like(numbers)], 1)
    missing = torch.zeros_like(x, dtype=torch.bool)
    missing[:, 1:] = True
    return x, missing


def drawn_share(out: torch.Tensor, n_values: int) -> np.ndarray:
    level = out[:, 1:].argmax(1).numpy().reshape(-1, n_values)
    return (level == 1).mean(axis=0)


def test_missing_categories_follow_the_exact_posterior():
    numbers = torch.tensor([-0.6, -0.2, 0.0, 0.2, 0.6]).repeat(400)
    x, missing = rows_with_missing_level(numbers)
    g = torch.Generator().manual_seed(0)
    out, expected = resample_categories(MixtureDenoiser(), x, missing, [BLOCK], 0.002, 10.0,
                                        64, g)
    assert torch.equal(out[:, 0], x[:, 0]) and torch.equal(expected[:, 0], x[:, 0])
    exact = exact_posterior(numbers[:5].numpy())
    np.testing.assert_allclose(drawn_share(out, 5), exact, atol=0.06)
    level = out[:, 1:].argmax(1).numpy()
    np.testing.assert_allclose(out[:, 1:].numpy() + SHARES, np.eye(2)[level], atol=1e-6)
    # The expectation holds each row's level probabilities: no sampling noise in them, only
    # the scores' (0.05 on this posterior, see categorical.py).
    probabilities = expected[:, 1:].numpy() + SHARES
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    assert (probabilities >= 0).all()
    share = probabilities[:, 1].reshape(-1, 5)
    np.testing.assert_allclose(share.mean(0), exact, atol=0.03)
    assert (share.std(0) > 0).all() and (share.std(0) < 0.1).all()


def test_fit_calibration_recovers_temperature_offsets_and_coefficients():
    g = torch.Generator().manual_seed(1)
    scores = 2 * torch.randn(20_000, 3, generator=g, dtype=torch.float64)
    features = torch.randn(20_000, 2, generator=g, dtype=torch.float64)
    temperature, offsets = 0.6, torch.tensor([0.0, 0.8, -0.5], dtype=torch.float64)
    coefficients = torch.tensor([[0.0, 1.0, 0.0], [0.0, -0.5, 0.7]], dtype=torch.float64)
    logits = temperature * scores + offsets
    labels = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).flatten()
    fitted = fit_calibration(scores, labels)
    assert abs(fitted.temperature - temperature) < 0.05 and fitted.coefficients is None
    np.testing.assert_allclose(fitted.offsets.numpy(), offsets.numpy(), atol=0.08)
    labels = torch.multinomial(torch.softmax(logits + features @ coefficients, 1), 1,
                               generator=g).flatten()
    fitted = fit_calibration(scores, labels, features=features)
    assert abs(fitted.temperature - temperature) < 0.05
    np.testing.assert_allclose(fitted.offsets.numpy(), offsets.numpy(), atol=0.08)
    np.testing.assert_allclose(fitted.coefficients.numpy(), coefficients.numpy(), atol=0.08)


class CalibrationTable(NamedTuple):
    x: torch.Tensor  # 1,000 rows with observed levels, then the rows of x_missing
    missing: torch.Tensor
    x_missing: torch.Tensor  # numbers -0.2, 0, 0.2 (400 rows each), their levels missing
    m_missing: torch.Tensor
    exact: np.ndarray  # P(level 1) at -0.2, 0 and 0.2: 0.28, 0.70, 0.93


def calibration_table(seed: int) -> CalibrationTable:
    """Rows drawn from the data's mixture, and rows whose level is missing."""
    rng = np.random.default_rng(seed)
    level = (rng.random(1000) < SHARES[1]).astype(int)
    observed = np.column_stack([MEANS[level] + SPREAD * rng.normal(size=1000),
                                np.eye(2)[level] - SHARES])
    values = torch.tensor([-0.2, 0.0, 0.2]).repeat(400)
    x_missing, m_missing = rows_with_missing_level(values)
    x = torch.cat([torch.as_tensor(observed, dtype=torch.float32), x_missing])
    missing = torch.cat([torch.zeros(1000, 3, dtype=torch.bool), m_missing])
    return CalibrationTable(x, missing, x_missing, m_missing, exact_posterior(values[:3].numpy()))


def test_calibration_on_observed_rows_corrects_a_biased_model():
    """A model that believes the levels are equally likely under-draws level 1 (share 0.7);
    calibrated on rows whose level is observed, its draws follow the data's posterior again."""
    biased, g = MixtureDenoiser(weights=[0.5, 0.5]), torch.Generator().manual_seed(2)
    x, missing, x_missing, m_missing, exact = calibration_table(2)

    plain, _ = resample_categories(biased, x_missing, m_missing, [BLOCK], 0.002, 10.0, 64, g)
    shortfall = exact - drawn_share(plain, 3)  # the bias the calibration must remove
    assert (shortfall > 0).all() and shortfall.mean() > 0.08
    block = calibrate(biased, x, missing, BLOCK, (0.002, 10.0), 64, g)
    assert block.offsets[1] - block.offsets[0] > 0.4  # about log(0.7 / 0.3) = 0.85
    out, _ = resample_categories(biased, x_missing, m_missing, [block], 0.002, 10.0, 64, g)
    error = np.abs(drawn_share(out, 3) - exact)
    # The offset fitted on 1,000 rows has a standard error of about 0.15.
    assert error.mean() < 0.5 * shortfall.mean() and error.max() < 0.12


def test_calibration_restores_a_dependence_the_model_missed():
    """A model that learned the level shares but not that the number depends on the level draws
    the same share whatever the number; the calibration's linear term, fitted on rows whose
    level is observed, makes the draws follow the data's posterior."""
    blind, g = MixtureDenoiser(means=[0.0, 0.0]), torch.Generator().manual_seed(6)
    x, missing, x_missing, m_missing, exact = calibration_table(6)

    plain = drawn_share(resample_categories(blind, x_missing, m_missing, [BLOCK], 0.002, 10.0,
                                            64, g)[0], 3)
    assert plain.max() - plain.min() < 0.1  # blind to the number
    block = calibrate(blind, x, missing, BLOCK, (0.002, 10.0), 64, g)
    assert block.coefficients.shape == (1, 2)
    out, _ = resample_categories(blind, x_missing, m_missing, [block], 0.002, 10.0, 64, g)
    # The fitted slope (about 9 on the logit scale) has a standard error of about 0.6.
    np.testing.assert_allclose(drawn_share(out, 3), exact, atol=0.08)


def test_a_draws_posterior_mean_estimate_holds_the_level_probabilities():
    """em.draw's estimate of the posterior mean takes a redrawn block's level probabilities,
    not the drawn level: averaged over draws, it is the posterior's expectation."""
    from dataclasses import replace

    from diffputer.em import draw
    from diffputer.settings import PRESETS

    numbers = torch.tensor([-0.6, -0.2, 0.0, 0.2, 0.6]).repeat(200)
    x, missing = rows_with_missing_level(numbers)
    settings = replace(PRESETS["fast"], n_steps=5, resample=1, corrector_steps=0)
    sample, mean = draw(MixtureDenoiser(), x, missing, settings,
                        torch.Generator().manual_seed(4), [BLOCK])
    assert set(np.unique(sample[:, 1:].numpy() + SHARES).round(5)) == {0.0, 1.0}
    probabilities = mean[:, 1:].numpy() + SHARES
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    assert ((probabilities > 0.005) & (probabilities < 0.995)).mean() > 0.5
    np.testing.assert_allclose(probabilities[:, 1].reshape(-1, 5).mean(0),
                               exact_posterior(numbers[:5].numpy()), atol=0.03)


def test_calibration_needs_observed_rows_of_two_levels():
    x, missing = rows_with_missing_level(torch.zeros(50))
    g = torch.Generator().manual_seed(3)
    assert calibrate(MixtureDenoiser(), x, missing, BLOCK, (0.002, 10.0), 8, g) == BLOCK
    one_level = torch.tensor([[0.4, *(np.eye(2)[1] - SHARES)]], dtype=torch.float32).repeat(50, 1)
    observed = torch.zeros_like(one_level, dtype=torch.bool)
    assert calibrate(MixtureDenoiser(), one_level, observed, BLOCK, (0.002, 10.0), 8, g) == BLOCK


def test_estimator_with_category_draws_keeps_observed_cells_and_levels(mixed_df, tiny):
    import diffputer

    imp = diffputer.impute(mixed_df, m=2, **{**tiny, "category_draws": 8})
    for i in (1, 2):
        completed = imp.complete(i)
        assert not completed.isna().any().any()
        observed = mixed_df.notna()
        for column in mixed_df.columns:
            kept = observed[column]
            assert (completed.loc[kept, column] == mixed_df.loc[kept, column]).all()
        assert list(completed["colour"].cat.categories) == ["red", "green", "blue", "unused"]


def test_many_levels_get_fewer_noise_draws():
    from diffputer.categorical import EVALS_PER_CELL, MIN_DRAWS, draws_per_level

    assert draws_per_level(3, 64) == 64
    assert draws_per_level(26, 64) * 26 <= EVALS_PER_CELL
    assert draws_per_level(10_000, 64) == MIN_DRAWS


def test_log_sigmas_follow_the_density_with_inverse_weights():
    from diffputer.categorical import log_sigmas

    density = torch.tensor([0.5, 0.25, 0.25])
    u = torch.tensor([[0.25], [0.5], [0.875]])
    log_sigma, weight = log_sigmas(u, (0.0, 3.0), density)
    np.testing.assert_allclose(log_sigma.flatten().numpy(), [0.5, 1.0, 2.5], atol=1e-6)
    np.testing.assert_allclose(weight.flatten().numpy(), [2.0, 4.0, 4.0], atol=1e-6)
    even, weight = log_sigmas(u, (0.0, 3.0), None)
    np.testing.assert_allclose(even.flatten().numpy(), [0.75, 1.5, 2.625], atol=1e-6)
    assert torch.all(weight == 3.0)


def test_importance_sampled_noise_levels_keep_the_scores_unbiased_and_less_noisy():
    """Every row is the same: across rows, the mean of a score difference is its expectation and
    the spread is the estimator's noise."""
    from diffputer.categorical import completions, noise_density, row_losses

    x, _ = rows_with_missing_level(torch.full((4000,), 0.1))
    candidates = completions(x, BLOCK)
    log_range = (np.log(0.002), np.log(10.0))
    g = torch.Generator().manual_seed(4)
    density = noise_density(MixtureDenoiser(), candidates[:, :500], log_range, 16, g)
    assert density is not None and abs(float(density.sum()) - 1) < 1e-6
    assert density.max() > 3 / 16  # the noise is concentrated: the draws are too

    def differences(density):
        losses = row_losses(MixtureDenoiser(), candidates, log_range, 32, g, density)
        return (losses[1] - losses[0]).double().numpy()

    even, weighted = differences(None), differences(density)
    se = np.sqrt(even.var() / len(even) + weighted.var() / len(weighted))
    assert abs(even.mean() - weighted.mean()) < 4 * se
    assert weighted.var() < 0.6 * even.var()


def test_bootstrapped_calibrations_spread_about_the_fit():
    """Proper draws draw each calibration from its Bayesian-bootstrap posterior: the drawn
    offsets scatter about the fitted one by about its standard error (the fitted offset's sd
    across tables of 1,000 rows is 0.13), far more than the scores' Monte Carlo noise moves
    the fit."""
    biased, g = MixtureDenoiser(weights=[0.5, 0.5]), torch.Generator().manual_seed(3)
    x, missing, *_ = calibration_table(3)

    def offsets(bootstrap):
        block = calibrate(biased, x, missing, BLOCK, (0.002, 10.0), 16, g, bootstrap=bootstrap)
        return float(block.offsets[1] - block.offsets[0])

    fitted = np.array([offsets(False) for _ in range(4)])
    drawn = np.array([offsets(True) for _ in range(12)])
    assert 0.05 < drawn.std(ddof=1) < 0.3 and drawn.std(ddof=1) > 3 * fitted.std(ddof=1)
    assert abs(drawn.mean() - fitted.mean()) < 3 * drawn.std(ddof=1) / np.sqrt(len(drawn))
