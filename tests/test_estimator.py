import copy
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

import diffputer
from diffputer import DiffPuter, MultipleImputation
from diffputer import diffusion, em, training
from diffputer.diffusion import training_noise
from diffputer.training import held_out_rows
from diffputer.history import History
from diffputer.settings import resolve


def test_fit_transform_fills_every_missing_cell_and_keeps_observed_ones(mixed_df, tiny):
    out = DiffPuter(**tiny).fit_transform(mixed_df)
    assert not out.isna().any().any()
    assert out.dtypes.equals(mixed_df.dtypes)
    assert out.index.equals(mixed_df.index)
    observed = mixed_df.notna()
    for name in mixed_df.columns:
        pd.testing.assert_series_equal(out[name][observed[name]], mixed_df[name][observed[name]])


def test_same_random_state_gives_identical_output(mixed_df, tiny):
    a = DiffPuter(**tiny).fit_transform(mixed_df)
    b = DiffPuter(**tiny).fit_transform(mixed_df)
    pd.testing.assert_frame_equal(a, b)
    tiny["random_state"] = 1
    c = DiffPuter(**tiny).fit_transform(mixed_df)
    assert not a["x"].equals(c["x"])


def test_transform_imputes_new_rows_without_refitting(mixed_df, tiny):
    model = DiffPuter(**tiny).fit(mixed_df.iloc[:40])
    weights = {k: v.clone() for k, v in model.denoiser_.state_dict().items()}
    new = mixed_df.iloc[40:]
    out = model.transform(new)
    assert out.index.equals(new.index)
    assert not out.isna().any().any()
    for k, v in model.denoiser_.state_dict().items():
        assert v.equal(weights[k])
    pd.testing.assert_frame_equal(out, model.transform(new))  # seeded: repeatable


def test_numpy_in_numpy_out(tiny):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    X[rng.random(X.shape) < 0.2] = np.nan
    out = DiffPuter(**tiny).fit_transform(X)
    assert isinstance(out, np.ndarray) and out.shape == X.shape
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[~np.isnan(X)], X[~np.isnan(X)])


def test_get_params_set_params_and_clone_follow_sklearn(tiny):
    model = DiffPuter(**tiny)
    params = model.get_params()
    assert params["width"] == 32 and params["preset"] == "fast" and params["device"] == "auto"
    model.set_params(max_iter=5)
    assert model.max_iter == 5
    assert clone(model).get_params() == model.get_params()


def test_unset_settings_come_from_the_preset(tiny):
    model = DiffPuter(preset="paper", max_iter=2)
    settings = model._settings()
    assert settings.width == 1024 and settings.resample == 20 and settings.max_iter == 2


def test_transform_before_fit_raises_not_fitted(mixed_df):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DiffPuter().transform(mixed_df)


def test_impute_returns_m_distinct_single_draws(mixed_df, tiny):
    imp = diffputer.impute(mixed_df, m=3, **tiny)
    assert isinstance(imp, MultipleImputation) and imp.m == 3
    first, second = imp.complete(1), imp.complete(2)
    missing_x = mixed_df["x"].isna()
    assert not np.allclose(first["x"][missing_x], second["x"][missing_x])
    assert imp.where.equals(mixed_df.isna())
    pd.testing.assert_frame_equal(imp.complete(0), mixed_df)


def test_history_records_losses_times_changes_and_chains(mixed_df, tiny):
    imp = diffputer.impute(mixed_df, m=2, proper=False, **tiny)
    history = imp.history
    assert history.n_iter == tiny["max_iter"]
    assert len(history.losses) == tiny["max_iter"] and all(len(l) > 0 for l in history.losses)
    assert len(history.change) == tiny["max_iter"] and all(c > 0 for c in history.change)
    assert imp.chain_mean.shape == (mixed_df.shape[1], tiny["max_iter"], 2)
    assert imp.chain_var.shape == imp.chain_mean.shape
    # Chain means are the means of the imputed cells of each draw; without proper draws the
    # imputations are the last E-step's draws.
    x_draw1 = imp.complete(1)["x"][mixed_df["x"].isna()]
    assert imp.chain_mean[0, -1, 0] == pytest.approx(x_draw1.mean(), rel=1e-5)


