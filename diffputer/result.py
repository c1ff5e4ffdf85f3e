"""The multiple-imputation result: m completed versions of one table, mice-style.

Only the imputed cells are stored (like mice's ``imp``); ``complete`` rebuilds tables on demand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .encoding import fill_cells
from .history import History
from .pooling import PooledResult, pool

COMPLETE_ACTIONS = ("long", "broad", "repeated", "all")
FORMULA_MODELS = ("ols", "wls", "glm", "logit", "probit", "poisson")
# Discrete-choice fits print optimiser chatter unless told not to.
_QUIET_FIT = {"logit": {"disp": 0}, "probit": {"disp": 0}, "poisson": {"disp": 0}}


def _model_builder(model):
    """A callable (formula, data, **kwargs) -> statsmodels model or fitted result."""
    if isinstance(model, str):
        if model not in FORMULA_MODELS:
            raise ValueError(f"model must be one of {list(FORMULA_MODELS)}, a statsmodels model "
                             f"class or a callable; got model={model!r}.")
        import statsmodels.formula.api as smf

        return getattr(smf, model)
    if hasattr(model, "from_formula"):
        return model.from_formula
    if callable(model):
        return model
    raise TypeError("model must be a name, a statsmodels model class or a callable; "
                    f"got {model!r}.")


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def _pooled_cells(column: pd.Series, draws: list[np.ndarray]) -> np.ndarray:
    """Point estimate per imputed cell: mean over draws (numeric) or most frequent value."""
    stacked = np.stack([np.asarray(d, dtype=object) for d in draws])
    if _is_numeric(column):
        mean = stacked.astype(float).mean(axis=0)
        return np.rint(mean) if pd.api.types.is_integer_dtype(column.dtype) else mean
    modes = []
    for cell in stacked.T:
        values, counts = np.unique(cell.astype(str), return_counts=True)
        winner = values[np.argmax(counts)]
        modes.append(next(v for v in cell if str(v) == winner))
    return np.asarray(modes, dtype=object)


class MultipleImputation:
    """m imputations of ``data``; the analogue of mice's ``mids``.

    Attributes: ``data`` (the incomplete table), ``m``, ``where`` (True where a cell was
    missing and is imputed), ``imp`` (per draw: column position -> imputed values),
    ``history`` (the EM record, with mice's ``chain_mean`` / ``chain_var``), ``model``.
    """

    def __init__(self, data: pd.DataFrame, imp: list[dict[int, np.ndarray]], history: History,
                 model=None):
        self.data = data
        self.imp = imp
        self.history = history
        self.model = model

    @classmethod
    def from_long(cls, long: pd.DataFrame, imp: str = ".imp", id: str | None = ".id"):
        """Imputations stacked in one table (mice's ``as.mids``): rows with ``imp`` = 0 hold
        the incomplete data, rows with ``imp`` = 1..m its completed versions, in the same
        row order; ``id`` (optional) becomes the index.
        """
        if imp not in long.columns:
            raise KeyError(f"The long table has no imputation column {imp!r}.")
        index = long[imp].to_numpy()
        sizes = pd.Series(index).value_counts().sort_index()
        numbered = list(sizes.index) == list(range(len(sizes)))
        if pd.isna(index).any() or not numbered or sizes.nunique() != 1:
            raise ValueError(f"Column {imp!r} must number the tables 0..m, with equal row counts; "
                             f"got counts {sizes.to_dict()}.")
        keep = [c for c in long.columns if c not in (imp, id)]
        tables = [long.loc[index == i, keep].reset_index(drop=True) for i in sizes.index]
        data = tables[0]
        if id is not None and id in long.columns:
            data.index = pd.Index(long.loc[index == 0, id].to_numpy())
        where = data.isna().to_numpy()
        incomplete = [j for j in range(data.shape[1]) if where[:, j].any()]
        cells = [{j: t.iloc[where[:, j], j].to_numpy() for j in incomplete} for t in tables[1:]]
        return cls(data, cells, History(variables=list(data.columns)))

    @classmethod
    def concat(cls, parts: list["MultipleImputation"]) -> "MultipleImputation":
        """The imputations of the table whose consecutive shards of rows ``parts`` impute (the
        same columns and m in each; the history and model of the first)."""
        if len({part.m for part in parts}) > 1:
            raise ValueError(f"The shards hold different numbers of imputations: "
                             f"{[part.m for part in parts]}.")
        data = pd.concat([part.data for part in parts])
        imp = [{j: np.concatenate([part.imp[i][j] for part in parts if j in part.imp[i]])
                for j in range(data.shape[1]) if any(j in part.imp[i] for part in parts)}
               for i in range(parts[0].m)]
        return cls(data, imp, parts[0].history, model=parts[0].model)

    @property
    def m(self) -> int:
        return len(self.imp)

    @property
    def where(self) -> pd.DataFrame:
        return self.data.isna()

    @property
    def chain_mean(self) -> np.ndarray:
        """[variables, iterations, m] means of the imputed cells (mice's ``chainMean``)."""
        return self.history.chain_mean[:, :, : self.m]

    @property
    def chain_var(self) -> np.ndarray:
        """[variables, iterations, m] variances of the imputed cells (mice's ``chainVar``)."""
        return self.history.chain_var[:, :, : self.m]

    def complete(self, action=1, include: bool = False):
        """A completed table, or several, as mice's ``complete()``.

        ``action``: 0 (the original, incomplete data), 1..m (one imputation), ``"long"``
        (rows stacked with ``.imp`` and ``.id`` columns), ``"broad"`` (columns side by side,
        grouped by imputation, named ``col.i``), ``"repeated"`` (the same, grouped by column),
        ``"all"`` (a list of tables). ``include=True`` adds the original as imputation 0.
        """
        if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
            if not 0 <= action <= self.m:
                raise ValueError(f"action must be between 0 and m={self.m}; got action={action}.")
            return self.data.copy() if action == 0 else fill_cells(self.data, self.imp[action - 1])
        if action not in COMPLETE_ACTIONS:
            raise ValueError(
                f"action must be an integer 0..{self.m} or one of {list(COMPLETE_ACTIONS)}; "
                f"got action={action!r}."
            )
        first = 0 if include else 1
        tables = [self.complete(i) for i in range(first, self.m + 1)]
        if action == "all":
            return tables
        if action == "long":
            taken = [name for name in (".imp", ".id") if name in self.data.columns]
            if taken:
                raise ValueError(f"Column {taken[0]!r} has the name of a column the long format "
                                 "adds; rename it to stack the imputations.")
            stacked = []
            for i, table in zip(range(first, self.m + 1), tables):
                front = pd.DataFrame({".imp": i, ".id": table.index}, index=table.index)
                stacked.append(pd.concat([front, table], axis=1))
            return pd.concat(stacked, ignore_index=True)
        renamed = [t.set_axis([f"{c}.{i}" for c in t.columns], axis=1)
                   for i, t in zip(range(first, self.m + 1), tables)]
        broad = pd.concat(renamed, axis=1)
        if action == "repeated":
            order = [f"{c}.{i}" for c in self.data.columns for i in range(first, self.m + 1)]
            broad = broad[order]
        return broad

    def fit(self, formula: str, model="ols", *, dfcom=None, fit_kwargs=None,
            **kwargs) -> PooledResult:
        """Fit ``model`` on each completed table and pool with Rubin's rules (mice's with + pool).

        ``model``: "ols", "wls", "glm", "logit", "probit", "poisson" (statsmodels' formula
        API), a statsmodels model class, or a callable ``(formula, data, **kwargs)`` returning
        a model or a fitted result. ``kwargs`` go to the model (e.g. ``family=`` for glm),
        ``fit_kwargs`` to its ``fit``. ``dfcom`` as in ``pool``.
        """
        build = _model_builder(model)
        quiet = _QUIET_FIT.get(model, {}) if isinstance(model, str) else {}
        options = {**quiet, **(fit_kwargs or {})}
        fits = []
        for i in range(1, self.m + 1):
            built = build(formula, data=self.complete(i), **kwargs)
            fits.append(built.fit(**options) if hasattr(built, "fit") else built)
        result = pool(fits, dfcom=dfcom)
        result.analyses = fits
        return result

    def mean(self) -> pd.DataFrame:
        """Point estimate: per imputed cell the mean of the draws (mode for categoricals)."""
        cells = {
            j: _pooled_cells(self.data.iloc[:, j], [draw[j] for draw in self.imp])
            for j in self.imp[0]
        } if self.imp else {}
        return fill_cells(self.data, cells)

    def summary(self) -> pd.DataFrame:
        """Per variable: missing count and share, and the imputed cells' mean or top level."""
        rows = []
        for j, name in enumerate(self.data.columns):
            column = self.data.iloc[:, j]
            n_missing = int(column.isna().sum())
            row = {"variable": name, "missing": n_missing,
                   "percent": 100 * n_missing / max(len(column), 1)}
            if n_missing and self.imp:
                values = np.concatenate([np.asarray(d[j], dtype=object) for d in self.imp])
                if _is_numeric(column):
                    row["observed mean"] = float(column.mean())
                    row["imputed mean"] = float(values.astype(float).mean())
                    row["imputed sd"] = (float(values.astype(float).std(ddof=1))
                                         if len(values) > 1 else np.nan)
                else:
                    counts = pd.Series(values.astype(str)).value_counts(normalize=True)
                    row["imputed top level"] = f"{counts.index[0]} ({100 * counts.iloc[0]:.0f}%)"
            rows.append(row)
        return pd.DataFrame(rows).set_index("variable")

    def to_mids(self):
        """This result as an R mice ``mids`` (an rpy2 object; needs rpy2, R and mice)."""
        from .r_bridge import to_mids

        return to_mids(self)

    def __repr__(self) -> str:
        n, p = self.data.shape
        n_missing = int(self.where.to_numpy().sum())
        return (f"<MultipleImputation: m={self.m}, {n} rows x {p} columns, "
                f"{n_missing} cells imputed, {self.history.n_iter} EM iterations>")
