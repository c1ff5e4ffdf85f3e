"""Validity of multiple imputation: bias, RMSE, 95% CI coverage and width of a regression.

    python -m benchmarks.validity --reps 200 --workers 2

Each replication simulates n = 1000 rows (``--n``) of a known model,

    x2 ~ N(0, 1);  g in {a, b, c} with P(g) depending on x2;  x1 = 0.5 x2 + N(0, 1)
    y = 1 + 2 x1 - x2 + 0.5 [g = b] - 0.5 [g = c] + N(0, 1),

makes 30% of x1 and 30% of g missing at random (logistic in y and x2, so complete cases are
biased), and fits ``y ~ x1 + x2 + g`` to the full table before its values were hidden (the
reference: the design's own coverage, free of missing data), and after: complete-case
analysis, R mice (m = 5; pmm for x1, polyreg for the factor g, mice's defaults), diffputer
(m = 5) with proper draws (default) and with draws from one fixed model (runner
``diffputer``), and with bootstrap-EM draws (``proper="bootstrap"``, runner
``diffputer-bootstrap``: m more EM fits, three times the cost of the rest). Per-replication
rows are appended to ``benchmarks/results/validity_raw.csv`` (a rerun resumes where it
stopped, per replication and runner); the summary table is written to
``benchmarks/results/validity.md``, with estimates paired on the same tables and the error the
missing values add (each estimate against the full table's before its values were hidden,
which the simulation regenerates). ``--runners`` and ``--seeds`` split the work across
machines: each writes its own raw file, and concatenating the files gives the same table as
one run. The report covers the replications of ``--seeds`` (default: all ``--reps``).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from .report import write_report

TRUTH = {"Intercept": 1.0, "x1": 2.0, "x2": -1.0, "g[T.b]": 0.5, "g[T.c]": -0.5}
FORMULA = "y ~ x1 + x2 + g"
RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("full table", "complete cases", "mice", "diffputer (proper)", "diffputer (bootstrap EM)",
           "diffputer (fixed model)")


def simulate(seed: int, n: int = 1000, p: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(complete table, table with MAR holes in x1 and g)."""
    from diffputer.ampute import fit_intercept

    rng = np.random.default_rng(seed)
    x2 = rng.normal(size=n)
    logits = np.column_stack([np.zeros(n), 0.8 * x2, -0.8 * x2])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    g = np.array(["a", "b", "c"])[(rng.random(n)[:, None] > probs.cumsum(axis=1)).sum(axis=1)]
    x1 = 0.5 * x2 + rng.normal(size=n)
    y = (TRUTH["Intercept"] + TRUTH["x1"] * x1 + TRUTH["x2"] * x2
         + TRUTH["g[T.b]"] * (g == "b") + TRUTH["g[T.c]"] * (g == "c") + rng.normal(size=n))
    full = pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": pd.Categorical(g)})
    zy, zx2 = (y - y.mean()) / y.std(), x2
    amputed = full.copy()
    for column, score in (("x1", zy + 0.5 * zx2), ("g", -zy + zx2)):
        score = score / score.std()
        prob = 1 / (1 + np.exp(-(score + fit_intercept(score, p))))
        amputed.loc[rng.random(n) < prob, column] = np.nan
    return full, amputed


def coefficients(table: pd.DataFrame) -> np.ndarray:
    """OLS coefficients of y ~ x1 + x2 + g, in the order of ``TRUTH``."""
    g = table["g"].astype(str).to_numpy()
    X = np.column_stack([np.ones(len(table)), table["x1"], table["x2"], g == "b", g == "c"])
    return np.linalg.lstsq(X.astype(float), table["y"].to_numpy(), rcond=None)[0]


def _rows(method: str, seed: int, pooled_params, ci_low, ci_high, seconds: float) -> list[dict]:
    return [{"rep": seed, "method": method, "term": term, "estimate": float(pooled_params[term]),
             "lower": float(ci_low[term]), "upper": float(ci_high[term]), "seconds": seconds}
            for term in TRUTH]


def _ols_rows(method: str, table: pd.DataFrame, seed: int) -> list[dict]:
    import statsmodels.formula.api as smf

    started = time.perf_counter()
    fit = smf.ols(FORMULA, data=table).fit()
    ci = fit.conf_int()
    return _rows(method, seed, fit.params, ci[0], ci[1], time.perf_counter() - started)


def full_table(amputed: pd.DataFrame, seed: int) -> list[dict]:
    """OLS on the replication's table before its values were hidden (regenerated)."""
    return _ols_rows("full table", simulate(seed, len(amputed))[0], seed)


def complete_cases(amputed: pd.DataFrame, seed: int) -> list[dict]:
    return _ols_rows("complete cases", amputed.dropna(), seed)


