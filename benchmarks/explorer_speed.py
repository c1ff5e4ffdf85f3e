"""How long the explorer's Missingness tab takes to draw on big tables.

    python -m benchmarks.explorer_speed --out benchmarks/results/explorer_speed.md

A synthetic table of 20 columns (15 numeric, 5 categorical) with 10% to 40% of each column
missing MCAR and a block pattern shared by three columns; the time covers the three figures
(bars, pattern matrix, nullity correlations) rendered to PNG, as the widget shows them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .report import write_report


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 15)), columns=[f"x{j}" for j in range(15)])
    for j in range(5):
        df[f"g{j}"] = pd.Categorical(rng.choice(list("abcd"), size=n))
    for j, name in enumerate(df.columns):
        df[name] = df[name].mask(rng.random(n) < 0.1 + 0.3 * j / 20)
    block = rng.random(n) < 0.05
    df.loc[block, ["x0", "x1", "g0"]] = np.nan
    return df


def time_missingness(df: pd.DataFrame) -> float:
    from diffputer_widgets import ImputationExplorer

    started = time.perf_counter()
    ImputationExplorer(df)
    return time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    time_missingness(synthetic(1000))  # warm-up: imports, fonts
    rows = []
    for n in args.rows:
        df = synthetic(n)
        seconds = min(time_missingness(df) for _ in range(3))
        rows.append({"rows": n, "columns": df.shape[1], "missing cells": int(df.isna().sum().sum()),
                     "seconds (best of 3)": round(seconds, 3)})
        print(rows[-1], flush=True)
    text = "\n".join(["# Explorer: time to draw the Missingness tab", "",
                      "Regenerate with `python -m benchmarks.explorer_speed --out "
                      "benchmarks/results/explorer_speed.md` (2-core CPU, nothing else "
                      "running).", "",
                      pd.DataFrame(rows).to_markdown(index=False), ""])
    print(text)
    if args.out:
        write_report(args.out, text)


if __name__ == "__main__":
    main()
