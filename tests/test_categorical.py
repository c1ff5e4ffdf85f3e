"""Posterior draws of missing categories, checked against an exact mixture denoiser."""

import numpy as np
import torch

from diffputer.categorical import resample_categories

SHARES = np.array([0.3, 0.7])
MEANS = np.array([-0.4, 0.4])  # mean of the numeric entry for each level
SPREAD = 0.3                   # its standard deviation within a level


class MixtureDenoiser(torch.nn.Module):
    """The exact E[x0 | x0 + sigma eps] for rows [number, one-hot - shares] of a 2-level mixture."""

    def forward(self, x, sigma):
        s2 = sigma.double()[:, None] ** 2
        x = x.double()
        centres = torch.tensor([[m, *(np.eye(2)[k] - SHARES)] for k, m in enumerate(MEANS)])
        variances = torch.tensor([SPREAD**2, 0.0, 0.0])
        log_w = []
        for k in range(2):
            var = variances + s2
            log_w.append(np.log(SHARES[k]) - 0.5 * (((x - centres[k]) ** 2) / var + torch.log(var)).sum(1))
        weights = torch.softmax(torch.stack(log_w, 1), dim=1)
        means = torch.stack([centres[k] + variances / (variances + s2) * (x - centres[k])
                             for k in range(2)], 1)
        return (weights[:, :, None] * means).sum(1).float()


def test_missing_categories_follow_the_exact_posterior():
    numbers = torch.tensor([-0.6, -0.2, 0.0, 0.2, 0.6]).repeat(400)
    x = torch.stack([numbers, torch.zeros_like(numbers), torch.zeros_like(numbers)], 1)
    missing = torch.zeros_like(x, dtype=torch.bool)
    missing[:, 1:] = True
    g = torch.Generator().manual_seed(0)
    out = resample_categories(MixtureDenoiser(), x, missing, [(slice(1, 3), SHARES)],
                              0.002, 10.0, 64, g)
    assert torch.equal(out[:, 0], x[:, 0])  # observed entries untouched
    level = out[:, 1:].argmax(1).numpy().reshape(400, 5)
    drawn = (level == 1).mean(axis=0)
    likelihood = np.exp(-0.5 * ((numbers[:5].numpy()[:, None] - MEANS) / SPREAD) ** 2) * SHARES
    exact = likelihood[:, 1] / likelihood.sum(axis=1)
    np.testing.assert_allclose(drawn, exact, atol=0.06)
    np.testing.assert_allclose(out[:, 1:].numpy() + SHARES, np.eye(2)[level.ravel()], atol=1e-6)


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