def mice_pmm(amputed: pd.DataFrame, seed: int) -> list[dict]:
    import rpy2.robjects as ro
    from rpy2.robjects import default_converter, pandas2ri
    from rpy2.robjects.conversion import localconverter

    started = time.perf_counter()
    ro.r("suppressPackageStartupMessages(library(mice))")
    with localconverter(default_converter + pandas2ri.converter):
        data = ro.conversion.get_conversion().py2rpy(amputed)
        out = ro.r("""function(d, seed) {
            imp <- mice(d, m = 5, seed = seed, printFlag = FALSE)
            s <- summary(pool(with(imp, lm(y ~ x1 + x2 + g))), conf.int = TRUE)
            data.frame(estimate = s$estimate, lower = s[["2.5 %"]], upper = s[["97.5 %"]])
        }""")(data, seed)
        frame = ro.conversion.get_conversion().rpy2py(out)
    frame.index = list(TRUTH)  # R's order: (Intercept), x1, x2, gb, gc
    return _rows("mice", seed, frame["estimate"], frame["lower"], frame["upper"],
                 time.perf_counter() - started)


SCHEMES = ("refit", "bootstrap")


def diffputer_imputations(amputed: pd.DataFrame, seed: int, m: int = 5, device: str = "cpu",
                          schemes: tuple[str, ...] = SCHEMES) -> dict[str, tuple]:
    """One EM fit and the m draws of each scheme in ``schemes``, as {method: (MultipleImputation,
    seconds that ``diffputer.impute`` would take: the fit, then the draws)}: with "refit",
    "diffputer (fixed model)" (the m draws of the fit's final E-step) and "diffputer (proper)"
    (m proper draws from it, ``proper="refit"``); with "bootstrap", "diffputer (bootstrap EM)"
    (m draws from EM fits to bootstrap resamples, ``proper="bootstrap"``)."""
    from diffputer import DiffPuter

    started = time.perf_counter()
    model = DiffPuter(random_state=seed, progress=False, device=device)
    df, _, result = model._fit(amputed, keep=m)
    fit_seconds = time.perf_counter() - started
    out = {}
    if "refit" in schemes:
        out["diffputer (fixed model)"] = (model._result(df, result.draws, result.history),
                                          fit_seconds)
        started = time.perf_counter()
        proper = model._proper_draws(result.completed, result.draws, result.missing)
        out["diffputer (proper)"] = (model._result(df, proper, result.history),
                                     fit_seconds + time.perf_counter() - started)
    if "bootstrap" in schemes:
        started = time.perf_counter()
        bootstrap = model._bootstrap_draws(*model.encoder_.encode(df), m)
        out["diffputer (bootstrap EM)"] = (model._result(df, bootstrap, result.history),
                                           fit_seconds + time.perf_counter() - started)
    return out


def diffputer_rows(amputed: pd.DataFrame, seed: int, device: str = "cpu",
                   schemes: tuple[str, ...] = SCHEMES) -> list[dict]:
    """The rows of diffputer's draws (m = 5) of each scheme in ``schemes``."""
    rows = []
    for method, (imputation, seconds) in diffputer_imputations(
            amputed, seed, device=device, schemes=schemes).items():
        pooled = imputation.fit(FORMULA)
        ci = pooled.conf_int()
        rows += _rows(method, seed, pooled.params, ci.iloc[:, 0], ci.iloc[:, 1], seconds)
    return rows


# "diffputer": the fixed model's draws and the proper ones (the default scheme);
# "diffputer-bootstrap": bootstrap EM's (m EM fits besides the one that ``impute`` makes).
RUNNERS = {"full-table": full_table, "complete-cases": complete_cases, "mice": mice_pmm,
           "diffputer": partial(diffputer_rows, schemes=("refit",)),
           "diffputer-bootstrap": partial(diffputer_rows, schemes=("bootstrap",))}
RUNNER_OF = {"full table": "full-table", "complete cases": "complete-cases", "mice": "mice",
             "diffputer (proper)": "diffputer", "diffputer (fixed model)": "diffputer",
             "diffputer (bootstrap EM)": "diffputer-bootstrap"}


def replicate(seed: int, runners: tuple[str, ...], device: str = "cpu",
              n: int = 1000) -> list[dict]:
    """The rows of the given runners on replication ``seed`` (``n`` rows)."""
    import torch

    torch.set_num_threads(1)
    _, amputed = simulate(seed, n)
    rows = []
    for runner in runners:
        extra = {"device": device} if runner.startswith("diffputer") else {}
        rows += RUNNERS[runner](amputed, seed, **extra)
    return rows


