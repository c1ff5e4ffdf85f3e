"""The explorer without a browser: its tables, figures, tabs, selectors and live callback."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import diffputer
from diffputer_widgets import (ImputationExplorer, missing_pattern, nullity_correlation,
                               plot_convergence, plot_imputations, plot_missingness,
                               plot_nullity_correlation, plot_pattern)
from diffputer_widgets.explorer import TAB_TITLES

from . import rmice
from .conftest import TINY


@pytest.fixture(scope="module")
def airquality():
    return diffputer.load_airquality()


@pytest.fixture(scope="module")
def result(airquality):
    return diffputer.impute(airquality, m=3, **TINY)


def test_missing_pattern_equals_mice_md_pattern(airquality):
    r_function, to_r = rmice.r_function, rmice.to_r
    ours = missing_pattern(airquality)
    in_r = to_r(airquality)
    theirs = np.asarray(r_function("function(d) mice::md.pattern(d, plot = FALSE)")(in_r))
    counts = r_function("function(d) as.integer(rownames(mice::md.pattern(d, plot = FALSE)))")(
        in_r)
    names = list(r_function("function(d) colnames(mice::md.pattern(d, plot = FALSE))")(in_r))
    variables = names[:-1]
    r_patterns = {(tuple(row[:-1].astype(int)), int(n)) for row, n in zip(theirs[:-1], counts[:-1])}
    ours_counts = ours.index.get_level_values("count")[:-1]
    py_patterns = {(tuple(row[variables].astype(int)), int(n))
                   for (_, row), n in zip(ours.iloc[:-1].iterrows(), ours_counts)}
    assert rmice.MICE_VERSION == "3.15.0"
    assert py_patterns == r_patterns
    np.testing.assert_array_equal(ours.iloc[-1][variables].to_numpy(), theirs[-1, :-1])
    assert ours.index[-1] == ("total", theirs[-1, -1])
    assert list(ours.index.get_level_values("n_missing")[:-1]) == list(
        (1 - ours.iloc[:-1]).sum(axis=1))
    assert list(ours_counts) == sorted(ours_counts, reverse=True)


def test_missing_pattern_keeps_variables_named_like_its_counts():
    df = pd.DataFrame({"count": [1, None, 3], "n_missing": [None, None, 2.0]})
    table = missing_pattern(df)
    assert list(table.columns) == ["count", "n_missing"]
    # equal counts: fewest missing first
    assert table.index.tolist() == [(1, 0), (1, 1), (1, 2), ("total", 3)]
    assert table.loc[(1, 2)].tolist() == [0, 0]
    assert table.iloc[-1].tolist() == [1, 2]


def test_nullity_correlation_uses_only_partly_missing_columns():
    df = pd.DataFrame({"a": [1, None, 3, None], "b": [None, 2, 3, None], "c": [1, 2, 3, 4],
                       "d": [None] * 4})
    corr = nullity_correlation(df)
    assert list(corr.columns) == ["a", "b"]
    assert corr.loc["a", "b"] == pytest.approx(np.corrcoef([0, 1, 0, 1], [1, 0, 0, 1])[0, 1])


def test_plot_functions_return_figures(airquality, result):
    for fig in (plot_missingness(airquality), plot_pattern(airquality),
                plot_nullity_correlation(airquality), plot_convergence(result.history, "Ozone"),
                plot_imputations(result, "Ozone")):
        assert isinstance(fig, Figure)
        assert fig.axes


def test_convergence_plot_draws_the_held_out_loss_dashed(mixed_df, tiny):
    imp = diffputer.impute(mixed_df, m=2, **{**tiny, "validation_fraction": 0.2})
    held_out = imp.history.held_out_losses
    assert held_out[0]  # the first M-step holds rows out; later ones may train on every row
    lines = plot_convergence(imp.history).axes[0].lines
    assert [line.get_linestyle() for line in lines] == [
        style for scores in held_out for style in (["-", "--"] if scores else ["-"])]
    assert [len(line.get_xdata()) for line in lines if line.get_linestyle() == "--"] == [
        len(scores) for scores in held_out if scores]


def test_imputation_plot_draws_one_line_per_draw(result):
    fig = plot_imputations(result, "Ozone")
    assert len(fig.axes[0].lines) == 1 + result.m


def test_categorical_imputation_plot_draws_level_shares(mixed_df, tiny):
    imp = diffputer.impute(mixed_df, m=2, **tiny)
    fig = plot_imputations(imp, "colour")
    bars = fig.axes[0].patches
    assert len(bars) == 4 * 3  # 4 levels x (observed + 2 draws)
    observed = [bar.get_height() for bar in bars[:4]]
    assert sum(observed) == pytest.approx(1)


def test_explorer_of_a_table_has_four_tabs_and_says_what_is_missing(airquality):
    explorer = diffputer.explore(airquality)
    assert isinstance(explorer, ImputationExplorer)
    assert tuple(explorer.tabs.titles) == TAB_TITLES
    assert len(explorer.tabs.children) == 4
    assert explorer.renders["Missingness"] == 1
    assert len(explorer.missingness.children) == 4  # note + three figures
    assert "No fit yet" in explorer.convergence_status.value
    assert "No imputations" in explorer.imputations.children[0].value


@pytest.mark.parametrize("tab, selector, image", [
    ("Imputations", "imputed_variable", "imputations_image"),
    ("Convergence", "convergence_variable", "convergence_image"),
])
def test_variable_selector_redraws_its_plot(result, tab, selector, image):
    explorer = diffputer.explore(result)
    dropdown = getattr(explorer, selector)
    assert list(dropdown.options) == ["Ozone", "Solar.R"]
    before, renders = getattr(explorer, image).value, explorer.renders[tab]
    dropdown.value = "Solar.R"
    assert getattr(explorer, image).value != before
    assert explorer.renders[tab] == renders + 1


def test_live_fit_updates_the_convergence_tab(airquality, tiny):
    explorer = diffputer.explore(airquality, refresh_seconds=0)
    seen = []
    original = explorer._render_convergence
    explorer._render_convergence = lambda: (original(), seen.append(len(explorer.history.losses)))
    result = explorer.fit(m=2, **tiny)
    assert explorer.tabs.selected_index == TAB_TITLES.index("Convergence")
    assert seen[0] == 1 and max(seen) == tiny["max_iter"]  # drawn during the first M-step
    assert explorer.result is result
    assert "2 EM iterations done" in explorer.convergence_status.value
    assert explorer.renders["Imputations"] >= 1


def test_convergence_status_names_the_epoch_whose_weights_were_kept(mixed_df, tiny):
    explorer = diffputer.explore(mixed_df)
    explorer.fit(m=2, **{**tiny, "validation_fraction": 0.2, "max_iter": 1})
    held_out = explorer.history.held_out_losses[-1]
    kept = explorer.history.kept_epochs[-1]
    assert 1 <= kept <= len(held_out)
    assert (f"kept the weights of epoch {kept} of {len(held_out)} (held-out loss within one "
            "standard error of its lowest)" in explorer.convergence_status.value)


def test_kept_epoch_is_the_recorded_one_or_else_the_last():
    history = diffputer.History(variables=["x"], losses=[[3.0, 2.0, 1.0], [2.0, 1.5, 1.0, 0.5]],
                                held_out_losses=[[2.0, 1.0, 1.05], []], kept_epochs=[3, 0])
    assert history.kept_epoch(0) == 3
    assert history.kept_epoch() == 4  # the last M-step held no row out: its last epoch


def test_kept_reason_says_why_an_m_step_kept_its_weights():
    history = diffputer.History(variables=["x"], losses=[[3.0, 2.0], [2.0, 1.0], [1.0, 0.5]],
                                held_out_losses=[[2.0, 1.0], [], []], kept_epochs=[2, 0, 0])
    assert history.kept_reason(0) == "held-out loss within one standard error of its lowest"
    assert history.kept_reason(1).startswith("last epoch: an earlier M-step kept its last")
    assert history.kept_reason() == history.kept_reason(2)
    paper = diffputer.History(variables=["x"], losses=[[3.0, 2.0]], held_out_losses=[[]],
                              kept_epochs=[0])
    assert paper.kept_reason() == "last epoch: no rows held out"


def test_a_history_saved_before_kept_epochs_were_recorded_keeps_the_lowest_held_out_loss():
    saved = diffputer.History(variables=["x"], losses=[[3.0, 2.0, 1.0]],
                              held_out_losses=[[2.0, 1.0, 1.05]], kept_epochs=[3]).to_dict()
    del saved["kept_epochs"]
    assert diffputer.History.from_dict(saved, ["x"]).kept_epoch(0) == 2


def test_pooling_tab_shows_rubins_table(result):
    pooled = result.fit("Ozone ~ Wind + Temp")
    explorer = diffputer.explore(result, pooled=pooled)
    table = explorer.pooling.children[0].value
    for column in ("riv", "lambda", "fmi", "estimate", "std.error"):
        assert column in table
    assert diffputer.explore(pooled).pooled is pooled


def test_explore_refuses_what_it_cannot_show(tiny):
    with pytest.raises(TypeError, match="explore takes"):
        diffputer.explore([1, 2, 3])
    with pytest.raises(ValueError, match="not fitted"):
        diffputer.explore(diffputer.DiffPuter(**tiny))
