"""What a process group costs and buys: the M-step step and the E-step per row, 1 and 2 ranks.

    python -m benchmarks.distributed --rows 20000 --out benchmarks/results/distributed.md

The synthetic mixed table of ``benchmarks/scaling.py`` (14 numeric, 6 categorical columns),
30% MCAR, default preset. For each world size W, W processes join a gloo group (on this
machine's CPU cores, split evenly between them) and each, on its shard of the rows: trains the
denoiser data-parallel for ``--steps`` steps of the preset's global batch (``batch_size / W``
rows per rank), after 5 untimed steps, then draws the missing cells of its incomplete rows
once (sampler and category redraw, after the calibration on gathered rows). The times are the
slowest rank's, as a fit waits for it. They feed the cost model of the README: a fit costs
about ``max_iter x (steps x step_s + incomplete rows x draws x draw_per_row_s / W)``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from .report import write_report
from .scaling import synthetic

RESULTS = Path(__file__).resolve().parent / "results"


def rank_costs(rank: int, size: int, store: str, n: int, steps: int, threads: int,
               out: str) -> None:
    """One rank's share of the measurement (run by ``torch.multiprocessing.spawn``)."""
    import torch
    import torch.distributed as dist

    from diffputer import missing_mask
    from diffputer.distributed import current_group, local_rows
    from diffputer.em import calibrated_blocks, draw, make_generator, start_values
    from diffputer.training import held_out_indices, new_denoiser, train_denoiser
    from diffputer.encoding import TableEncoder, summarise
    from diffputer.settings import resolve

    torch.set_num_threads(threads)
    if size > 1:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=size)
    group = current_group(distributed=size > 1)
    table = synthetic(n)
    amputed = table.mask(missing_mask(table, 0.3, "MCAR", seed=0))
    shard = local_rows(amputed, group)
    encoder = TableEncoder.from_summaries(group.all_gather(summarise(shard)))
    X, M = encoder.encode(shard)
    settings = resolve("fast").for_table(encoder.n_features, len(amputed))
    X = start_values(X, M, encoder, settings.init, np.random.default_rng(rank), group)
    generator = make_generator(group.rank_seed(0), torch.device("cpu"))
    denoiser = new_denoiser(encoder.n_features, settings.width, 0, "cpu")
    X_t = torch.as_tensor(X)
    train_denoiser(denoiser, X_t, replace(settings, epochs=1, max_steps=5), generator,
                   group=group)
    timed = replace(settings, epochs=10**6, max_steps=steps, patience=10**6)
    held_out = held_out_indices(len(X), settings.validation_fraction,
                                np.random.default_rng(group.rank_seed(0)))
    started = time.perf_counter()
    train_denoiser(denoiser, X_t, timed, generator, group=group, held_out=held_out)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    categories = calibrated_blocks(denoiser, X, M, encoder, settings, generator, group)
    calibration_s = time.perf_counter() - started
    rows = np.flatnonzero(M.any(axis=1))
    started = time.perf_counter()
    draw(denoiser, torch.as_tensor(X[rows]), torch.as_tensor(M[rows]), settings, generator,
         categories)
    draw_s = time.perf_counter() - started
    slowest = group.all_gather({"train_s": train_s, "calibration_s": calibration_s,
                                "draw_s": draw_s, "rows": len(rows)})
    if rank == 0:
        Path(out).write_text(json.dumps(slowest))
    if size > 1:
        dist.destroy_process_group()


def measure(size: int, n: int, steps: int, cores: int) -> dict:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "costs.json")
        args = (size, os.path.join(tmp, "store"), n, steps, max(1, cores // size), out)
        if size == 1:
            rank_costs(0, *args)
        else:
            mp.spawn(rank_costs, args=args, nprocs=size)
        ranks = json.loads(Path(out).read_text())
    incomplete = sum(r["rows"] for r in ranks)
    draw_s = max(r["draw_s"] for r in ranks)
    return {"ranks": size, "threads_per_rank": max(1, cores // size), "rows": n,
            "step_s": max(r["train_s"] for r in ranks) / steps,
            "calibration_s": max(r["calibration_s"] for r in ranks),
            "incomplete_rows": incomplete, "draw_s": draw_s,
            "draw_per_1k_rows_s": draw_s * 1000 / incomplete}


def to_markdown(results: pd.DataFrame, command: str) -> str:
    return "\n".join([
        "# One process and a gloo process group on this machine", "",
        "Synthetic mixed table (20 columns), 30% MCAR, default preset; the slowest rank's "
        "times. `step_s`: one data-parallel M-step step of the global batch; `draw_s`: one "
        "conditional draw of every incomplete row, the ranks in parallel; "
        "`draw_per_1k_rows_s`: that per 1,000 incomplete rows of the whole table. "
        "Regenerate with:", "", f"    {command}", "",
        results.round(4).to_markdown(index=False), ""])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS / "distributed.md")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    rows = []
    for size in args.ranks:
        rows.append(measure(size, args.rows, args.steps, cores))
        print(rows[-1], flush=True)
    command = (f"python -m benchmarks.distributed --rows {args.rows} --steps {args.steps} "
               f"--ranks {' '.join(map(str, args.ranks))}")
    write_report(args.out, to_markdown(pd.DataFrame(rows), command))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
