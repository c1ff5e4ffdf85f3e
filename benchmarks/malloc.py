"""What keeping freed memory in the process buys (``diffputer/_malloc.py``).

    python -m benchmarks.malloc --out benchmarks/results/malloc.md

For the default preset's network at the widths of california (14 encoded columns, width 64)
and letter (32, width 128): milliseconds and minor page faults per network evaluation of a
sampling batch (8,192 rows), and per training step (a batch of 1,024 rows: forward, backward,
Adam), each in a fresh process with glibc's malloc as it comes
(``DIFFPUTER_KEEP_FREED_MEMORY=0``) and tuned (the default); medians of 5 rounds.
"""

from __future__ import annotations

import os

import pandas as pd

from .network_cost import SHAPES, measure_fresh, report, with_speed_ups


def run(repeats: int, rounds: int) -> pd.DataFrame:
    """The medians over ``rounds`` of each (table, malloc) process, the two kinds alternating
    so that a slow spell of the machine hits both."""
    rows = []
    for _ in range(rounds):
        for dataset, (n_features, width) in SHAPES.items():
            for malloc, opt_out in (("glibc default", "0"), ("kept (default)", "1")):
                env = {**os.environ, "DIFFPUTER_KEEP_FREED_MEMORY": opt_out}
                rows.append({"table": dataset, "width": width, "malloc": malloc,
                             **measure_fresh(n_features, width, repeats, env=env)})
    return with_speed_ups(rows, "malloc", "glibc default")


def main(argv=None) -> None:
    report(run, "Keeping freed memory in the process", "benchmarks.malloc", __doc__, argv)


if __name__ == "__main__":
    main()
