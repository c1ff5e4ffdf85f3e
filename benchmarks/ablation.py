"""What each setting of the default preset buys: accuracy and time, one change at a time.

    python -m benchmarks.ablation --dataset california --seeds 0 \
        --out benchmarks/results/ablation_california.md

Every variant is the default (``"fast"``) preset with one setting changed, fitted on the same
masks (MCAR, 30%) as the accuracy benchmark. Scores are those of ``accuracy.py`` for the
fill of ``fit_transform``, with the wall time of the fit; the ratios compare each
variant with the default on the same seeds. Variants run one after the other in this process
(nothing else should run meanwhile); rows are appended to the CSV beside ``--out`` and a
rerun skips those already there.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import diffputer
from diffputer import missing_mask

from . import data
from .accuracy import check_imputed, score
from .report import write_report

# One change to the default preset per variant; what each buys is measured, not assumed.
VARIANTS: dict[str, dict] = {
    "default": {},
    "corrector_steps=0": {"corrector_steps": 0},
    "corrector_steps=50": {"corrector_steps": 50},
    "corrector_steps=100": {"corrector_steps": 100},
    "resample=1": {"resample": 1},
    "n_samples=5": {"n_samples": 5},
    "n_samples=20": {"n_samples": 20},
    "category_draws=0": {"category_draws": 0},
    "width=128": {"width": 128},
    "width=256": {"width": 256},
    "max_steps=1500": {"max_steps": 1500},
    "max_steps=3000": {"max_steps": 3000},
    "max_steps=6000": {"max_steps": 6000},
    "max_steps=12000": {"max_steps": 12000},
    "max_iter=2": {"max_iter": 2},
    "max_iter=5": {"max_iter": 5},
    "warm_start=False": {"warm_start": False},
    "ema_halflife=0": {"ema_halflife": 0},
    "validation_fraction=0": {"validation_fraction": 0.0},
    "m_step_fill=mean": {"m_step_fill": "mean"},
    "init=mean": {"init": "mean"},
    "noise_log_mean=-2": {"noise_log_mean": -2.0},
    "noise_log_mean=-2.6": {"noise_log_mean": -2.6},
}


def run_variant(name: str, seed: int, variant: str, mechanism: str = "MCAR",
                p: float = 0.3) -> dict:
    """Fit the variant on ``name`` masked with ``seed`` and score ``fit_transform``'s fill."""
    truth = data.load(name)
    mask = missing_mask(truth, p, mechanism, seed=seed)
    amputed = truth.mask(mask)
    model = diffputer.DiffPuter(random_state=seed, progress=False, **VARIANTS[variant])
    started = time.perf_counter()
    imputed = model.fit_transform(amputed)
    seconds = time.perf_counter() - started
    check_imputed(imputed, amputed, variant)
    return {"dataset": name, "mechanism": mechanism, "p": p, "seed": seed, "variant": variant,
            "seconds": seconds, **score(truth, imputed, mask)}


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean scores per variant (in VARIANTS' order) and their ratios to the default's."""
    table = results.groupby("variant")[["mae", "rmse", "accuracy", "seconds"]].mean()
    table = table.reindex([v for v in VARIANTS if v in table.index])
    if "default" in table.index:
        base = table.loc["default"]
        table["MAE / default"] = table["mae"] / base["mae"]
        table["accuracy - default"] = table["accuracy"] - base["accuracy"]
        table["time / default"] = table["seconds"] / base["seconds"]
    return table


def to_markdown(results: pd.DataFrame, command: str) -> str:
    datasets = ", ".join(sorted(results["dataset"].unique()))
    lines = [f"# Ablation of the default preset: {datasets}, MCAR 30%", "",
             f"Seeds: {sorted(results['seed'].unique().tolist())}. Each variant changes one "
             "setting of the default; MAE / RMSE on the z-scale and accuracy of "
             "fit_transform's fill, wall time of the fit (2 CPU cores). Regenerate with:", "",
             f"    {command}", "", summarise(results).round(4).to_markdown(), ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="california")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    csv = args.out.with_suffix(".csv")
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=["seed", "variant"])
    finished = set(zip(done["seed"], done["variant"]))
    for seed in args.seeds:
        for variant in args.variants:
            if (seed, variant) in finished:
                continue
            row = run_variant(args.dataset, seed, variant)
            print(row, flush=True)
            pd.DataFrame([row]).to_csv(csv, mode="a", header=not csv.exists(), index=False)
    results = pd.read_csv(csv)
    command = ("python -m benchmarks.ablation --dataset " + args.dataset + " --seeds "
               + " ".join(map(str, args.seeds)) + f" --out {args.out}")
    if args.variants != list(VARIANTS):
        command += " --variants " + " ".join(args.variants)
    write_report(args.out, to_markdown(results, command))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
