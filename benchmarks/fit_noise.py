"""Fit-to-fit noise of the pooled estimates: the same table, fitted with different seeds.

    python -m benchmarks.fit_noise --tables 0 1 2 3 --seeds 0 1 2 3 --workers 2

A fitted model imputes with an error of its own (its training's noise, the noise of the draws
it trained on), and all m imputations drawn from it share that error, which the
between-imputation variance therefore cannot see. On tables of the validity design
(``benchmarks/validity.py``), each fitted once per seed and imputed m = 5 times from the fitted
model (``proper=False``), this measures per coefficient of ``y ~ x1 + x2 + g``:

- ``across seeds``: the variance of the pooled estimate across the seeds' fits of a table,
  averaged over the tables;
- ``draws (B / m)``: the part of it that the m draws explain, their between-imputation
  variance over m (averaged over fits and tables);
- ``fit noise``: the difference, the variance that every imputation of a fit shares;
- ``error vs full table``: the mean squared distance of the pooled estimate to the full
  table's (before its values were hidden).

Each variant (``VARIANTS``) changes settings of the default preset. Raw rows go to
``results/fit_noise.csv`` (a rerun resumes); the table to ``results/fit_noise.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from .report import write_report
from .validity import RESULTS, TRUTH, coefficients, simulate

M = 5
VARIANTS = {"one draw per M-step": {"m_step_draws": 1},
            "default (5 drawn copies per M-step)": {}}


def fit_rows(variant: str, table: int, seed: int) -> list[dict]:
    """One fit of validity table ``table`` with ``seed``: per term, the pooled estimate of
    m draws from the fitted model, their between-imputation variance and the full table's."""
    import torch
    from diffputer import DiffPuter

    torch.set_num_threads(1)
    full, amputed = simulate(table)
    started = time.perf_counter()
    model = DiffPuter(random_state=seed, progress=False, proper=False, **VARIANTS[variant])
    imputation = model.fit(amputed).impute(amputed, m=M)
    estimates = np.array([coefficients(imputation.complete(i)) for i in range(1, M + 1)])
    seconds = time.perf_counter() - started
    return [{"variant": variant, "table": table, "seed": seed, "term": term,
             "pooled": pooled, "between": between, "full": whole, "seconds": seconds}
            for term, pooled, between, whole in zip(TRUTH, estimates.mean(axis=0),
                                                    estimates.var(axis=0, ddof=1),
                                                    coefficients(full))]


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """Per variant and term: the variance across seeds, B / m, their difference, the mean
    squared error against the full table, fits, tables and seconds a fit (see the module)."""
    per_table = raw.groupby(["variant", "term", "table"], sort=False).agg(
        across=("pooled", "var"), between=("between", "mean"), fits=("pooled", "size"))
    per_table = per_table[per_table["fits"] > 1]
    out = per_table.groupby(["variant", "term"], sort=False).agg(
        across=("across", "mean"), between=("between", "mean"), tables=("fits", "size"))
    out["draws (B / m)"] = out.pop("between") / M
    out["fit noise"] = out["across"] - out["draws (B / m)"]
    per_fit = raw.assign(error=(raw["pooled"] - raw["full"]) ** 2).groupby(
        ["variant", "term"], sort=False)
    out["error vs full table"] = per_fit["error"].mean()
    out["fits"] = per_fit.size()
    out["seconds"] = per_fit["seconds"].mean()
    return out.rename(columns={"across": "across seeds"})


def to_markdown(table: pd.DataFrame, command: str) -> str:
    scaled = table.copy()
    variances = ["across seeds", "draws (B / m)", "fit noise", "error vs full table"]
    scaled[variances] = (scaled[variances] * 1e4).round(2)
    return "\n".join([
        "# Fit-to-fit noise of the pooled estimates", "",
        "Variances x 10^4. What each column measures: see the docstring of "
        "`benchmarks/fit_noise.py`. Regenerate (resumes from `fit_noise.csv`):", "",
        f"    {command}", "", scaled.round({"seconds": 1}).to_markdown(), ""])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--raw", type=Path, default=RESULTS / "fit_noise.csv")
    parser.add_argument("--out", type=Path, default=RESULTS / "fit_noise.md")
    args = parser.parse_args(argv)
    done = set()
    if args.raw.exists():
        old = pd.read_csv(args.raw)
        done = set(zip(old["variant"], old["table"], old["seed"]))
    todo = [(v, t, s) for v in args.variants for t in args.tables for s in args.seeds
            if (v, t, s) not in done]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for job in as_completed([pool.submit(fit_rows, *key) for key in todo]):
            rows = job.result()
            pd.DataFrame(rows).to_csv(args.raw, mode="a", header=not args.raw.exists(),
                                      index=False)
            print(json.dumps({k: rows[0][k] for k in ("variant", "table", "seed", "seconds")}),
                  flush=True)
    raw = pd.read_csv(args.raw)
    raw = raw[raw["variant"].isin(args.variants) & raw["table"].isin(args.tables)
              & raw["seed"].isin(args.seeds)]
    command = (f"python -m benchmarks.fit_noise --tables {' '.join(map(str, args.tables))} "
               f"--seeds {' '.join(map(str, args.seeds))} --workers {args.workers}")
    text = to_markdown(summarise(raw), command)
    write_report(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
