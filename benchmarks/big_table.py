"""A big table end to end: ``fit_transform`` of 1,000,000 rows x 20 mixed columns on this machine.

    python -m benchmarks.big_table --rows 1000000 --out benchmarks/results/big_table.md

The synthetic table of ``benchmarks/scaling.py`` (14 numeric, 6 categorical columns), 30% MCAR,
imputed through the public API with the default preset, reduced so that a 2-core CPU finishes
in about an hour: one EM iteration (``max_iter=1``) and a posterior mean of one draw
(``n_samples=1``); the M-step trains for the preset's 3,000 steps. Everything else (width,
sampler, corrector, category redraw, batch sizes) is the preset's. The run is in its own
process, so the peak resident memory reported is the whole job's: data, encoding, training,
sampling and the output table. The output is checked (observed cells unchanged, no missing
cell left, dtypes kept) and scored against the mean imputation on the masked cells.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .accuracy import score
from .methods import mean_mode
from .report import write_report
from .scaling import synthetic

RESULTS = Path(__file__).resolve().parent / "results"
REDUCED = {"max_iter": 1, "n_samples": 1}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int, seed: int = 0, settings: dict = REDUCED) -> dict:
    """Impute one table of ``n`` rows in this process (``settings`` over the default preset);
    its costs, checks and scores."""
    import torch

    import diffputer
    from diffputer import DiffPuter, missing_mask

    table = synthetic(n, seed)
    mask = np.asarray(missing_mask(table, 0.3, "MCAR", seed=seed))
    amputed = table.mask(mask)
    data_mb = peak_rss_mb()
    started = time.perf_counter()
    imputed = DiffPuter(random_state=seed, progress=False, **settings).fit_transform(amputed)
    seconds = time.perf_counter() - started

    observed = ~mask
    unchanged = all(imputed[c].to_numpy()[observed[:, j]].tolist()
                    == amputed[c].to_numpy()[observed[:, j]].tolist()
                    for j, c in enumerate(table.columns))
    means = mean_mode(amputed, seed)
    return {
        "rows": n, "columns": table.shape[1], "missing_cells": int(mask.sum()),
        "incomplete_rows": int(mask.any(axis=1).sum()),
        "settings": "fast preset, " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        "seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rss_after_data_mb": data_mb,
        "observed_unchanged": unchanged, "missing_left": int(imputed.isna().to_numpy().sum()),
        "dtypes_kept": bool((imputed.dtypes == amputed.dtypes).all()),
        **{f"diffputer_{k}": v for k, v in score(table, imputed, mask).items()},
        **{f"mean_{k}": v for k, v in score(table, means, mask).items()},
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "diffputer": diffputer.__version__, "machine": platform.machine(),
    }


def to_markdown(result: dict, command: str) -> str:
    rows = [(key, f"{value:,.3f}" if isinstance(value, float) else
             f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
            for key, value in result.items()]
    table = pd.DataFrame(rows, columns=["", "value"]).to_markdown(index=False)
    return "\n".join([
        "# A big table end to end", "",
        "`fit_transform` of the synthetic mixed table of `scaling.py` in one process (peak "
        "resident memory of the whole job; time of the `fit_transform` call). Settings, "
        "checks and scoring: see the docstring of `benchmarks/big_table.py`. Regenerate with:",
        "", f"    {command}", "", table, ""])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "big_table.md")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run(args.rows)))
        return
    out = subprocess.run([sys.executable, "-m", "benchmarks.big_table", "--one",
                          "--rows", str(args.rows)], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    command = f"python -m benchmarks.big_table --rows {args.rows} --out {os.path.relpath(args.out)}"
    write_report(args.out, to_markdown(result, command))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
