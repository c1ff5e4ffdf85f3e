"""The network's cost per sampling evaluation and per training step, measured in a fresh
process: what the benchmarks of how it runs (``malloc.py``, ``compiled.py``) share."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from .report import write_report

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = {"california": (14, 64), "letter": (32, 128)}


def measure(n_features: int, width: int, repeats: int, compiled: bool = False) -> dict:
    """ms and page faults per sampling evaluation and per training step, in this process,
    after 5 of each (``*_warm_up_s``: their seconds, which hold the compiling where
    ``compiled``: the network wrapped in ``torch.compile``)."""
    import resource
    import time

    import torch

    from diffputer._malloc import keep_freed_memory
    from diffputer.diffusion import edm_loss
    from diffputer.em import make_generator
    from diffputer.training import new_denoiser

    keep_freed_memory()  # a no-op under DIFFPUTER_KEEP_FREED_MEMORY=0
    denoiser = new_denoiser(n_features, width, 0, "cpu")
    if compiled:
        denoiser = torch.compile(denoiser)
    generator = make_generator(0, torch.device("cpu"))
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=1e-3)
    x, sigma = torch.randn(8192, n_features), torch.full((1,), 0.05)
    batch = torch.randn(1024, n_features)

    def evaluate():
        with torch.no_grad():
            denoiser(x, sigma)

    def train_step():
        loss = edm_loss(denoiser, batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    out = {}
    for name, work in (("eval", evaluate), ("step", train_step)):
        started = time.perf_counter()
        for _ in range(5):
            work()
        out[f"{name}_warm_up_s"] = time.perf_counter() - started
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        started = time.perf_counter()
        for _ in range(repeats):
            work()
        out[f"{name}_ms"] = 1000 * (time.perf_counter() - started) / repeats
        faulted = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        out[f"{name}_faults"] = faulted / repeats
    return out


def measure_fresh(n_features: int, width: int, repeats: int, *, compiled: bool = False,
                  env: dict | None = None) -> dict:
    """:func:`measure` in a fresh Python process with the environment ``env``."""
    code = (f"import json; from benchmarks.network_cost import measure; "
            f"print(json.dumps(measure({n_features}, {width}, {repeats}, {compiled})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def with_speed_ups(rows: list[dict], kind: str, base: str) -> pd.DataFrame:
    """Medians of ``rows`` per (table, width, ``kind``), with the speed-up of each kind's
    evaluations and steps over the ``base`` kind's."""
    frame = pd.DataFrame(rows).groupby(["table", "width", kind], sort=False).median()
    reference = frame.xs(base, level=kind)
    for name in ("eval", "step"):
        frame[f"{name} speed-up"] = [reference.loc[(t, w), f"{name}_ms"] / v
                                     for (t, w, _), v in frame[f"{name}_ms"].items()]
    return frame.round(3)


def report(run, title: str, module: str, doc: str, argv=None) -> None:
    """The command line of a network-cost benchmark: ``run(repeats, rounds)``'s table under
    ``title`` and the part of the module's docstring ``doc`` after its command, to ``--out``."""
    name = module.rsplit(".", 1)[-1]
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / f"{name}.md"))
    args = parser.parse_args(argv)
    frame = run(args.repeats, args.rounds)
    text = (f"# {title}\n\n{doc.split(chr(10) * 2, 2)[2]}\n"
            f"Regenerate with:\n\n    python -m {module} --out {args.out}\n\n"
            f"{frame.to_markdown()}\n")
    write_report(args.out, text)
    print(text)