def test_model_impute_draws_from_a_fitted_model(mixed_df, tiny):
    model = DiffPuter(**tiny).fit(mixed_df)
    imp = model.impute(mixed_df.iloc[:20], m=2)
    assert imp.m == 2 and imp.data.shape == (20, mixed_df.shape[1])
    assert not imp.complete(2).isna().any().any()


def test_callback_sees_every_epoch_and_iteration(mixed_df, tiny):
    calls = []
    DiffPuter(callback=lambda h: calls.append((len(h.losses), h.n_iter)),
              **{**tiny, "epoch_rows": 0}).fit(mixed_df)
    iterations_done = [n for _, n in calls]
    assert iterations_done[-1] == tiny["max_iter"]
    assert sorted(iterations_done) == iterations_done
    assert len(calls) > tiny["max_iter"] * 2


def test_an_epoch_passes_over_a_small_table_until_it_has_seen_epoch_rows(mixed_df, tiny):
    """60 rows (one completed copy), one batch a pass: 40 steps are 40 one-pass epochs, 4
    epochs of 10 passes (600 rows) or 3 of 15 (900 rows, the last one cut short); every
    epoch's loss is recorded."""
    for epoch_rows, epochs in ((0, 40), (600, 4), (900, 3)):
        model = DiffPuter(**{**tiny, "epoch_rows": epoch_rows, "max_iter": 1,
                             "m_step_draws": 1}).fit(mixed_df)
        assert len(model.history_.losses[0]) == epochs


def test_held_out_rows_are_kept_out_of_the_training():
    assert held_out_rows(153, 0.1) == 15
    assert held_out_rows(1_000_000, 0.1) == 4096  # at most MAX_HELD_OUT
    assert held_out_rows(60, 0.0) == 0
    assert held_out_rows(12, 0.3) == 3  # 9 rows left to train on
    assert held_out_rows(10, 0.3) == 0  # 7 would be too few


def test_an_m_step_trains_on_the_rows_it_does_not_hold_out(mixed_df, tiny):
    """Batches of 10: 60 rows (one completed copy) take 6 steps an epoch (40 steps: 7
    epochs), the 48 left when a fifth is held out take 5 (8 epochs). The history records the
    held-out rows' loss of every epoch, and nothing when no row is held out."""
    for fraction, epochs, held_out_epochs in ((0.0, 7, 0), (0.2, 8, 8)):
        model = DiffPuter(**{**tiny, "epoch_rows": 0, "batch_size": 10, "max_iter": 1,
                             "m_step_draws": 1, "validation_fraction": fraction}).fit(mixed_df)
        assert len(model.history_.losses[0]) == epochs
        assert len(model.history_.held_out_losses[0]) == held_out_epochs
    assert all(np.isfinite(model.history_.held_out_losses[0]))


def test_an_m_step_keeps_the_last_weights_within_a_standard_error_of_its_lowest_held_out_loss(
        mixed_df, tiny, monkeypatch):
    """Scripted held-out losses (mean, standard error) of 8 epochs: the kept epoch is the
    last one within one error of the lowest so far (the 8th, not the lowest, the 7th), the
    history says so, and the fitted denoiser has that epoch's weights."""
    scripted = iter([(1.0, .05), (0.8, .05), (0.84, .05), (0.9, .05), (0.86, .1), (0.95, .05),
                     (0.7, .01), (0.705, .01)])
    scored = []

    def recording_loss(self, denoiser):
        scored.append(copy.deepcopy(denoiser.state_dict()))
        return np.zeros(3)

    monkeypatch.setattr(training.HeldOut, "loss", recording_loss)
    monkeypatch.setattr(training, "mean_and_error", lambda *sums: next(scripted))
    model = DiffPuter(**{**tiny, "epoch_rows": 0, "batch_size": 10, "max_iter": 1,
                         "m_step_draws": 1, "validation_fraction": 0.2}).fit(mixed_df)
    assert model.history_.held_out_losses[0] == [1.0, 0.8, 0.84, 0.9, 0.86, 0.95, 0.7, 0.705]
    assert model.history_.kept_epochs == [8] and model.history_.kept_epoch() == 8
    fitted = model.denoiser_.state_dict()
    assert all(torch.equal(fitted[k], scored[7][k]) for k in fitted)
    assert not all(torch.equal(fitted[k], scored[6][k]) for k in fitted)


