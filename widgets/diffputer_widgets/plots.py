"""The explorer's views as plain matplotlib functions, for scripts and papers.

Each returns a ``matplotlib.figure.Figure`` (not drawn on screen; ``fig.savefig`` it, or let
Jupyter show it). Observed data are blue and imputed data red, as in mice and VIM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from diffputer.result import _is_numeric

from .patterns import display_sample, missing_pattern, nullity_correlation, percent_missing

OBSERVED, IMPUTED = "tab:blue", "tab:red"
# Densities are estimated from at most this many observed values (a seeded random sample).
DENSITY_ROWS = 20_000
# Heatmaps of more variables than this are drawn without the numbers in the cells.
MAX_ANNOTATED = 12


def _figure(width=7.0, height=4.0) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def plot_missingness(df: pd.DataFrame) -> Figure:
    """Percent missing per variable (bars)."""
    fig = _figure(7, 0.8 + 0.3 * max(len(df.columns), 3))
    ax = fig.add_subplot()
    percent = percent_missing(df)
    ax.barh(list(map(str, percent.index)), percent.to_numpy(), color=IMPUTED)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% missing")
    for y, value in enumerate(percent.to_numpy()):
        ax.text(value + 1, y, f"{value:.1f}%", va="center", fontsize=8)
    ax.set_title(f"Missing values per variable ({len(df):,} rows)")
    return fig


def plot_pattern(df: pd.DataFrame, max_patterns: int = 30) -> Figure:
    """The missing-data patterns as mice's ``md.pattern`` draws them.

    One row per pattern, most frequent first (blue observed, red missing); rows per pattern on
    the left, missing variables per pattern on the right, missing cells per variable below.
    """
    table = missing_pattern(df)
    patterns, totals = table.iloc[:-1], table.iloc[-1]
    shown = patterns.head(max_patterns)
    columns = list(table.columns)
    fig = _figure(1.5 + 0.6 * len(columns), 1.4 + 0.28 * len(shown))
    ax = fig.add_subplot()
    ax.imshow(shown[columns].to_numpy(), aspect="auto", cmap=ListedColormap([IMPUTED, OBSERVED]),
              vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(range(len(columns)), [str(c) for c in columns], rotation=45, ha="left")
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(shown)), [f"{n:,}" for n in shown.index.get_level_values("count")])
    ax.set_ylabel("rows with the pattern")
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(len(shown)), [str(n) for n in shown.index.get_level_values("n_missing")])
    right.set_ylabel("missing variables")
    ax.set_xlabel("missing per variable: " + ", ".join(f"{int(totals[c]):,}" for c in columns))
    if len(patterns) > len(shown):
        ax.set_title(f"{len(shown)} most frequent of {len(patterns)} patterns", fontsize=9)
    return fig


def plot_nullity_correlation(df: pd.DataFrame) -> Figure:
    """Heatmap of the correlations between the columns' missingness indicators."""
    corr = nullity_correlation(df)
    fig = _figure(1.5 + 0.5 * max(len(corr), 2), 1.2 + 0.45 * max(len(corr), 2))
    ax = fig.add_subplot()
    if corr.empty:
        ax.text(0.5, 0.5, "fewer than two variables with missing values", ha="center", va="center")
        ax.set_axis_off()
        return fig
    image = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    labels = [str(c) for c in corr.columns]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    if len(labels) <= MAX_ANNOTATED:
        for (i, j), value in np.ndenumerate(corr.to_numpy()):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, shrink=0.8, label="nullity correlation")
    return fig


