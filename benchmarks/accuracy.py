"""Imputation accuracy on real tables with simulated missing values, every method on the same masks.

    python -m benchmarks.accuracy --datasets california letter --mechanism MCAR --p 0.3 \
        --seeds 0 --methods mean diffputer --out benchmarks/results/accuracy_mcar.md

Scores: MAE and RMSE over the masked numeric cells on the z-scored scale (mean and standard
deviation of the complete column), accuracy over the masked categorical cells; wall time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from diffputer import missing_mask

from . import data
from .methods import METHODS


def score(truth: pd.DataFrame, imputed: pd.DataFrame, mask: np.ndarray) -> dict:
    """MAE / RMSE (z-scale) over masked numeric cells, accuracy over masked categorical ones."""
    errors, hits = [], []
    for j, name in enumerate(truth.columns):
        rows = mask[:, j]
        if not rows.any():
            continue
        if isinstance(truth[name].dtype, pd.CategoricalDtype):
            hits.append(imputed[name].to_numpy()[rows].astype(str) == truth[name].to_numpy()[rows].astype(str))
        else:
            t = truth[name].to_numpy(dtype=float)
            z = (imputed[name].to_numpy(dtype=float)[rows] - t[rows]) / t.std()
            errors.append(z)
    errors = np.concatenate(errors) if errors else np.array([np.nan])
    hits = np.concatenate(hits) if hits else np.array([np.nan])
    return {"mae": float(np.abs(errors).mean()), "rmse": float(np.sqrt((errors**2).mean())),
            "accuracy": float(np.mean(hits))}


def run(datasets, mechanism, p, seeds, methods, device="cpu") -> pd.DataFrame:
    rows = []
    for name in datasets:
        truth = data.load(name)
        for seed in seeds:
            mask = missing_mask(truth, p, mechanism, seed=seed)
            amputed = truth.mask(mask)
            for method in methods:
                started = time.perf_counter()
                imputed = METHODS[method](amputed, seed, device)
                seconds = time.perf_counter() - started
                observed = ~mask
                assert imputed.notna().all().all(), f"{method} left missing cells"
                assert (imputed.astype(str).to_numpy()[observed] == amputed.astype(str).to_numpy()[observed]).all()
                row = {"dataset": name, "seed": seed, "method": method, "device": device,
                       "seconds": seconds,
                       **score(truth, imputed, mask)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(results: pd.DataFrame, command: str, mechanism: str, p: float) -> str:
    table = results.groupby(["dataset", "method", "device"])[["mae", "rmse", "accuracy", "seconds"]].mean()
    if "mean" in results["method"].values:
        mean_mae = results[results["method"] == "mean"].groupby("dataset")["mae"].mean()
        table["MAE / mean-imputation MAE"] = table["mae"] / mean_mae.reindex(
            table.index.get_level_values("dataset")).to_numpy()
    lines = [f"# Accuracy: {mechanism}, p = {p}", "",
             f"Seeds: {sorted(results['seed'].unique().tolist())}. Regenerate with:", "",
             f"    {command}", "", table.round(4).to_markdown(), ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["california", "letter"])
    parser.add_argument("--mechanism", default="MCAR", choices=["MCAR", "MAR", "MNAR"])
    parser.add_argument("--p", type=float, default=0.3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--device", default="cpu", help="torch device of the diffputer methods")
    parser.add_argument("--out", type=Path, default=None, help="markdown file for the table")
    args = parser.parse_args(argv)
    results = run(args.datasets, args.mechanism, args.p, args.seeds, args.methods, args.device)
    command = "python -m benchmarks.accuracy " + " ".join(
        [f"--datasets {' '.join(args.datasets)}", f"--mechanism {args.mechanism}", f"--p {args.p}",
         f"--seeds {' '.join(map(str, args.seeds))}", f"--methods {' '.join(args.methods)}"]
        + ([f"--device {args.device}"] if args.device != "cpu" else [])
        + ([f"--out {args.out}"] if args.out else []))
    text = to_markdown(results, command, args.mechanism, args.p)
    print(text)
    if args.out:
        args.out.write_text(text)
        results.to_csv(args.out.with_suffix(".csv"), index=False)


if __name__ == "__main__":
    main()