def test_held_out_loss_is_the_mean_of_its_noisy_copies_with_its_standard_error():
    losses = np.array([0.5, 1.5, 1.0, 3.0])
    mean, error = training.mean_and_error(losses.sum(), (losses ** 2).sum(), len(losses))
    assert mean == pytest.approx(1.5)
    assert error == pytest.approx(losses.std() / 2)


def test_training_noise_levels_follow_the_settings():
    x = torch.zeros(20_000, 3)
    sigma, noise = training_noise(x, torch.Generator().manual_seed(0), log_mean=-2.5,
                                  log_std=0.5)
    assert torch.log(sigma).mean().item() == pytest.approx(-2.5, abs=0.02)
    assert torch.log(sigma).std().item() == pytest.approx(0.5, abs=0.02)
    assert (noise / sigma).std().item() == pytest.approx(1.0, abs=0.02)


def test_m_steps_train_and_hold_out_at_the_chosen_noise_levels(mixed_df, tiny, monkeypatch):
    levels, noise = [], training.training_noise

    def recording_noise(x, generator, log_mean, log_std):
        levels.append((log_mean, log_std))
        return noise(x, generator, log_mean, log_std)

    monkeypatch.setattr(diffusion, "training_noise", recording_noise)
    monkeypatch.setattr(training, "training_noise", recording_noise)
    DiffPuter(**{**tiny, "max_iter": 2, "validation_fraction": 0.2, "noise_log_mean": -2.5,
                 "noise_log_std": 0.7}).fit(mixed_df)
    assert len(levels) > 2 and set(levels) == {(-2.5, 0.7)}


def test_every_m_step_of_a_fit_holds_out_the_same_rows_and_trains_on_none_of_them(
        mixed_df, tiny, monkeypatch):
    """With warm starts the network has learnt every row that an earlier M-step trained on:
    a held-out row must be one that no M-step of the fit ever trains on, in any of the
    completed copies of the table that it trains on."""
    held_per_step, trained_rows = [], set()
    train, loss = em.train_denoiser, training.edm_loss

    def recording_train(denoiser, X, settings, generator, on_epoch=None, group=em.LOCAL,
                        held_out=None, on_start=None):
        held_per_step.append(held_out)
        return train(denoiser, X, settings, generator, on_epoch, group, held_out, on_start)

    def recording_loss(model, X, *args):
        trained_rows.update(X[:, 0].tolist())
        return loss(model, X, *args)

    monkeypatch.setattr(em, "train_denoiser", recording_train)
    monkeypatch.setattr(training, "edm_loss", recording_loss)
    monkeypatch.setattr(em, "holds_rows_out", lambda history: True)
    model = DiffPuter(**{**tiny, "max_iter": 3, "warm_start": True,
                         "validation_fraction": 0.2}).fit(mixed_df)
    # 40 steps of 1,024 rows pass over the 60 rows 683 times (under MANY_PASSES): one
    # copy before the last M-step, and in it every copy the preset asks for.
    copies = resolve("fast").m_step_draws
    assert [len(held) for held in held_per_step] == [held_out_rows(60, 0.2) * k
                                                     for k in (1, 1, copies)]
    per_copy = held_per_step[-1].reshape(copies, -1)
    assert all(np.array_equal(held, per_copy[0]) for held in held_per_step[:-1])
    assert all(np.array_equal(rows, per_copy[0] + 60 * k) for k, rows in enumerate(per_copy))
    X, M = model.encoder_.encode(mixed_df)  # rows told apart by their observed first entry
    held = np.isin(np.arange(60), per_copy[0])
    held_values = set(X[held & ~M[:, 0], 0].tolist())
    assert held_values and not held_values & trained_rows
    assert set(X[~held & ~M[:, 0], 0].tolist()) <= trained_rows


def test_m_steps_hold_rows_out_until_one_keeps_its_last_epoch():
    history = History(variables=["x"])
    assert em.holds_rows_out(history)
    history.losses, history.held_out_losses, history.kept_epochs = [[3, 2, 1]], [[9, 8, 9]], [2]
    assert em.holds_rows_out(history)  # an early epoch kept: rows learnt by heart
    history.losses.append([2, 1])
    history.held_out_losses.append([8, 7])
    history.kept_epochs.append(2)
    assert not em.holds_rows_out(history)


