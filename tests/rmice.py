"""Helpers that run R's mice through rpy2, the independent reference for pooling tests."""

import os

import pandas as pd

_LD_LIBRARY_PATH = os.environ.get("LD_LIBRARY_PATH")

import rpy2.robjects as ro  # noqa: E402 - starts the embedded R
from rpy2.robjects import default_converter, pandas2ri  # noqa: E402
from rpy2.robjects.conversion import localconverter  # noqa: E402

# Starting R sets LD_LIBRARY_PATH (R's lib folders first), which would leak into the
# subprocesses other tests start and make them load R's shared libraries (pyarrow then fails
# to import). The loader read it at start-up already, so restore it (R still needs R_HOME).
if _LD_LIBRARY_PATH is None:
    os.environ.pop("LD_LIBRARY_PATH", None)
else:
    os.environ["LD_LIBRARY_PATH"] = _LD_LIBRARY_PATH

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