def pending(raw_files: list[Path], seeds: range,
            runners: tuple[str, ...]) -> list[tuple[int, tuple]]:
    """(seed, runners still to run) for each seed with work left in ``raw_files``."""
    done = set()
    for path in raw_files:
        if path.exists():
            frame = pd.read_csv(path)
            done |= set(zip(frame["rep"], frame["method"].map(RUNNER_OF)))
    todo = [(seed, tuple(r for r in runners if (seed, r) not in done)) for seed in seeds]
    return [(seed, left) for seed, left in todo if left]


def with_peers(raw: pd.DataFrame, peers: list[pd.DataFrame]) -> pd.DataFrame:
    """``raw`` and, from each earlier run in ``peers``, its rows of the methods that ``raw``
    lacks, on ``raw``'s replications."""
    methods, reps = set(raw["method"]), set(raw["rep"])
    extra = [p[~p["method"].isin(methods) & p["rep"].isin(reps)] for p in peers]
    return pd.concat([raw, *extra], ignore_index=True)


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    raw = raw.assign(truth=raw["term"].map(TRUTH))
    raw["error"] = raw["estimate"] - raw["truth"]
    raw["covered"] = (raw["lower"] <= raw["truth"]) & (raw["truth"] <= raw["upper"])
    raw["width"] = raw["upper"] - raw["lower"]
    grouped = raw.groupby(["method", "term"], sort=False)
    table = pd.DataFrame({
        "reps": grouped.size(),
        "bias": grouped["error"].mean(),
        "sd": grouped["estimate"].std(),
        "rmse": grouped["error"].apply(lambda e: float(np.sqrt((e**2).mean()))),
        "coverage": grouped["covered"].mean(),
        "width": grouped["width"].mean(),
        "seconds": grouped["seconds"].mean(),
    })
    table["|bias| / sd"] = table["bias"].abs() / table["sd"]
    if "mice" in table.index.get_level_values("method"):
        mice_width = table.xs("mice", level="method")["width"]
        table["width / mice"] = table["width"] / mice_width.reindex(
            table.index.get_level_values("term")).to_numpy()
    order = [m for m in METHODS if m in table.index.get_level_values("method")]
    return table.reindex(order, level="method")


def full_table_estimates(reps, n: int = 1000) -> dict[int, dict[str, float]]:
    """Per replication: the coefficients of its full table, before its values were hidden."""
    return {rep: dict(zip(TRUTH, coefficients(simulate(rep, n)[0]))) for rep in reps}


def added_errors(raw: pd.DataFrame, n: int = 1000) -> pd.DataFrame:
    """Per method (rows) and term, the error that the missing values add: each estimate minus
    its full table's. Its root mean square (``rms``) is what the intervals' between-imputation
    part must cover; its mean (``bias``) is the bias of the imputations themselves, free of the
    luck of the simulated tables. The row "full table" is that luck: the full tables' estimates
    minus the truth, averaged over the same replications (the method "full table" adds
    nothing, and is left out)."""
    raw = raw[raw["method"] != "full table"]
    full = full_table_estimates(raw["rep"].unique(), n)
    error = raw["estimate"] - [full[rep][term] for rep, term in zip(raw["rep"], raw["term"])]
    order = [m for m in METHODS if m in raw["method"].unique()]

    def per_method(values: pd.Series) -> pd.DataFrame:
        return values.unstack("term").reindex(index=order, columns=list(TRUTH))

    by = [raw["method"], raw["term"]]
    rms = per_method((error**2).groupby(by, sort=False).mean() ** 0.5)
    bias = per_method(error.groupby(by, sort=False).mean())
    bias.loc["full table"] = pd.DataFrame(full).T.mean() - pd.Series(TRUTH)
    return pd.concat({"rms": rms, "bias": bias})


PAIRS = (("diffputer (proper)", "mice"), ("diffputer (bootstrap EM)", "mice"),
         ("diffputer (fixed model)", "mice"), ("diffputer (proper)", "diffputer (fixed model)"),
         ("diffputer (bootstrap EM)", "diffputer (proper)"))
PREVIOUS = " (previous code)"


def paired_differences(raw: pd.DataFrame, pairs=PAIRS) -> pd.DataFrame:
    """Per (a, b) pair and term: the mean of a's estimate minus b's on the same tables, ± its
    SE, over the replications both ran."""
    estimates = raw.pivot_table(index=["rep", "term"], columns="method", values="estimate")
    out = {}
    for a, b in pairs:
        if {a, b} <= set(estimates.columns):
            diff = (estimates[a] - estimates[b]).dropna().groupby(level="term", sort=False)
            out[f"{a} - {b}"] = (diff.mean().round(4).astype(str) + " ± "
                                 + (diff.std() / np.sqrt(diff.count())).round(4).astype(str))
    return pd.DataFrame(out).T.reindex(columns=list(TRUTH))