@pytest.mark.parametrize("falling, held_out_steps", [(True, 1), (False, 3)])
def test_a_fit_trains_on_every_row_after_an_m_step_that_kept_its_last_epoch(
        mixed_df, tiny, monkeypatch, falling, held_out_steps):
    """Held-out losses that fall at every epoch: the first M-step keeps its last epoch, and
    the next two train on every row; losses that rise: every M-step holds the rows out."""
    held_per_step, train, epochs = [], em.train_denoiser, itertools.count(1)

    def recording_train(denoiser, X, settings, generator, on_epoch=None, group=em.LOCAL,
                        held_out=None, on_start=None):
        held_per_step.append(held_out)
        return train(denoiser, X, settings, generator, on_epoch, group, held_out, on_start)

    def scripted(*sums):
        epoch = next(epochs)
        return (1 / epoch if falling else float(epoch)), 0.0

    monkeypatch.setattr(em, "train_denoiser", recording_train)
    monkeypatch.setattr(training, "mean_and_error", scripted)
    model = DiffPuter(**{**tiny, "max_iter": 3, "validation_fraction": 0.2, "epoch_rows": 0,
                         "batch_size": 10, "m_step_draws": 1}).fit(mixed_df)  # 8 epochs
    assert sum(held is not None for held in held_per_step) == held_out_steps
    assert all(held is not None for held in held_per_step[:held_out_steps])
    assert [bool(scores) for scores in model.history_.held_out_losses] == [
        k < held_out_steps for k in range(3)]


def test_progress_bars_count_the_epochs_each_m_step_runs(mixed_df, tiny, monkeypatch):
    """48 rows trained in batches of 10 (12 held out): 5 steps an epoch, 8 epochs to reach
    ``max_steps``; 60 rows once the held-out loss kept falling: 6 steps, 7 epochs."""
    totals, epochs = [], itertools.count(1)

    class RecordingBars:
        def __init__(self, n_iter):
            self.ran = []

        def iteration(self, k, epochs):
            totals.append(epochs)
            self.ran.append(0)

        def epoch(self, loss):
            self.ran[-1] += 1

        def close(self):
            totals.append(self.ran)

    monkeypatch.setattr(diffputer.estimator, "ProgressBars", RecordingBars)
    monkeypatch.setattr(training, "mean_and_error", lambda *sums: (1 / next(epochs), 0.0))
    DiffPuter(**{**tiny, "max_iter": 3, "validation_fraction": 0.2, "epoch_rows": 0,
                 "batch_size": 10, "m_step_draws": 1, "progress": True}).fit(mixed_df)
    assert totals == [8, 7, 7, [8, 7, 7]]


def test_weight_average_moves_half_way_to_new_weights_in_one_halflife():
    """Past its first updates the average has a half-life of ``halflife`` updates; in its
    first ones it follows the weights closely (it soon forgets the initial weights)."""
    from diffputer.training import WeightAverage

    layer = torch.nn.Linear(3, 2)
    fresh, settled = WeightAverage(layer, halflife=50), WeightAverage(layer, halflife=50)
    for _ in range(1000):
        settled.update(layer)
    start = torch.nn.utils.parameters_to_vector(layer.parameters()).detach().clone()
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(1.0)
    for _ in range(50):
        fresh.update(layer)
        settled.update(layer)
    vector = torch.nn.utils.parameters_to_vector
    torch.testing.assert_close(vector(settled.model.parameters()) - start,
                               torch.full_like(start, 0.5), atol=1e-4, rtol=0)
    assert (vector(fresh.model.parameters()) - start).min() > 0.99


