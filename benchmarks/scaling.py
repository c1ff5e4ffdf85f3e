"""How the cost grows with the rows: one M-step epoch, the E-step per 1,000 rows, peak memory.

    python -m benchmarks.scaling --rows 1000 10000 100000 1000000 \
        --out benchmarks/results/scaling.md

A synthetic mixed table of 20 columns (14 numeric driven by 3 latent factors, 6 categorical of
3 to 5 levels cut from them), 30% MCAR, default preset. For each size, in a fresh process (so
that the peak resident memory is its own): the table is encoded, the start values filled, the
denoiser trained for one epoch (mini-batches of ``batch_size``), then one conditional draw of
the missing cells of 2,000 incomplete rows (the E-step works in row batches, so its cost is
this times rows / 2,000), after the calibration of the category redraw (a cost per model, on
at most 1,024 rows per column). Wall times on this machine, nothing else running.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .report import write_report

RESULTS = Path(__file__).resolve().parent / "results"
E_STEP_ROWS = 2000


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """14 numeric and 6 categorical columns, all driven by 3 latent factors."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 3))
    columns = {}
    for j in range(14):
        weights = rng.normal(size=3)
        columns[f"x{j}"] = latent @ weights + rng.normal(size=n)
    for j in range(6):
        levels = 3 + j % 3
        score = latent @ rng.normal(size=3) + rng.normal(size=n)
        cuts = np.quantile(score, np.linspace(0, 1, levels + 1)[1:-1])
        columns[f"c{j}"] = pd.Categorical.from_codes(np.searchsorted(cuts, score),
                                                     [f"l{k}" for k in range(levels)])
    return pd.DataFrame(columns)


def measure(n: int) -> dict:
    """The costs of one table of ``n`` rows, in this process."""
    import torch

    from diffputer import missing_mask
    from diffputer.em import calibrated_blocks, draw, make_generator, start_values
    from diffputer.training import held_out_indices, new_denoiser, train_denoiser
    from diffputer.encoding import TableEncoder
    from diffputer.settings import resolve

    table = synthetic(n)
    amputed = table.mask(missing_mask(table, 0.3, "MCAR", seed=0))
    started = time.perf_counter()
    encoder = TableEncoder.fit(amputed)
    X, M = encoder.encode(amputed)
    settings = resolve("fast").for_table(encoder.n_features, len(amputed))
    X = start_values(X, M, encoder, settings.init, np.random.default_rng(0))
    prepare = time.perf_counter() - started

    generator = make_generator(0, torch.device("cpu"))
    denoiser = new_denoiser(encoder.n_features, settings.width, 0, "cpu")
    steps = -(-n // settings.batch_size)  # one epoch
    one_epoch = replace(settings, epochs=1, max_steps=steps)
    warm_up = replace(settings, epochs=1, max_steps=2)  # first calls are slow; not timed
    train_denoiser(denoiser, torch.as_tensor(X[: 2 * settings.batch_size]), warm_up, generator)
    held_out = held_out_indices(n, settings.validation_fraction, np.random.default_rng(0))
    started = time.perf_counter()
    train_denoiser(denoiser, torch.as_tensor(X), one_epoch, generator, held_out=held_out)
    epoch = time.perf_counter() - started

    rows = np.flatnonzero(M.any(axis=1))[:E_STEP_ROWS]
    started = time.perf_counter()
    categories = calibrated_blocks(denoiser, X, M, encoder, settings, generator)
    calibration = time.perf_counter() - started
    started = time.perf_counter()
    draw(denoiser, torch.as_tensor(X[rows]), torch.as_tensor(M[rows]), settings, generator,
         categories)
    e_step = time.perf_counter() - started
    return {"rows": n, "encoded_columns": encoder.n_features, "width": settings.width,
            "prepare_s": prepare, "epoch_s": epoch, "steps_per_epoch": steps,
            "calibration_s": calibration, "draw_per_1k_rows_s": e_step * 1000 / len(rows),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def to_markdown(results: pd.DataFrame, command: str) -> str:
    results = results.assign(
        epoch_per_1k_rows_s=results["epoch_s"] * 1000 / results["rows"],
        draw_whole_table_s=results["draw_per_1k_rows_s"] * results["rows"] / 1000,
        rows=results["rows"].map("{:,}".format))
    return "\n".join([
        "# Scaling with the number of rows", "",
        "Synthetic mixed table, 20 columns, 30% MCAR, default preset, one process per size, "
        "2 CPU cores. `draw_per_1k_rows_s`: one conditional draw (sampler and category redraw) "
        "of 2,000 incomplete rows, per 1,000 rows; `calibration_s`: the redraw's calibration, "
        "once per model; `draw_whole_table_s` "
        "projects it to every row (the E-step works in row batches). Regenerate with:", "",
        f"    {command}", "", results.round(3).to_markdown(index=False), ""])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=RESULTS / "scaling.md")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one size, print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for n in args.rows:
        out = subprocess.run([sys.executable, "-m", "benchmarks.scaling", "--one", str(n)],
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    command = "python -m benchmarks.scaling --rows " + " ".join(map(str, args.rows))
    write_report(args.out, to_markdown(pd.DataFrame(rows), command))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
