"""What ``torch.compile`` would buy the denoiser on a CPU.

    python -m benchmarks.compiled --out benchmarks/results/compiled.md

For the default preset's network at the widths of california (14 encoded columns, width 64)
and letter (32, width 128): milliseconds per network evaluation of a sampling batch (8,192
rows) and per training step (a batch of 1,024 rows: forward, backward, Adam), each in a fresh
process, the network as it is (eager, the package's) and wrapped in ``torch.compile``
(inductor, its defaults); medians of 5 rounds. ``*_warm_up_s`` is the time of the first 5
evaluations or steps, which holds the compiling.
"""

from __future__ import annotations

import pandas as pd

from .network_cost import SHAPES, measure_fresh, report, with_speed_ups

MODES = {"eager (default)": False, "torch.compile": True}


def run(repeats: int, rounds: int) -> pd.DataFrame:
    """The medians over ``rounds`` of each (table, mode) process, the modes alternating so
    that a slow spell of the machine hits both."""
    rows = []
    for _ in range(rounds):
        for dataset, (n_features, width) in SHAPES.items():
            for mode, compiled in MODES.items():
                costs = measure_fresh(n_features, width, repeats, compiled=compiled)
                rows.append({"table": dataset, "width": width, "network": mode,
                             **{k: v for k, v in costs.items() if not k.endswith("faults")}})
    return with_speed_ups(rows, "network", "eager (default)")


def main(argv=None) -> None:
    report(run, "torch.compile", "benchmarks.compiled", __doc__, argv)


if __name__ == "__main__":
    main()