def test_an_m_step_ends_with_the_average_of_its_weights(mixed_df, tiny, monkeypatch):
    """With ema_halflife the denoiser ends with the averaged weights, which differ from the
    last ones; without it, with the last ones."""
    finals = {}
    original = training.WeightAverage.update

    def recording_update(self, module):
        original(self, module)
        finals["last"] = torch.nn.utils.parameters_to_vector(module.parameters()).detach().clone()
        finals["average"] = torch.nn.utils.parameters_to_vector(
            self.model.parameters()).detach().clone()

    monkeypatch.setattr(training.WeightAverage, "update", recording_update)
    model = DiffPuter(**{**tiny, "max_iter": 1, "ema_halflife": 10,
                         "validation_fraction": 0.0}).fit(mixed_df)
    weights = torch.nn.utils.parameters_to_vector(model.denoiser_.parameters())
    torch.testing.assert_close(weights, finals["average"])
    assert (weights - finals["last"]).abs().max() > 1e-4
    finals.clear()
    DiffPuter(**{**tiny, "max_iter": 1, "ema_halflife": 0}).fit(mixed_df)
    assert not finals


def test_progress_false_prints_nothing(mixed_df, tiny, capsys):
    DiffPuter(**tiny).fit(mixed_df)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bars_go_to_stderr(mixed_df, tiny, capsys):
    tiny["progress"] = True
    DiffPuter(**tiny).fit(mixed_df)
    assert "EM" in capsys.readouterr().err


def test_proper_draws_leave_the_fitted_model_unchanged_and_are_seeded(mixed_df, tiny):
    model = DiffPuter(**tiny).fit(mixed_df)
    weights = {k: v.clone() for k, v in model.denoiser_.state_dict().items()}
    first = model.impute(mixed_df, m=2)
    for k, v in model.denoiser_.state_dict().items():
        assert v.equal(weights[k])
    again = model.impute(mixed_df, m=2)
    pd.testing.assert_frame_equal(first.complete("long"), again.complete("long"))


def test_proper_and_fixed_draws_differ(mixed_df, tiny):
    proper = diffputer.impute(mixed_df, m=2, **tiny)
    fixed = diffputer.impute(mixed_df, m=2, proper=False, **tiny)
    missing = mixed_df["x"].isna()
    assert not np.allclose(proper.complete(1)["x"][missing], fixed.complete(1)["x"][missing])
    observed = ~missing
    pd.testing.assert_series_equal(proper.complete(2)["x"][observed], mixed_df["x"][observed])


def test_fast_preset_sizes_the_network_to_the_table(mixed_df, tiny):
    from diffputer.settings import auto_width

    tiny.pop("width")
    model = DiffPuter(**tiny).fit(mixed_df)
    assert model.settings_.width == auto_width(model.encoder_.n_features)
    assert model.denoiser_.net.width == model.settings_.width


def test_fast_preset_trains_longer_on_wide_tables_unless_that_repeats_their_rows():
    fast = resolve("fast")
    assert fast.max_steps == "auto" and fast.batch_size == 1024
    budgets = [fast.for_table(d, 20_000).max_steps for d in (5, 16, 24, 32, 200)]
    assert budgets == [3000, 3000, 6750, 12_000, 12_000]
    # At most 1,000 passes over the rows, never fewer than 3,000 steps.
    assert [fast.for_table(32, n).max_steps for n in (2000, 5120)] == [3000, 5000]
    assert resolve("fast", max_steps=500).for_table(40, 20_000).max_steps == 500
    assert resolve("paper").for_table(40, 20_000).max_steps is None


def test_a_fit_resolves_the_step_budget_for_its_table(mixed_df, tiny):
    model = DiffPuter(**{**tiny, "max_steps": "auto", "max_iter": 1, "patience": 1}).fit(mixed_df)
    assert model.settings_.max_steps == 3000


def test_fast_preset_runs_more_em_iterations_on_large_tables():
    fast = resolve("fast")
    assert fast.max_iter == "auto"
    # 3,000 steps of 1,024 rows: 3,072 rows are the smallest table passed over 1,000 times.
    assert [fast.for_table(14, n).max_iter for n in (1030, 3071, 3072, 20_000)] == [3, 3, 5, 5]
    assert fast.for_table(32, 20_000).max_iter == 5  # 12,000 steps, 614 passes
    assert resolve("fast", max_iter=2).for_table(14, 20_000).max_iter == 2
    assert resolve("paper").for_table(14, 20_000).max_iter == 10


