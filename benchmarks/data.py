"""The real tables of ../shared/datasets, loaded with their column roles.

Column roles follow the DiffPuter authors' dataset descriptions: numeric columns are scored
by MAE / RMSE on the z-scored scale, categorical ones by accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

# ../shared/datasets beside the checkout, or the folder named by DIFFPUTER_DATASETS.
DATA_DIR = Path(os.environ.get("DIFFPUTER_DATASETS")
                or Path(__file__).resolve().parents[2] / "shared" / "datasets")

ADULT_NUMERIC = [0, 2, 4, 10, 11, 12]
ADULT_CATEGORICAL = [1, 3, 5, 6, 7, 8, 9, 13, 14]
OBESITY_CATEGORICAL = ["Gender", "family_history_with_overweight", "FAVC", "CAEC", "SMOKE",
                       "SCC", "CALC", "MTRANS", "NObeyesdad"]


class DatasetMissing(FileNotFoundError):
    pass


def _path(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        raise DatasetMissing(f"{path} not found: the benchmark tables live in ../shared/datasets")
    return path


def _as_categories(df: pd.DataFrame, columns) -> pd.DataFrame:
    for c in columns:
        df[c] = df[c].astype(str).astype("category")
    return df


def california() -> pd.DataFrame:
    df = pd.read_csv(_path("california.csv"))
    return _as_categories(df, ["ocean_proximity"])


def letter() -> pd.DataFrame:
    df = pd.read_csv(_path("letter.csv"), index_col=0)
    df.columns = [f"x{c}" for c in df.columns[:-1]] + ["letter"]
    return _as_categories(df, ["letter"])


def adult() -> pd.DataFrame:
    df = pd.read_csv(_path("adult.data"), header=None, sep=r",\s*", engine="python",
                     na_values="?")
    df.columns = [f"c{c}" for c in df.columns]
    df = df.dropna().reset_index(drop=True)  # '?' marks real missing values; benchmarks need truth
    return _as_categories(df, [f"c{c}" for c in ADULT_CATEGORICAL])


def concrete() -> pd.DataFrame:
    df = pd.read_csv(_path("concrete.txt"), sep=r"\s+", header=None)
    df.columns = [f"c{c}" for c in df.columns]
    return df


def obesity() -> pd.DataFrame:
    df = pd.read_csv(_path("obesity.csv"), index_col=0)
    return _as_categories(df, OBESITY_CATEGORICAL)


DATASETS = {"california": california, "letter": letter, "adult": adult, "concrete": concrete,
            "obesity": obesity}


def load(name: str) -> pd.DataFrame:
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}; got {name!r}")
    return DATASETS[name]()
