"""``python -m diffputer.demo``: impute the bundled air-quality data and show what happened."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from . import impute, load_airquality
from ._files import atomic_write


def main(out_dir: str = "out") -> None:
    data = load_airquality()
    n_missing = data.isna().sum()
    print(f"New York air quality, 1973: {data.shape[0]} days x {data.shape[1]} variables, "
          f"{int(n_missing.sum())} missing cells "
          f"({', '.join(f'{k}: {v}' for k, v in n_missing[n_missing > 0].items())}).")
    started = time.perf_counter()
    imp = impute(data, m=5, random_state=1)
    seconds = time.perf_counter() - started
    print(f"\n{imp!r} in {seconds:.1f} s")
    history = imp.history
    print("EM: mean |change| of the imputed cells per iteration (z-scale):",
          ", ".join(f"{c:.3f}" for c in history.change))
    with pd.option_context("display.float_format", "{:.2f}".format, "display.width", 120):
        print("\nWhat was imputed (all 5 draws together):")
        print(imp.summary().to_string())
        rows = imp.where["Ozone"].to_numpy().nonzero()[0][:5]
        draws = pd.DataFrame({f"draw {i}": imp.complete(i)["Ozone"].iloc[rows]
                              for i in range(1, 6)})
        print("\nOzone on the first five days where it was not measured, in each draw:")
        print(draws.to_string())
    formula = "Ozone ~ Q('Solar.R') + Wind + Temp"  # Q() quotes a name with a dot
    print(f"\nLinear regression {formula}, fitted on each completed table and pooled:")
    pooled = imp.fit(formula)
    print(pooled.summary())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "airquality_imputed_long.csv"
    atomic_write(path, lambda tmp: imp.complete("long", include=True).to_csv(tmp, index=False))
    print(f"\nWrote {path}: the original (.imp = 0) and the 5 completed tables, stacked as "
          "mice's complete(imp, 'long', include = TRUE).")


if __name__ == "__main__":
    main()
