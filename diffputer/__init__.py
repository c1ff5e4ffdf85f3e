"""diffputer: missing-data imputation with diffusion models and EM (DiffPuter, ICLR 2025).

Quick start::

    import diffputer
    df = diffputer.load_airquality()
    imp = diffputer.impute(df, m=5, random_state=1)
    imp.complete(1)          # the first completed table
    imp.complete("long")     # all of them, stacked with .imp and .id, as in mice
"""

from ._widgets import explore
from .ampute import ampute, missing_mask
from .checkpoint import CheckpointError
from .datasets import load_airquality
from .training import DivergenceError
from .estimator import DiffPuter, impute
from .history import History
from .persistence import ModelFileError
from .pooling import PooledResult, pool, pool_scalar
from .result import MultipleImputation
from .settings import PRESETS, Settings

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DiffPuter",
    "DivergenceError",
    "History",
    "ModelFileError",
    "MultipleImputation",
    "PRESETS",
    "PooledResult",
    "Settings",
    "ampute",
    "explore",
    "impute",
    "load_airquality",
    "missing_mask",
    "pool",
    "pool_scalar",
]
