"""Imputation accuracy on real tables with simulated missing values, every method on the same masks.

    python -m benchmarks.accuracy --datasets california letter adult --mechanism MCAR --p 0.3 \
        --seeds 0 --out benchmarks/results/accuracy_mcar.md

Scores: MAE and RMSE over the masked numeric cells on the z-scored scale (mean and standard
deviation of the complete column), accuracy over the masked categorical cells; wall time and
peak resident memory. Each (dataset, seed, method) runs in a fresh process, so that its peak
memory is its own (it includes the interpreter and its imports). Rows are appended to the CSV
beside ``--out`` as they finish, and a rerun skips the rows already there.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from diffputer import missing_mask

from . import data
from .methods import METHODS, PEERS, is_categorical
from .report import write_report


def score(truth: pd.DataFrame, imputed: pd.DataFrame, mask: np.ndarray) -> dict:
    """MAE / RMSE (z-scale) over masked numeric cells, accuracy over masked categorical ones."""
    errors, hits = [], []
    for j, name in enumerate(truth.columns):
        rows = mask[:, j]
        if not rows.any():
            continue
        if is_categorical(truth[name]):
            levels = imputed[name].to_numpy()[rows].astype(str)
            hits.append(levels == truth[name].to_numpy()[rows].astype(str))
        else:
            t = truth[name].to_numpy(dtype=float)
            z = (imputed[name].to_numpy(dtype=float)[rows] - t[rows]) / t.std()
            errors.append(z)
    errors = np.concatenate(errors) if errors else np.array([np.nan])
    hits = np.concatenate(hits) if hits else np.array([np.nan])
    return {"mae": float(np.abs(errors).mean()), "rmse": float(np.sqrt((errors**2).mean())),
            "accuracy": float(np.mean(hits))}


def check_imputed(imputed: pd.DataFrame, amputed: pd.DataFrame, method: str) -> None:
    """A method must fill every cell and leave the observed ones as they were."""
    if imputed.isna().any().any():
        raise AssertionError(f"{method} left missing cells")
    observed = amputed.notna().to_numpy()
    kept = imputed.astype(str).to_numpy()[observed] == amputed.astype(str).to_numpy()[observed]
    if not kept.all():
        raise AssertionError(f"{method} changed observed cells")


def run_one(name: str, seed: int, method: str, mechanism: str, p: float, device: str) -> dict:
    """Mask ``name`` with ``seed``, impute it with ``method`` and score it (in this process)."""
    truth = data.load(name)
    mask = missing_mask(truth, p, mechanism, seed=seed)
    amputed = truth.mask(mask)
    started = time.perf_counter()
    imputed = METHODS[method](amputed, seed, device)
    seconds = time.perf_counter() - started
    check_imputed(imputed, amputed, method)
    peak_mb = max(resource.getrusage(who).ru_maxrss  # HyperImpute runs in a child process
                  for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    return {"dataset": name, "mechanism": mechanism, "p": p, "seed": seed, "method": method,
            "device": device, "seconds": seconds, "peak_rss_mb": peak_mb,
            **score(truth, imputed, mask)}


def _child(connection, args) -> None:
    os.setsid()  # its own process group, so that a timeout stops its helpers too
    try:
        connection.send(("ok", run_one(*args)))
    except BaseException:  # noqa: BLE001 - sent to the parent, which raises it
        connection.send(("error", traceback.format_exc()))


def run_isolated(name, seed, method, mechanism, p, device, timeout) -> dict:
    """:func:`run_one` in a fresh (non-daemonic, so free to start its own workers) process; a
    run past ``timeout`` seconds is stopped and recorded without scores."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    task = (name, seed, method, mechanism, p, device)
    process = context.Process(target=_child, args=(sender, task))
    process.start()
    try:
        if receiver.poll(timeout):
            status, payload = receiver.recv()
            if status == "error":
                raise RuntimeError(f"{method} failed on {name}:\n{payload}")
            return payload
    finally:
        if process.is_alive():
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:  # stopped before it made its group
                process.kill()
        process.join()
    return {"dataset": name, "mechanism": mechanism, "p": p, "seed": seed, "method": method,
            "device": device, "seconds": float("inf"), "peak_rss_mb": np.nan,
            "mae": np.nan, "rmse": np.nan, "accuracy": np.nan}


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean scores per dataset and method, with ratios to the best peer on the same masks."""
    keys = ["dataset", "method", "device"]
    table = results.groupby(keys)[["mae", "rmse", "accuracy", "seconds", "peak_rss_mb"]].mean()
    methods = table.index.get_level_values("method")
    datasets = table.index.get_level_values("dataset")
    peers = table[methods.isin(list(PEERS)) & (methods != "mean")]
    if len(peers):
        best_mae = peers.groupby(level="dataset")["mae"].min()
        best_acc = peers.groupby(level="dataset")["accuracy"].max()
        table["MAE / best peer"] = table["mae"] / best_mae.reindex(datasets).to_numpy()
        table["accuracy - best peer"] = table["accuracy"] - best_acc.reindex(datasets).to_numpy()
    return table


def to_markdown(results: pd.DataFrame, command: str) -> str:
    mechanisms = ", ".join(f"{m}, p = {p}" for m, p in
                           results[["mechanism", "p"]].drop_duplicates().itertuples(index=False))
    lines = [f"# Accuracy: {mechanisms}", "",
             f"Seeds: {sorted(results['seed'].unique().tolist())}. Best peer: the best of the "
             "methods other than mean imputation and diffputer, per dataset. Regenerate with:", "",
             f"    {command}", "", summarise(results).round(4).to_markdown(), ""]
    return "\n".join(lines)


def plot(results: pd.DataFrame, path: Path) -> None:
    """MAE against wall time, one panel per dataset, one point per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = results.groupby(["dataset", "method"])[["mae", "seconds"]].mean().reset_index()
    names = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        part = table[table["dataset"] == name]
        for row in part.itertuples():
            if not (np.isfinite(row.seconds) and np.isfinite(row.mae)):
                continue  # stopped at the time limit
            color = "tab:red" if row.method.startswith("diffputer") else "tab:blue"
            ax.scatter(row.seconds, row.mae, color=color)
            ax.annotate(row.method, (row.seconds, row.mae), fontsize=8,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("wall time (s, log scale)")
        ax.set_ylabel("MAE (z-scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["california", "letter"])
    parser.add_argument("--mechanism", default="MCAR", choices=["MCAR", "MAR", "MNAR"])
    parser.add_argument("--p", type=float, default=0.3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--device", default="cpu", help="torch device of the diffputer methods")
    parser.add_argument("--timeout", type=float, default=3600,
                        help="seconds one method may take on one table (recorded as inf)")
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown file for the table (the CSV and PNG go beside it)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing; write the table and plot from the rows in the CSV")
    args = parser.parse_args(argv)
    raw = args.out.with_suffix(".csv") if args.out else None
    done = pd.read_csv(raw) if raw and raw.exists() else pd.DataFrame()
    for name in [] if args.report_only else args.datasets:
        for seed in args.seeds:
            for method in args.methods:
                key = (name, args.mechanism, args.p, seed, method, args.device)
                if len(done) and (done[["dataset", "mechanism", "p", "seed", "method", "device"]]
                                  .apply(tuple, axis=1) == key).any():
                    continue
                try:
                    row = run_isolated(name, seed, method, args.mechanism, args.p, args.device,
                                       args.timeout)
                except RuntimeError as err:  # reported; a rerun tries it again
                    print(err, file=sys.stderr, flush=True)
                    continue
                print(json.dumps(row), flush=True)
                if raw:
                    pd.DataFrame([row]).to_csv(raw, mode="a", header=not raw.exists(), index=False)
                done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
    chosen = done[done["dataset"].isin(args.datasets) & done["method"].isin(args.methods)
                  & (done["mechanism"] == args.mechanism) & (done["p"] == args.p)
                  & done["seed"].isin(args.seeds)]
    command = "python -m benchmarks.accuracy " + " ".join(
        [f"--datasets {' '.join(args.datasets)}", f"--mechanism {args.mechanism}", f"--p {args.p}",
         f"--seeds {' '.join(map(str, args.seeds))}", f"--methods {' '.join(args.methods)}"]
        + ([f"--device {args.device}"] if args.device != "cpu" else [])
        + ([f"--timeout {args.timeout:g}"] if args.timeout != 3600 else [])
        + ([f"--out {args.out}"] if args.out else []))
    text = to_markdown(chosen, command)
    print(text)
    if args.out:
        write_report(args.out, text)
        plot(chosen, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
