"""Helpers that run R's mice through rpy2, the independent reference for pooling tests."""

import numpy as np
import pandas as pd
import rpy2.robjects as ro
from rpy2.robjects import default_converter, pandas2ri
from rpy2.robjects.conversion import localconverter

ro.r("suppressPackageStartupMessages(library(mice))")
MICE_VERSION = str(ro.r("as.character(packageVersion('mice'))")[0])


def to_r(df: pd.DataFrame):
    with localconverter(default_converter + pandas2ri.converter):
        return ro.conversion.get_conversion().py2rpy(df)


def to_py(obj):
    with localconverter(default_converter + pandas2ri.converter):
        return ro.conversion.get_conversion().rpy2py(obj)


def r_function(code: str):
    return ro.r(code)


def r_list(items):
    return ro.ListVector({str(i + 1): item for i, item in enumerate(items)})