def test_a_fit_resolves_its_em_iterations_for_its_table(mixed_df, tiny):
    history = DiffPuter(**{**tiny, "max_iter": "auto", "batch_size": 2048}).fit(mixed_df).history_
    assert history.n_iter == 3  # 40 steps of 2,048 rows pass over 60 rows 1,365 times
    history = DiffPuter(**{**tiny, "max_iter": "auto"}).fit(mixed_df).history_
    assert history.n_iter == 5  # 40 steps of 1,024 rows: 683 passes


def test_copies_are_drawn_for_every_m_step_of_a_small_table_and_the_last_of_a_large_one():
    settings = resolve("fast", m_step_draws=5, max_steps=3000)  # batches of 1,024 rows
    assert em.m_step_copies(settings, 1000, 20) == 5
    assert em.m_step_copies(settings, 1000, 20, last=False) == 5  # 3,072 passes over the rows
    assert em.m_step_copies(settings, 20_000, 20) == 5
    assert em.m_step_copies(settings, 20_000, 20, last=False) == 1  # 154 passes
    assert em.m_step_copies(settings, 2_000_000, 20) == 1  # 4e7 entries a copy
    assert em.m_step_copies(settings, 1_000_000, 20) == 3  # 2**26 // 2e7
    assert em.m_step_copies(resolve("fast", m_step_fill="mean"), 1000, 20) == 1
    assert em.m_step_copies(resolve("paper"), 1000, 20) == 1


@pytest.mark.parametrize("fill", ["mean", "draw"])
def test_m_step_trains_on_the_chosen_completion(mixed_df, tiny, fill, monkeypatch):
    tables = []
    train = em.train_denoiser

    def recording_train(denoiser, X, *args, **kwargs):
        tables.append(X.numpy().copy())
        return train(denoiser, X, *args, **kwargs)

    monkeypatch.setattr(em, "train_denoiser", recording_train)
    model = DiffPuter(m_step_fill=fill, **tiny)
    completed = model.fit_transform(mixed_df)
    assert len(tables) == tiny["max_iter"]
    _, M = model.encoder_.encode(mixed_df)
    copies = resolve("fast").m_step_draws if fill == "draw" else 1
    second = tables[1].reshape(copies, *M.shape)  # completed by the first E-step
    vertices = []
    for table in second:
        for block in em.categorical_blocks(model.encoder_):
            one_hot = table[M[:, block.cols.start]][:, block.cols] + block.shares
            vertices.append(np.allclose(np.sort(one_hot, axis=1),
                                        np.eye(len(block.shares))[-1], atol=1e-6))
    # One draw completes a table with a level in every cell; an average of draws does not.
    assert all(vertices) == (fill == "draw")
    # The copies share the observed cells, and each has its own draws of the missing ones.
    assert all(np.array_equal(table[~M], second[0][~M]) for table in second)
    assert all(not np.array_equal(table[M], second[0][M]) for table in second[1:])
    # Either way fit_transform answers with the posterior mean and keeps the observed cells.
    kept = mixed_df["x"].notna()
    assert (completed.loc[kept, "x"] == mixed_df.loc[kept, "x"]).all()
    assert not completed.isna().any().any()


def test_bad_m_step_fill_names_the_setting(mixed_df, tiny):
    with pytest.raises(ValueError, match="m_step_fill"):
        DiffPuter(m_step_fill="median", **tiny).fit(mixed_df)


@pytest.fixture
def e_step_sizes(monkeypatch):
    """The ``n_samples`` of every E-step the EM module runs, in order."""
    from diffputer import em

    sizes, e_step = [], em.e_step

    def recording_e_step(*args, n_samples, **kwargs):
        sizes.append(n_samples)
        return e_step(*args, n_samples=n_samples, **kwargs)

    monkeypatch.setattr(em, "e_step", recording_e_step)
    return sizes


@pytest.mark.parametrize("fill, last_draws", [("draw", 3), ("mean", 8)])
def test_impute_draws_the_posterior_mean_only_when_proper_draws_need_it(mixed_df, tiny, fill,
                                                                        last_draws, e_step_sizes):
    # one round: no E-step after the EM loop's (see the next test)
    result = diffputer.impute(mixed_df, m=3, m_step_fill=fill,
                              **{**tiny, "n_samples": 8, "proper_rounds": 1})
    assert e_step_sizes[-1] == last_draws  # the last E-step of the EM loop
    assert result.m == 3


