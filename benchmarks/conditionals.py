"""Imputation draws against the exact conditionals of the validity design.

    python -m benchmarks.conditionals --seeds 4 5 6 7 8 9 10 11

In the validity simulation (``benchmarks/validity.py``), a row whose only hole is x1 or g has
a known conditional distribution of the missing value given the rest of the row:

    x1 | y, x2, g  ~  N((0.5 x2 + 2 (y - 1 + x2 - beta_g)) / 5, 1 / 5)
    P(g = k | y, x1, x2)  proportional to  exp(eta_k(x2) - (r - beta_k)^2 / 2),

with r = y - 1 - 2 x1 + x2 and eta = (0, 0.8 x2, -0.8 x2) the level logits. Draws that follow
these conditionals have slope 1 on the exact mean of x1 and residual variance 1/5, and for
each level k the indicator [draw = k] has slope 1 on the exact P(k) (its calibration slope)
and the exact covariance with r, and no slope on x2 once P(k) is accounted for (the rows
marked 0 are on target at 0; the others at 1). Slopes below 1 mean the draws depend too
little on the rest of the row, which attenuates the coefficients of the regressions fitted on
the imputed tables.

The slopes average over tables; a model can also miss how x1 depends on g in a way that
differs from table to table, and that error is shared by all m imputations of the table, where
the pooled intervals cannot see it. So per table, the draws of x1 less its exact mean are
averaged per level of g, and "x1: level offsets' error" is the root mean square of the two
contrasts with level a (b - a, c - a). Its target is not 0 but the Monte Carlo noise of m
draws, which the exact draws show.

Per seed: one table of n = 1000 rows, imputed m = 5 times by diffputer (draws from the fitted
model, and proper draws), by R mice (pmm and polyreg, its defaults), and by draws from the
exact conditionals (for rows missing both x1 and g, g from P(g | y, x2) first). The raw rows
go to ``results/conditionals.csv``; the table of means (± SE across seeds) to
``results/conditionals.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from .report import write_report
from .validity import RESULTS, TRUTH, diffputer_imputations, simulate

LEVELS = ("a", "b", "c")
LEVEL_EFFECTS = np.array([0.0, TRUTH["g[T.b]"], TRUTH["g[T.c]"]])
X1_VARIANCE = 1 / 5  # of x1 given y, x2 and g: precision 1 (x1 | x2) + 2^2 (y | x1)


def level_probabilities(logits: np.ndarray) -> np.ndarray:
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def level_prior_logits(x2: np.ndarray) -> np.ndarray:
    return np.column_stack([np.zeros_like(x2), 0.8 * x2, -0.8 * x2])


def outcome_residual(table: pd.DataFrame) -> np.ndarray:
    """r = y - (1 + 2 x1 - x2): the outcome less its part that does not depend on g."""
    return (table["y"] - TRUTH["Intercept"] - TRUTH["x1"] * table["x1"]
            - TRUTH["x2"] * table["x2"]).to_numpy()


def x1_mean(table: pd.DataFrame) -> np.ndarray:
    """E[x1 | y, x2, g] on every row of ``table`` (g known)."""
    effect = LEVEL_EFFECTS[pd.Categorical(table["g"], categories=LEVELS).codes]
    x2, y = table["x2"].to_numpy(), table["y"].to_numpy()
    return (0.5 * x2 + TRUTH["x1"] * (y - TRUTH["Intercept"] - TRUTH["x2"] * x2 - effect)) / (
        1 + TRUTH["x1"] ** 2)


def level_posterior(table: pd.DataFrame) -> np.ndarray:
    """[rows, levels]: P(g = k | y, x1, x2) on every row of ``table`` (x1 known)."""
    logits = level_prior_logits(table["x2"].to_numpy())
    residual = outcome_residual(table)[:, None]
    return level_probabilities(logits - 0.5 * (residual - LEVEL_EFFECTS) ** 2)


def level_posterior_without_x1(table: pd.DataFrame) -> np.ndarray:
    """[rows, levels]: P(g = k | y, x2) on every row of ``table`` (y given x2 and g is
    N(1 + beta_g, 5): x1 integrated out)."""
    logits = level_prior_logits(table["x2"].to_numpy())
    y = table["y"].to_numpy()[:, None]
    return level_probabilities(logits - (y - TRUTH["Intercept"] - LEVEL_EFFECTS) ** 2 / 10)


def drawn_levels(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The level of each row of ``probs`` that the uniform ``u`` picks (inverse CDF)."""
    picked = (u[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    return np.array(LEVELS)[picked.clip(max=len(LEVELS) - 1)]  # clip: rounding of the sum


def exact_draws(amputed: pd.DataFrame, seed: int, m: int = 5) -> list[pd.DataFrame]:
    """m completions of ``amputed`` drawn from the exact conditionals of the design: a missing
    g from P(g | y, x1, x2), or from P(g | y, x2) where x1 is missing too, then a missing x1
    given its row."""
    rng = np.random.default_rng(seed)
    x1_missing, g_missing = amputed["x1"].isna().to_numpy(), amputed["g"].isna().to_numpy()
    both, only_g = x1_missing & g_missing, g_missing & ~x1_missing
    both_probs = level_posterior_without_x1(amputed[both])
    only_g_probs = level_posterior(amputed[only_g])
    tables = []
    for _ in range(m):
        u = rng.random(len(amputed))
        g = amputed["g"].astype(object).to_numpy().copy()
        g[both] = drawn_levels(both_probs, u[both])
        g[only_g] = drawn_levels(only_g_probs, u[only_g])
        table = amputed.assign(g=pd.Categorical(g, categories=LEVELS))
        x1 = table["x1"].to_numpy().copy()
        x1[x1_missing] = (x1_mean(table[x1_missing])
                          + np.sqrt(X1_VARIANCE) * rng.normal(size=x1_missing.sum()))
        tables.append(table.assign(x1=x1))
    return tables


def level_offsets_error(amputed: pd.DataFrame, tables: list[pd.DataFrame]) -> float:
    """RMS of the contrasts b - a and c - a of the mean per level of the drawn x1 less its
    exact mean, on the rows whose only hole is x1, all tables' draws together."""
    only_x1 = (amputed["x1"].isna() & amputed["g"].notna()).to_numpy()
    exact = x1_mean(amputed[only_x1])
    offsets = np.mean([t["x1"].to_numpy()[only_x1] - exact for t in tables], axis=0)
    levels = amputed.loc[only_x1, "g"].astype(str).to_numpy()
    per_level = np.array([offsets[levels == level].mean() for level in LEVELS])
    return float(np.sqrt(np.mean((per_level[1:] - per_level[0]) ** 2)))


def scores(amputed: pd.DataFrame, tables: list[pd.DataFrame]) -> dict[str, float]:
    """How the draws in ``tables`` follow the exact conditionals on the rows of ``amputed``
    with a single hole (in x1 or in g)."""
    only_x1 = (amputed["x1"].isna() & amputed["g"].notna()).to_numpy()
    exact = np.tile(x1_mean(amputed[only_x1]), len(tables))
    drawn = np.concatenate([t["x1"].to_numpy()[only_x1] for t in tables])
    slope, intercept = np.polyfit(exact, drawn, 1)
    out = {"x1: slope": slope,
           "x1: residual variance / exact": np.var(drawn - intercept - slope * exact) / X1_VARIANCE,
           "x1: level offsets' error (0)": level_offsets_error(amputed, tables)}
    only_g = (amputed["g"].isna() & amputed["x1"].notna()).to_numpy()
    posterior = np.tile(level_posterior(amputed[only_g]), (len(tables), 1))
    residual = np.tile(outcome_residual(amputed[only_g]), len(tables))
    x2 = np.tile(amputed["x2"].to_numpy()[only_g], len(tables))
    drawn = np.concatenate([t["g"].astype(str).to_numpy()[only_g] for t in tables])
    for k, level in enumerate(LEVELS[1:], start=1):
        chosen = (drawn == level).astype(float)
        out[f"{level}: calibration slope"] = np.polyfit(posterior[:, k], chosen, 1)[0]
        out[f"{level}: cov with r / exact"] = (np.cov(chosen, residual)[0, 1]
                                               / np.cov(posterior[:, k], residual)[0, 1])
        design = np.column_stack([np.ones_like(x2), posterior[:, k], x2])
        slopes = np.linalg.lstsq(design, chosen, rcond=None)[0]
        out[f"{level}: slope on x2 beyond P (0)"] = slopes[2]
    return out


def imputations(amputed: pd.DataFrame, seed: int, m: int = 5) -> dict[str, list[pd.DataFrame]]:
    """The m completed tables of each method."""
    from .methods import mice_tables

    tables = {name: [imputation.complete(i) for i in range(1, m + 1)] for name, (imputation, _)
              in diffputer_imputations(amputed, seed, m).items()}
    return {**tables, "mice": mice_tables(amputed, seed, m),
            "exact conditionals": exact_draws(amputed, seed, m)}


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    grouped = raw.drop(columns="seed").groupby("method", sort=False)
    mean, se = grouped.mean().T, (grouped.std() / np.sqrt(grouped.count())).T
    return mean.round(3).astype(str) + " ± " + se.round(3).astype(str)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(12)))
    parser.add_argument("--out", type=Path, default=RESULTS / "conditionals.md")
    args = parser.parse_args(argv)
    raw_path = args.out.with_suffix(".csv")
    rows = []
    for seed in args.seeds:
        _, amputed = simulate(seed)
        for method, tables in imputations(amputed, seed).items():
            rows.append({"seed": seed, "method": method, **scores(amputed, tables)})
        print(f"seed {seed} done", flush=True)
    raw = pd.DataFrame(rows)
    raw.to_csv(raw_path, index=False)
    seeds = " ".join(map(str, args.seeds))
    text = "\n".join([
        "# Draws against the exact conditionals of the validity design", "",
        f"Seeds {seeds}: mean ± SE across seeds. What each row measures: see the docstring of "
        "`benchmarks/conditionals.py` (on target: 1, or 0 where the row says so).", "",
        f"    python -m benchmarks.conditionals --seeds {seeds}", "",
        summarise(raw).to_markdown(), ""])
    write_report(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
