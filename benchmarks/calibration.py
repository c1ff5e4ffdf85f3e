"""Are the draws as spread as their errors? Held-out cells of a small real table.

    python -m benchmarks.calibration --seeds 0 1 2 3 4

For each seed a quarter of the observed Ozone values of the bundled airquality table (153
rows) are hidden, and each method imputes the table m = 20 times. On the hidden cells, scaled
by the standard deviation of Ozone, it reports the RMSE of the mean of the 20 draws, the mean
standard deviation of the draws across imputations, their ratio (about 1 when the spread of
the draws matches what the model does not know; larger when the draws are too sure), and the
share of hidden values inside the mean +- 1.96 sd (1 + 1/m)^(1/2).

Methods: R mice (pmm, mice's defaults, m = 20); diffputer's default preset with proper draws
(``impute``) and with draws from the fitted model alone (``proper=False``); and the fitted
model alone trained on every row to the end of its budget (``validation_fraction=0``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .report import write_report

RESULTS = Path(__file__).resolve().parent / "results"
COLUMN = "Ozone"
M = 20
DIFFPUTER = {
    "diffputer (proper)": {},
    "diffputer (fixed model)": {"proper": False},
    "diffputer (fixed model, no held-out rows)": {"proper": False, "validation_fraction": 0.0},
}


def hide(data: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``data`` with a quarter of the observed values of COLUMN hidden, and their rows."""
    rng = np.random.default_rng(seed)
    observed = np.flatnonzero(data[COLUMN].notna().to_numpy())
    hidden = np.sort(rng.choice(observed, size=len(observed) // 4, replace=False))
    amputed = data.copy()
    amputed.iloc[hidden, amputed.columns.get_loc(COLUMN)] = np.nan
    return amputed, hidden


def mice_draws(amputed: pd.DataFrame, seed: int) -> np.ndarray:
    from benchmarks.methods import mice_tables

    return np.stack([table[COLUMN].to_numpy(float) for table in mice_tables(amputed, seed, M)])


def diffputer_draws(amputed: pd.DataFrame, seed: int, **options) -> np.ndarray:
    import diffputer

    imp = diffputer.impute(amputed, m=M, random_state=seed, progress=False, **options)
    return np.stack([imp.complete(l)[COLUMN].to_numpy(float) for l in range(1, M + 1)])


def score(draws: np.ndarray, truth: np.ndarray) -> dict:
    """Scores of ``draws`` [m, cells] against ``truth`` [cells] (both on the z-scale)."""
    mean, sd = draws.mean(axis=0), draws.std(axis=0, ddof=1)
    rmse = float(np.sqrt(np.mean((mean - truth) ** 2)))
    half_width = 1.96 * sd * np.sqrt(1 + 1 / len(draws))
    return {"rmse of the mean": rmse, "sd of the draws": float(sd.mean()),
            "rmse / sd": rmse / float(sd.mean()),
            "coverage": float(np.mean(np.abs(mean - truth) <= half_width))}


def run(seeds: list[int]) -> pd.DataFrame:
    import diffputer

    data = diffputer.load_airquality()
    scale = data[COLUMN].std()
    rows = []
    for seed in seeds:
        amputed, hidden = hide(data, seed)
        truth = data[COLUMN].to_numpy(float)[hidden] / scale
        runs = {"mice (pmm)": lambda: mice_draws(amputed, seed)}
        runs.update({name: (lambda o=options: diffputer_draws(amputed, seed, **o))
                     for name, options in DIFFPUTER.items()})
        for method, draw in runs.items():
            started = time.perf_counter()
            draws = draw()[:, hidden] / scale
            rows.append({"seed": seed, "method": method, **score(draws, truth),
                         "seconds": time.perf_counter() - started})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def to_markdown(raw: pd.DataFrame, command: str) -> str:
    table = raw.groupby("method", sort=False).mean(numeric_only=True).drop(columns="seed")
    table.insert(0, "seeds", raw.groupby("method", sort=False).size())
    return "\n".join([
        "# Calibration of the draws on held-out cells (airquality, Ozone)", "",
        "Means over the seeds; the docstring of `benchmarks/calibration.py` defines each "
        "column. Regenerate:", "", f"    {command}", "", table.round(3).to_markdown(), "",
        "Per seed:", "", raw.round(3).to_markdown(index=False), "",
    ])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=RESULTS / "calibration_airquality.md")
    args = parser.parse_args(argv)
    raw = run(args.seeds)
    command = "python -m benchmarks.calibration --seeds " + " ".join(map(str, args.seeds))
    write_report(args.out, to_markdown(raw, command))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
