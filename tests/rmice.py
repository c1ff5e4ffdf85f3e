"""Helpers that run R's mice through rpy2, the independent reference for pooling tests."""

import pandas as pd

from diffputer.r_bridge import _robjects

# R is started through the bridge first: it keeps R's LD_LIBRARY_PATH out of subprocesses.
ro = _robjects()

from rpy2.robjects import default_converter, pandas2ri  # noqa: E402
from rpy2.robjects.conversion import localconverter  # noqa: E402
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
