"""Small real datasets bundled with the package."""

from __future__ import annotations

from importlib import resources

import pandas as pd

MONTHS = ["May", "June", "July", "August", "September"]


def load_airquality() -> pd.DataFrame:
    """Daily air quality in New York, May to September 1973 (153 days, real missing values).

    Columns: ``Ozone`` (ppb, 37 missing), ``Solar.R`` (langleys, 7 missing), ``Wind`` (mph),
    ``Temp`` (degrees F), ``Month`` (ordered categorical), ``Day``. Ozone data from the New
    York State Department of Conservation, meteorological data from the National Weather
    Service, as distributed with R's ``datasets`` package (Chambers, Cleveland, Kleiner and
    Tukey, 1983, *Graphical Methods for Data Analysis*).
    """
    with resources.files("diffputer").joinpath("data/airquality.csv").open("r") as f:
        df = pd.read_csv(f)
    df["Month"] = pd.Categorical.from_codes(df["Month"] - 5, categories=MONTHS, ordered=True)
    return df
