"""Proper draws: bootstrap refits as they come, recentred, and where their calibration is fitted.

    python -m benchmarks.recentring --seeds 40 41 42 43 44 45 46 47 --draws 8 --workers 1

Per seed: one table of the validity design (``benchmarks/validity.py``, n = 1000) and one
fit. Then draws from four kinds of model: the fitted one ("fixed model"); the m = 5 bootstrap
refits of the proper draws as the fine-tunes leave them, their categories calibrated on their
resample ("refits", the proper draws before commit a99d8ca); the same five weight vectors
recentred on the fitted ones, calibrated on their resample ("recentred, resample
calibration", the proper draws until the calibration moved); and recentred, calibrated on the
original rows ("recentred", what ``proper.proper_draws`` draws from; since commit f6df54f that
calibration is drawn with Bayesian-bootstrap weights, the others are fitted). All share their
fine-tunes, so the comparison is paired. Each model draws ``--draws`` completed tables (the
fixed model, being one, five times as many).

Per draw: the coefficients of ``y ~ x1 + x2 + g`` minus those of the full table before its
values were hidden (the table's own sampling error cancels, so their mean over draws and
seeds is the bias that imputation adds), and x1's slope on its exact conditional mean and
residual variance over the exact one in the rows whose only hole is x1 (on target: 1; see
``benchmarks/conditionals.py``). Raw rows go to ``results/recentring.csv``; means, paired
differences (± SE across seeds) and the variance of each coefficient across the draws of a
seed (the between-imputation variance that the pooled intervals count) to
``results/recentring.md``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from .conditionals import scores
from .report import write_report
from .validity import RESULTS, TRUTH, coefficients, simulate

KINDS = ("fixed model", "refits", "recentred, resample calibration", "recentred")
M = 5


def scored(table: pd.DataFrame, full: pd.DataFrame, amputed: pd.DataFrame) -> dict[str, float]:
    """The coefficients of ``table`` minus the full table's, and x1's scores of
    :func:`benchmarks.conditionals.scores`."""
    x1 = {k: v for k, v in scores(amputed, [table]).items() if k.startswith("x1:")}
    return {**dict(zip(TRUTH, coefficients(table) - coefficients(full))), **x1}


def replicate(seed: int, draws: int) -> list[dict]:
    import torch

    from diffputer import DiffPuter
    from diffputer import proper

    torch.set_num_threads(1)
    full, amputed = simulate(seed)
    model = DiffPuter(random_state=seed, progress=False)
    df, _, result = model._fit(amputed, keep=M)
    settings, encoder, missing = model.settings_, model.encoder_, result.missing
    generator = torch.Generator().manual_seed(seed)
    tables = proper.m_step_tables(result.completed, result.draws, M, settings)
    refits = proper.bootstrap_refits(model.denoiser_, tables, missing, encoder, settings, generator)
    fitted = torch.nn.utils.parameters_to_vector(model.denoiser_.parameters()).detach()
    centred = proper.recentred(fitted, [refit.weights for refit in refits])
    resamples = [(table[refit.rows], missing[refit.rows]) for table, refit in zip(tables, refits)]
    models = {"fixed model": [(fitted, tables[0], None)],
              "refits": [(r.weights, t, b) for r, t, b in zip(refits, tables, resamples)],
              "recentred, resample calibration": list(zip(centred, tables, resamples)),
              "recentred": [(w, t, None) for w, t in zip(centred, tables)]}
    rows = []
    for kind, members in models.items():
        times = draws * M if kind == "fixed model" else draws
        for index, (weights, table, calibrated_on) in enumerate(members):
            for _ in range(times):
                encoded = proper.draw_with_weights(model.denoiser_, weights, table, missing,
                                                   encoder, settings, generator,
                                                   calibrated_on=calibrated_on,
                                                   bootstrap=kind == "recentred")
                completed = model._result(df, [encoded], result.history).complete(1)
                rows.append({"seed": seed, "kind": kind, "model": index,
                             **scored(completed, full, amputed)})
    return rows


def summary(raw: pd.DataFrame) -> str:
    per_seed = raw.drop(columns="model").groupby(["seed", "kind"]).mean()

    def mean_se(frame):
        grouped = frame.groupby("kind")
        se = grouped.std() / np.sqrt(grouped.size().to_numpy()[:, None])
        return (grouped.mean().round(4).astype(str) + " ± " + se.round(4).astype(str)).reindex(
            [k for k in KINDS if k in grouped.groups])

    parts = ["Mean over seeds (± SE across seeds); coefficients as imputed minus full-table:", "",
             mean_se(per_seed).T.to_markdown(), ""]
    for reference in ("fixed model", "recentred"):
        paired = per_seed.sub(per_seed.xs(reference, level="kind"), level="seed")
        paired = paired.drop(index=reference, level="kind")
        parts += [f"Paired on the same seeds, minus {reference}:", "",
                  mean_se(paired).T.to_markdown(), ""]
    spread = raw.groupby(["seed", "kind"])[list(TRUTH)].var().groupby("kind").mean()
    parts += ["Variance of each coefficient across the draws of a seed, mean over seeds:", "",
              spread.reindex([k for k in KINDS if k in spread.index]).T.round(5).to_markdown(),
              ""]
    return "\n".join(parts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(40, 48)))
    parser.add_argument("--draws", type=int, default=8, help="draws per model")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "recentring.md")
    args = parser.parse_args(argv)
    with ProcessPoolExecutor(args.workers) as pool:
        parts = list(pool.map(replicate, args.seeds, [args.draws] * len(args.seeds)))
    raw = pd.DataFrame([row for part in parts for row in part])
    raw.to_csv(args.out.with_suffix(".csv"), index=False)
    seeds = " ".join(map(str, args.seeds))
    text = "\n".join([
        "# Proper draws: refits as they come, recentred, and their calibration's rows", "",
        f"Seeds {seeds}, {args.draws} draws per model. What each column measures: see the "
        "docstring of `benchmarks/recentring.py`.", "",
        f"    python -m benchmarks.recentring --seeds {seeds} --draws {args.draws} "
        f"--workers {args.workers}", "", summary(raw)])
    write_report(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