@pytest.mark.parametrize("fill, refill_draws", [("draw", 1), ("mean", 2)])
def test_each_proper_round_after_the_first_fills_the_resample_anew(mixed_df, tiny, fill,
                                                                   refill_draws, e_step_sizes):
    options = {**tiny, "m_step_fill": fill, "proper_rounds": 3}
    model = DiffPuter(**options).fit(mixed_df)
    e_step_sizes.clear()
    imp = model.impute(mixed_df, m=2)
    # one draw to complete the rows the categories are calibrated on, the fitted model's m = 2
    # draws (n_samples = 2 of them with fill "mean"), then per proper draw two refills of its
    # resample (before rounds 2 and 3)
    assert e_step_sizes == [1, 2] + [refill_draws] * 4
    one_round = DiffPuter(**{**options, "proper_rounds": 1}).fit(mixed_df).impute(mixed_df, m=2)
    missing = mixed_df["x"].isna()
    assert not np.allclose(imp.complete(1)["x"][missing], one_round.complete(1)["x"][missing])
    for frame in (imp.complete(1), imp.complete(2)):
        pd.testing.assert_series_equal(frame["x"][~missing], mixed_df["x"][~missing])


def test_recentred_weights_keep_their_spread_around_the_fitted_ones():
    from diffputer.proper import recentred

    gen = torch.Generator().manual_seed(0)
    fitted = torch.randn(50, generator=gen)
    drift = torch.randn(50, generator=gen)
    tuned = [fitted + drift + 0.1 * torch.randn(50, generator=gen) for _ in range(4)]
    centred = recentred(fitted, tuned)
    torch.testing.assert_close(torch.stack(centred).mean(dim=0), fitted)
    for a, b, c, d in zip(tuned, tuned[1:], centred, centred[1:]):
        torch.testing.assert_close(a - b, c - d)


def test_proper_draws_come_from_refitted_models_centred_on_the_fitted_one(mixed_df, tiny,
                                                                         monkeypatch):
    from diffputer import em

    model = DiffPuter(**tiny).fit(mixed_df)
    fitted = torch.nn.utils.parameters_to_vector(model.denoiser_.parameters()).detach()
    used, draw = [], em.draw

    def recording_draw(denoiser, *args, **kwargs):
        used.append(torch.nn.utils.parameters_to_vector(denoiser.parameters()).detach().clone())
        return draw(denoiser, *args, **kwargs)

    monkeypatch.setattr(em, "draw", recording_draw)
    model.impute(mixed_df, m=3)
    proper = used[-3:]  # after the draws of the fitted model that the refits start from
    assert all(not w.equal(fitted) for w in proper)
    assert not proper[0].equal(proper[1])
    torch.testing.assert_close(torch.stack(proper).mean(dim=0), fitted, rtol=0, atol=1e-6)


def test_bootstrap_draws_come_from_em_fits_to_resamples_of_the_rows(mixed_df, tiny, monkeypatch):
    model = DiffPuter(**tiny, proper="bootstrap").fit(mixed_df)
    weights = {k: v.clone() for k, v in model.denoiser_.state_dict().items()}
    fits, run_em = [], em.run_em

    def recording_run_em(X, M, encoder, settings, **kwargs):
        result = run_em(X, M, encoder, settings, **kwargs)
        fitted = torch.nn.utils.parameters_to_vector(result.denoiser.parameters()).detach()
        fits.append((X.copy(), settings, fitted))
        return result

    monkeypatch.setattr(em, "run_em", recording_run_em)
    first = model.impute(mixed_df, m=3)
    X_enc, _ = model.encoder_.encode(mixed_df)
    rows = {row.tobytes() for row in X_enc}
    assert len(fits) == 3
    for X_boot, settings, _ in fits:
        assert settings.validation_fraction == 0.0
        assert len(X_boot) == len(X_enc) and {row.tobytes() for row in X_boot} <= rows
        assert len(np.unique(X_boot, axis=0)) < len(X_enc)  # drawn with replacement
    assert not np.array_equal(fits[0][0], fits[1][0])
    assert not fits[0][2].equal(fits[1][2])
    for k, v in model.denoiser_.state_dict().items():
        assert v.equal(weights[k])
    missing = mixed_df["x"].isna()
    draws = [first.complete(i)["x"] for i in (1, 2, 3)]
    assert not np.allclose(draws[0][missing], draws[1][missing])
    for draw in draws:
        pd.testing.assert_series_equal(draw[~missing], mixed_df["x"][~missing])
    again = model.impute(mixed_df, m=3)
    pd.testing.assert_frame_equal(first.complete("long"), again.complete("long"))


