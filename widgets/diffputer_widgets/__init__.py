"""diffputer's Jupyter explorer (install with ``pip install diffputer[widgets]``).

``diffputer.explore(df_or_result_or_model)`` shows the widget; the same views are plain
matplotlib functions: ``plot_missingness``, ``plot_pattern``, ``plot_nullity_correlation``,
``plot_convergence``, ``plot_imputations``.
"""

from .explorer import ImputationExplorer, explore
from .patterns import missing_pattern, nullity_correlation, percent_missing
from .plots import (plot_convergence, plot_imputations, plot_missingness,
                    plot_nullity_correlation, plot_pattern)

__all__ = ["ImputationExplorer", "explore", "missing_pattern", "nullity_correlation",
           "percent_missing", "plot_convergence", "plot_imputations", "plot_missingness",
           "plot_nullity_correlation", "plot_pattern"]