def plot_convergence(history, variable=None) -> Figure:
    """EM convergence: training loss per epoch for each EM iteration (dashed: the loss of the
    rows held out of training, where there are any), the mean absolute change of the imputed
    cells per iteration, and mice's ``plot(imp)`` traces (mean and standard deviation of the
    imputed cells of ``variable`` per draw)."""
    fig = _figure(10, 6)
    loss_ax, change_ax, mean_ax, sd_ax = fig.subplots(2, 2).ravel()
    for i, (losses, held_out) in enumerate(zip(history.losses, history.held_out_losses)):
        if losses:
            line, = loss_ax.plot(np.arange(1, len(losses) + 1), losses, label=f"EM {i + 1}")
        if held_out:
            loss_ax.plot(np.arange(1, len(held_out) + 1), held_out, "--", color=line.get_color())
    any_held_out = any(history.held_out_losses)
    title = "M-step loss (dashed: held-out rows)" if any_held_out else "M-step training loss"
    loss_ax.set(xlabel="epoch", ylabel="loss", title=title)
    if history.losses and any(history.losses):
        loss_ax.legend(fontsize=8)
    iterations = np.arange(1, history.n_iter + 1)
    change_ax.plot(iterations, history.change, "o-", color="black")
    change_ax.set(xlabel="EM iteration", ylabel="mean |change| (z-scale)",
                  title="Change of the imputed cells")
    names = [str(v) for v in history.variables]
    if variable is not None and history.n_iter:
        j = names.index(str(variable))
        means, variances = history.chain_mean[j], history.chain_var[j]  # [iterations, chains]
        mean_ax.plot(iterations, means, "o-")
        sd_ax.plot(iterations, np.sqrt(variances), "o-")
    mean_ax.set(xlabel="EM iteration", title=f"mean of imputed {variable}")
    sd_ax.set(xlabel="EM iteration", title=f"sd of imputed {variable}")
    for ax in (change_ax, mean_ax, sd_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


def plot_imputations(result, variable) -> Figure:
    """Observed (blue) against imputed (red, one line or bar set per draw) values of ``variable``:
    densities for numeric columns, level shares for categorical ones."""
    data = result.data
    column = data[variable]
    where = result.where[variable].to_numpy()
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    draws = [result.complete(i + 1)[variable][where] for i in range(result.m)]
    if _is_numeric(column):
        observed, note = display_sample(column[~where].astype(float).to_frame(), DENSITY_ROWS)
        values = observed.iloc[:, 0].to_numpy()
        grid = _grid(values, *[d.astype(float).to_numpy() for d in draws])
        ax.plot(grid, _density(values, grid), color=OBSERVED, lw=2, label="observed")
        for i, d in enumerate(draws):
            ax.plot(grid, _density(d.astype(float).to_numpy(), grid), color=IMPUTED, lw=1,
                    alpha=0.8, label="imputed" if i == 0 else None)
        ax.set(xlabel=str(variable), ylabel="density")
        if note:
            ax.set_title(note, fontsize=9)
    else:
        levels = [str(v) for v in (column.cat.categories if hasattr(column, "cat")
                                    else pd.unique(column.dropna()))]
        width = 0.8 / (result.m + 1)
        x = np.arange(len(levels))
        shares = column[~where].astype(str).value_counts(normalize=True).reindex(levels, fill_value=0)
        ax.bar(x, shares.to_numpy(), width, color=OBSERVED, label="observed")
        for i, d in enumerate(draws):
            imputed = d.astype(str).value_counts(normalize=True).reindex(levels, fill_value=0)
            ax.bar(x + (i + 1) * width, imputed.to_numpy(), width, color=IMPUTED,
                   alpha=0.5 + 0.5 * (i + 1) / result.m, label="imputed" if i == 0 else None)
        ax.set_xticks(x + 0.4 - width / 2, levels, rotation=30, ha="right")
        ax.set(ylabel="share", xlabel=str(variable))
    ax.legend(fontsize=8)
    fig.suptitle(f"{variable}: {int(where.sum()):,} imputed cells, {result.m} draws", fontsize=10)
    return fig


def _grid(*samples: np.ndarray, points: int = 200) -> np.ndarray:
    values = np.concatenate([s[np.isfinite(s)] for s in samples])
    lo, hi = (values.min(), values.max()) if values.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo or 1.0)
    return np.linspace(lo - pad, hi + pad, points)


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density (Silverman's bandwidth) of ``values`` on ``grid``."""
    values = values[np.isfinite(values)]
    if values.size < 2 or values.std() == 0:
        return np.zeros_like(grid)
    bandwidth = 1.06 * values.std() * values.size ** (-1 / 5)
    z = (grid[:, None] - values[None, :]) / bandwidth
    return np.exp(-0.5 * z**2).sum(axis=1) / (values.size * bandwidth * np.sqrt(2 * np.pi))