def test_one_call_bootstrap_imputation_fits_once_more_per_draw(mixed_df, tiny, monkeypatch):
    calls, run_em = [], em.run_em
    monkeypatch.setattr(em, "run_em", lambda *a, **k: calls.append(1) or run_em(*a, **k))
    imp = diffputer.impute(mixed_df, m=2, proper="bootstrap", **tiny)
    assert len(calls) == 2 and imp.m == 2
    assert not imp.complete(1).isna().any().any()


@pytest.mark.parametrize("value, scheme", [(True, "refit"), ("refit", "refit"),
                                           ("bootstrap", "bootstrap"), (False, False)])
def test_proper_names_its_scheme(value, scheme):
    assert resolve("fast", proper=value).proper == scheme


def test_unknown_proper_scheme_is_refused_by_name():
    with pytest.raises(ValueError, match="proper must be True, False or one of"):
        resolve("fast", proper="bootstrapped")


def test_proper_draws_calibrate_their_categories_on_the_original_rows(mixed_df, tiny,
                                                                      monkeypatch):
    from diffputer import em

    options = {**tiny, "category_draws": 4}
    model = DiffPuter(**options).fit(mixed_df)
    seen, calibrated_blocks = [], em.calibrated_blocks

    def recording(denoiser, X, M, *args, **kwargs):
        seen.append((X.copy(), M.copy()))
        return calibrated_blocks(denoiser, X, M, *args, **kwargs)

    monkeypatch.setattr(em, "calibrated_blocks", recording)
    model.impute(mixed_df, m=3)
    incomplete = mixed_df.isna().any(axis=1).to_numpy()
    assert len(seen) >= 3
    for X, M in seen[-3:]:  # one calibration per proper draw, the last ones
        # the table's own rows in their order, not a bootstrap resample of them
        assert len(X) == len(mixed_df)
        np.testing.assert_array_equal(M.any(axis=1), incomplete)


def test_new_rows_are_completed_before_their_categories_are_calibrated(mixed_df, tiny,
                                                                       monkeypatch):
    """The calibration reads the rest of each row, so a fitted model first fills the missing
    cells of new rows with a draw, not with the encoder's fill (the observed mean)."""
    from dataclasses import replace

    from diffputer import em
    from diffputer.em import calibration_table, make_generator
    from diffputer.encoding import NUMERIC

    model = DiffPuter(**{**tiny, "category_draws": 4}).fit(mixed_df)
    seen, calibrated_blocks = [], em.calibrated_blocks

    def recording(denoiser, X, M, *args, **kwargs):
        seen.append((X.copy(), M.copy()))
        return calibrated_blocks(denoiser, X, M, *args, **kwargs)

    monkeypatch.setattr(em, "calibrated_blocks", recording)
    model.transform(mixed_df)
    filled, missing = model.encoder_.encode(mixed_df)
    (X, M), = seen
    np.testing.assert_array_equal(M, missing)  # every row (fewer than the sample), in order
    np.testing.assert_allclose(X[~M], filled[~M], atol=1e-6)  # the one-hot blocks in float32
    for codec, cols in model.encoder_.blocks():
        if codec.kind == NUMERIC:
            assert M[:, cols].any()
            assert not np.isclose(X[:, cols][M[:, cols]], filled[:, cols][M[:, cols]]).any()
    without = replace(model.settings_, category_draws=0)
    complete_categories = mixed_df.fillna({"flag": False, "colour": "red", "grade": "low",
                                           "city": "Lima"})
    for settings, table in ((without, mixed_df), (model.settings_, complete_categories)):
        X, M = model.encoder_.encode(table)
        same = calibration_table(model.denoiser_, X, M, model.encoder_, settings,
                                 make_generator(0, "cpu"))
        assert same[0] is X and same[1] is M  # nothing to calibrate for
