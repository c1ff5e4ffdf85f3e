"""Rubin's rules: combining analyses of m imputed tables, computed exactly as R's mice 3.15 does.

For each parameter with estimates Q_l and variances U_l (l = 1..m):
qbar = mean(Q), ubar = mean(U), b = var(Q), t = ubar + (1 + 1/m) b,
riv = (1 + 1/m) b / ubar, lambda = (1 + 1/m) b / t, and the Barnard-Rubin (1999) degrees of
freedom. Several parameters at once: the D1 Wald test of Li, Raghunathan and Rubin (1991), with
Reiter's (2007) small-sample degrees of freedom when the complete-data df is known (as mitml's
``testModels``, which mice's ``D1`` calls). Pooled R-squared: Harel (2009), as ``pool.r.squared``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

# mice's barnard.rubin() floors lambda at this value before computing the df.
LAMBDA_FLOOR = 1e-4


def barnard_rubin_df(m: int, b, t, dfcom=math.inf):
    """Barnard-Rubin (1999) degrees of freedom of the pooled estimate (mice's barnard.rubin)."""
    lam = np.maximum((1 + 1 / m) * np.asarray(b, dtype=float) / np.asarray(t, dtype=float),
                     LAMBDA_FLOOR)
    df_old = (m - 1) / lam**2
    if math.isinf(dfcom):
        return df_old
    df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return df_old * df_obs / (df_old + df_obs)


def rubin(Q: np.ndarray, U: np.ndarray, dfcom=math.inf) -> dict:
    """Rubin's rules per parameter: Q, U are [m, k] estimates and their variances."""
    Q, U = np.atleast_2d(np.asarray(Q, float)), np.atleast_2d(np.asarray(U, float))
    m = Q.shape[0]
    if m < 2:
        raise ValueError(f"pooling needs at least 2 analyses; got m={m}.")
    qbar, ubar = Q.mean(axis=0), U.mean(axis=0)
    b = Q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    riv = (1 + 1 / m) * b / ubar
    lam = (1 + 1 / m) * b / t
    df = barnard_rubin_df(m, b, t, dfcom)
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    return dict(m=m, qbar=qbar, ubar=ubar, b=b, t=t, riv=riv, lambda_=lam, df=df, fmi=fmi)


def pool_scalar(Q, U, n=math.inf, k=1) -> dict:
    """Pool one scalar estimate, as mice's ``pool.scalar(Q, U, n, k)``.

    Returns m, qhat, u, qbar, ubar, b, t, df, r (the riv) and fmi.
    """
    Q, U = np.asarray(Q, float).ravel(), np.asarray(U, float).ravel()
    if Q.shape != U.shape:
        raise ValueError(f"Q and U must have the same length; got {len(Q)} and {len(U)}.")
    pooled = rubin(Q[:, None], U[:, None], dfcom=n - k)
    out = {key: float(value[0]) if isinstance(value, np.ndarray) else value
           for key, value in pooled.items()}
    return dict(m=out["m"], qhat=Q, u=U, qbar=out["qbar"], ubar=out["ubar"], b=out["b"],
                t=out["t"], df=out["df"], r=out["riv"], fmi=out["fmi"])


def d1_test(Q: np.ndarray, U: np.ndarray, dfcom=None) -> dict:
    """D1 multivariate Wald test that all k parameters are 0.

    Q [m, k] estimates, U [m, k, k] covariances. Returns F, df1 (= k), df2, p-value and the
    average relative increase in variance r, as mitml's ``testModels(method = "D1")``.
    """
    Q, U = np.asarray(Q, float), np.asarray(U, float)
    m, k = Q.shape
    qbar, ubar = Q.mean(axis=0), U.mean(axis=0)
    B = np.atleast_2d(np.cov(Q.T, ddof=1))
    r = (1 + 1 / m) * np.trace(B @ np.linalg.inv(ubar)) / k
    F = float(qbar @ np.linalg.solve((1 + r) * ubar, qbar) / k)
    t = k * (m - 1)
    if dfcom is not None and math.isfinite(dfcom):
        # Reiter (2007).
        a = r * t / (t - 2)
        vstar = (dfcom + 1) / (dfcom + 3) * dfcom
        c0, c1, c2 = 1 / (t - 4), vstar - 2 * (1 + a), vstar - 4 * (1 + a)
        z = (1 / c2 + c0 * (a**2 * c1 / ((1 + a) ** 2 * c2))
             + c0 * (8 * a**2 * c1 / ((1 + a) * c2**2) + 4 * a**2 / ((1 + a) * c2))
             + c0 * (4 * a**2 / (c2 * c1) + 16 * a**2 * c1 / c2**3) + c0 * (8 * a**2 / c2**2))
        df2 = 4 + 1 / z
    elif t > 4:
        df2 = 4 + (t - 4) * (1 + (1 - 2 / t) / r) ** 2
    else:
        df2 = t * (1 + 1 / k) * (1 + 1 / r) ** 2 / 2
    return dict(F=F, df1=k, df2=float(df2), p_value=float(stats.f.sf(F, k, df2)), riv=float(r))


def pooled_r_squared(r_squared, nobs) -> dict:
    """Harel's pooled R^2: Fisher z of sqrt(R^2), pooled with variance 1/(n-3) (pool.r.squared)."""
    r = np.sqrt(np.asarray(r_squared, float))
    z = 0.5 * np.log((r + 1) / (1 - r))
    fit = pool_scalar(z, 1 / (np.asarray(nobs, float) - 3))
    back = lambda q: ((math.exp(2 * q) - 1) / (1 + math.exp(2 * q))) ** 2  # noqa: E731
    half = 1.96 * math.sqrt(fit["t"])
    return {"est": back(fit["qbar"]), "lo 95": back(fit["qbar"] - half),
            "hi 95": back(fit["qbar"] + half), "fmi": fit["fmi"]}


@dataclass
class PooledResult:
    """Pooled estimates of m analyses; columns and names follow mice's ``summary(pool(fit))``.

    ``params``, ``bse``, ``tvalues``, ``pvalues`` and ``conf_int`` read like statsmodels';
    ``to_frame()`` has mice's columns.
    """

    terms: list
    estimates: np.ndarray  # [m, k] per-imputation estimates
    covariances: np.ndarray  # [m, k, k] per-imputation covariances
    dfcom: float = math.inf
    r_squared: np.ndarray | None = None  # per imputation, OLS only
    r_squared_adj: np.ndarray | None = None
    nobs: np.ndarray | None = None
    model_name: str = ""
    analyses: list | None = field(default=None, repr=False)  # the m fitted results

    def __post_init__(self):
        variances = np.diagonal(self.covariances, axis1=1, axis2=2)
        pooled = rubin(self.estimates, variances, self.dfcom)
        self.m = pooled["m"]
        index = pd.Index(self.terms)
        for key in ("qbar", "ubar", "b", "t", "riv", "lambda_", "df", "fmi"):
            setattr(self, key, pd.Series(pooled[key], index=index, name=key))

    @property
    def params(self) -> pd.Series:
        return self.qbar.rename("estimate")

    @property
    def bse(self) -> pd.Series:
        return np.sqrt(self.t).rename("std.error")

    @property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("statistic")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values from t with the Barnard-Rubin df (floored at 0.001, as mice)."""
        p = 2 * stats.t.sf(np.abs(self.tvalues), np.maximum(self.df, 0.001))
        return pd.Series(p, index=self.params.index, name="p.value")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        q = stats.t.ppf(1 - alpha / 2, self.df)
        lo, hi = self.params - q * self.bse, self.params + q * self.bse
        pct = lambda a: f"{100 * a:.3g} %"  # noqa: E731 - mice's column names
        return pd.DataFrame({pct(alpha / 2): lo, pct(1 - alpha / 2): hi})

    def cov_params(self) -> pd.DataFrame:
        """Total covariance T = Ubar + (1 + 1/m) B of the pooled estimates."""
        ubar = self.covariances.mean(axis=0)
        B = np.atleast_2d(np.cov(self.estimates.T, ddof=1))
        return pd.DataFrame(ubar + (1 + 1 / self.m) * B, index=self.terms, columns=self.terms)

    def to_frame(self, conf_int: bool = False, alpha: float = 0.05) -> pd.DataFrame:
        """mice's ``summary(pool(fit), type = "all", conf.int = ...)`` as a DataFrame."""
        frame = pd.DataFrame({
            "term": self.terms, "m": self.m, "estimate": self.params.to_numpy(),
            "std.error": self.bse.to_numpy(), "statistic": self.tvalues.to_numpy(),
            "df": self.df.to_numpy(), "p.value": self.pvalues.to_numpy(),
        })
        if conf_int:
            ci = self.conf_int(alpha)
            for name in ci.columns:
                frame[name] = ci[name].to_numpy()
        for name, values in (("riv", self.riv), ("lambda", self.lambda_), ("fmi", self.fmi),
                             ("ubar", self.ubar), ("b", self.b), ("t", self.t)):
            frame[name] = values.to_numpy()
        frame["dfcom"] = self.dfcom
        return frame

    def wald_test(self, terms=None) -> dict:
        """D1 test that the given coefficients (default: all) are jointly zero, as mice's D1."""
        names = list(self.terms) if terms is None else list(terms)
        unknown = [t for t in names if t not in self.terms]
        if unknown:
            raise ValueError(f"terms {unknown} are not in the model; known: {list(self.terms)}.")
        idx = [list(self.terms).index(t) for t in names]
        return d1_test(self.estimates[:, idx], self.covariances[:, idx][:, :, idx], self.dfcom)

    def rsquared(self, adjusted: bool = False) -> dict:
        """Pooled (adjusted) R^2 with a 95% interval and fmi, as mice's pool.r.squared."""
        values = self.r_squared_adj if adjusted else self.r_squared
        if values is None:
            raise ValueError("R-squared pooling needs OLS fits "
                             "(statsmodels results with rsquared).")
        return pooled_r_squared(values, self.nobs)

    def summary(self, alpha: float = 0.05) -> str:
        """A statsmodels-like text table of the pooled estimates with riv, lambda and fmi."""
        frame = self.to_frame(conf_int=True, alpha=alpha).set_index("term")
        cols = ["estimate", "std.error", "statistic", "df", "p.value",
                *self.conf_int(alpha).columns, "riv", "lambda", "fmi"]
        head = [
            f"Pooled {self.model_name or 'model'} over m = {self.m} imputations (Rubin's rules)",
            f"Complete-data df: {self.dfcom:g}; df: Barnard-Rubin (1999)",
        ]
        body = frame[cols].to_string(float_format=lambda v: f"{v:.4g}")
        width = max(len(line) for line in body.splitlines())
        notes = ["riv: relative increase in variance due to nonresponse; lambda: proportion of",
                 "total variance due to missingness; fmi: fraction of missing information."]
        return "\n".join([*head, "=" * width, body, "=" * width, *notes])

    def __repr__(self) -> str:
        return f"<PooledResult: {len(self.terms)} terms, m={self.m}>"


def _estimate_and_cov(fit) -> tuple[list, np.ndarray, np.ndarray]:
    """(names, estimate [k], covariance [k, k]) of a statsmodels result or a pair."""
    if isinstance(fit, tuple) and len(fit) == 2:
        est, cov = fit
        names = list(est.index) if isinstance(est, pd.Series) else list(range(len(np.ravel(est))))
        est = np.asarray(est, float).ravel()
        cov = np.asarray(cov, float)
        cov = np.diag(cov) if cov.ndim == 1 else cov
        if cov.shape != (len(est), len(est)):
            raise ValueError(f"covariance of shape {cov.shape} does not match "
                             f"{len(est)} estimates.")
        return names, est, cov
    if not (hasattr(fit, "params") and hasattr(fit, "cov_params")):
        raise TypeError("pool() takes fitted statsmodels results or (estimate, covariance) pairs; "
                        f"got {type(fit).__name__}.")
    params = fit.params
    names = list(params.index) if isinstance(params, pd.Series) else list(range(len(params)))
    return names, np.asarray(params, float).ravel(), np.asarray(fit.cov_params(), float)


def aliased_columns(exog: np.ndarray, tol: float = 1e-7) -> list[int]:
    """Columns of ``exog`` that are zero or a combination of the columns before them: the
    coefficients R's ``lm`` reports as NA (its QR's tolerance, relative to each column's norm)."""
    exog = np.asarray(exog, float)
    r = np.zeros(exog.shape[1])  # beyond the number of rows every column is aliased
    diagonal = np.abs(np.diag(np.linalg.qr(exog, mode="r")))
    r[: len(diagonal)] = diagonal
    norms = np.linalg.norm(exog, axis=0)
    return [j for j in range(exog.shape[1]) if r[j] <= tol * norms[j]]


def _refuse_aliased(fits, names) -> None:
    """A clear error where an analysis could not estimate some coefficients: statsmodels
    returns a minimum-norm value for them, which pooling would mix with real estimates."""
    for i, fit in enumerate(fits, start=1):
        exog = getattr(getattr(fit, "model", None), "exog", None)
        if exog is None or np.ndim(exog) != 2 or exog.shape[1] != len(names):
            continue
        aliased = [names[j] for j in aliased_columns(exog)]
        if aliased:
            raise ValueError(
                f"Analysis {i} cannot estimate {aliased}: their design columns are zero or a "
                "combination of the others in that completed table (a level it lacks, or "
                "collinear terms); mice would pool them over the other analyses alone and "
                "give them no standard error. Drop unused categories "
                "(Series.cat.remove_unused_categories()) or the collinear terms.")


def _complete_data_df(fits) -> float:
    """mice's default dfcom: the residual df of the first fit, else infinite."""
    df_resid = getattr(fits[0], "df_resid", None)
    return float(df_resid) if df_resid is not None else math.inf


def pool(fits, dfcom=None) -> PooledResult:
    """Pool fitted analyses of the m imputed tables with Rubin's rules (mice's ``pool``).

    ``fits``: statsmodels results, or (estimate, covariance) pairs (a vector of variances is
    taken as a diagonal covariance). ``dfcom``: complete-data degrees of freedom; by default
    the residual df of the fits (infinite for pairs). A fit that could not estimate some
    coefficients (a zero or collinear design column) is refused, naming them.
    """
    fits = list(fits)
    if len(fits) < 2:
        raise ValueError(f"pool() needs at least 2 fitted analyses; got {len(fits)}.")
    parts = [_estimate_and_cov(f) for f in fits]
    names = parts[0][0]
    if any(p[0] != names for p in parts):
        raise ValueError("the fits estimate different parameters; "
                         "fit the same model on each table.")
    _refuse_aliased(fits, names)
    dfcom = _complete_data_df(fits) if dfcom is None else max(float(dfcom), 1.0)
    rsq = [getattr(f, "rsquared", None) for f in fits]
    has_rsq = all(isinstance(v, (float, np.floating)) for v in rsq)
    model = getattr(getattr(fits[0], "model", None), "__class__", type(None)).__name__
    return PooledResult(
        terms=names,
        estimates=np.stack([p[1] for p in parts]),
        covariances=np.stack([p[2] for p in parts]),
        dfcom=dfcom,
        r_squared=np.array(rsq, float) if has_rsq else None,
        r_squared_adj=np.array([f.rsquared_adj for f in fits], float) if has_rsq else None,
        nobs=np.array([f.nobs for f in fits], float) if has_rsq else None,
        model_name="" if model == "NoneType" else model,
    )