def to_markdown(table: pd.DataFrame, command: str, paired: pd.DataFrame | None = None,
                errors: pd.DataFrame | None = None, raw_name: str = "validity_raw.csv") -> str:
    reps = int(table["reps"].min())
    mc_se = np.sqrt(0.95 * 0.05 / reps)
    lines = [
        "# Validity of multiple imputation", "",
        f"{reps} replications (Monte Carlo SE of a 95% coverage: {mc_se:.3f}). "
        "Model, missingness and methods: see the docstring of `benchmarks/validity.py`.",
        f"Regenerate (resumes from `{raw_name}`; delete it to start over):", "",
        f"    {command}", "", table.round(4).to_markdown(), "",
    ]
    if paired is not None and len(paired):
        lines += ["Estimates paired on the same tables (mean difference ± SE):", "",
                  paired.to_markdown(), ""]
    if errors is not None:
        lines += ["Error added by the missing values, the estimate minus the full table's (before "
                  "its values were hidden): its root mean square, and its mean (the bias of the "
                  "imputations; the row \"full table\" is the full tables' own mean error, which "
                  "the bias against the truth above adds to it):", "",
                  errors.loc["rms"].round(4).to_markdown(), "",
                  errors.loc["bias"].round(4).to_markdown(), ""]
    return "\n".join(lines)


def rerun_command(args: argparse.Namespace) -> str:
    """The command line that reruns (or resumes) this run: its options that are not defaults."""
    parts = [f"python -m benchmarks.validity --reps {args.reps} --workers {args.workers}"]
    if args.seeds:
        parts.append(f"--seeds {args.seeds[0]} {args.seeds[1]}")
    if args.n != 1000:
        parts.append(f"--n {args.n}")
    if args.runners != list(RUNNERS):
        parts.append("--runners " + " ".join(args.runners))
    if args.raw != [RESULTS / "validity_raw.csv"] or args.out != RESULTS / "validity.md":
        parts.append(f"--raw {' '.join(map(str, args.raw))} --out {args.out}")
    if args.peers:
        parts.append("--peers " + " ".join(map(str, args.peers)))
    if args.previous:
        parts.append(f"--previous {args.previous}")
    return " ".join(parts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--n", type=int, default=1000, help="rows per replication")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs=2, metavar=("FIRST", "STOP"),
                        help="run and report replications FIRST..STOP-1 only "
                             "(default: 0..reps-1)")
    parser.add_argument("--runners", nargs="+", choices=list(RUNNERS), default=list(RUNNERS))
    parser.add_argument("--device", default="cpu", help="device of the diffputer fits")
    parser.add_argument("--raw", type=Path, nargs="+", default=[RESULTS / "validity_raw.csv"],
                        help="raw files to read; new rows go to the first")
    parser.add_argument("--peers", type=Path, nargs="+", default=[],
                        help="raw files of earlier runs: their rows of the methods that the raw "
                             "files lack (e.g. mice's, on the same tables) join the report")
    parser.add_argument("--out", type=Path, default=RESULTS / "validity.md")
    parser.add_argument("--previous", type=Path,
                        help="raw file of an earlier run of diffputer: its estimates are paired "
                             "with this run's on the same replications")
    args = parser.parse_args(argv)
    seeds = range(*args.seeds) if args.seeds else range(args.reps)
    todo = pending(args.raw, seeds, tuple(args.runners))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        jobs = [pool.submit(replicate, seed, left, args.device, args.n) for seed, left in todo]
        for job in as_completed(jobs):
            rows = job.result()
            pd.DataFrame(rows).to_csv(args.raw[0], mode="a", header=not args.raw[0].exists(),
                                      index=False)
            print(f"rep {rows[0]['rep']} done", flush=True)
    raw = pd.concat([pd.read_csv(path) for path in args.raw if path.exists()])
    raw = with_peers(raw, [pd.read_csv(path) for path in args.peers])
    raw = raw[raw["rep"].isin(seeds)]
    table, errors = summarise(raw), added_errors(raw, args.n)
    pairs = PAIRS
    command = rerun_command(args)
    if args.previous:
        previous = pd.read_csv(args.previous)
        previous = previous[previous["method"].str.startswith("diffputer")]
        raw = pd.concat([raw, previous.assign(method=previous["method"] + PREVIOUS)])
        pairs += tuple((m, m + PREVIOUS) for m in METHODS if m.startswith("diffputer"))
    text = to_markdown(table, command, paired_differences(raw, pairs), errors, args.raw[0].name)
    write_report(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
