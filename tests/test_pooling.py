"""Rubin's rules against R's mice (run through rpy2) on the same completed tables."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import diffputer
from diffputer import pool, pool_scalar

from . import rmice

RTOL = 1e-10
MICE_COLUMNS = ["estimate", "std.error", "statistic", "df", "p.value", "2.5 %", "97.5 %",
                "riv", "lambda", "fmi", "ubar", "b", "t", "dfcom"]

R_POOL = rmice.r_function("""
function(tables, formula, family, dfcom) {
  fit_one <- function(d) {
    if (family == "gaussian-lm") lm(as.formula(formula), data = d)
    else glm(as.formula(formula), data = d, family = family,
             control = glm.control(epsilon = 1e-15, maxit = 100))
  }
  fits <- lapply(tables, fit_one)
  p <- if (is.na(dfcom)) pool(as.mira(fits)) else pool(as.mira(fits), dfcom = dfcom)
  s <- summary(p, type = "all", conf.int = TRUE)
  est <- lapply(fits, coef)
  cov <- lapply(fits, vcov)
  list(summary = as.data.frame(s)[, -1], est = est, cov = cov,
       dfres = fits[[1]]$df.residual)
}
""")


@pytest.fixture(scope="module")
def imputed():
    """m = 4 completed tables of a mixed table, imputed by diffputer."""
    rng = np.random.default_rng(3)
    n = 120
    x1 = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], size=n)
    x2 = rng.normal(size=n) + 0.5 * x1
    y = 1 + 2 * x1 - x2 + (g == "b") + rng.normal(size=n)
    count = rng.poisson(np.exp(0.3 + 0.4 * x1))
    df = pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": pd.Categorical(g),
                       "count": count.astype(float)})
    df["yes"] = (y + rng.normal(size=n) > 1).astype(float)
    holes = rng.random(df.shape) < 0.15
    holes[:, 0] = False
    holes[:, -1] = False
    holes[:, -2] = False
    df = df.mask(holes)
    return diffputer.impute(df, m=4, width=32, max_steps=40, max_iter=2, n_steps=4, resample=1,
                            corrector_steps=2, progress=False, random_state=0)


def _r_pool(imp, formula, family="gaussian-lm", dfcom=None):
    tables = rmice.r_list([rmice.to_r(imp.complete(i)) for i in range(1, imp.m + 1)])
    out = R_POOL(tables, formula, family, math.nan if dfcom is None else dfcom)
    summary = rmice.to_py(out.rx2("summary"))
    est = [np.asarray(e) for e in out.rx2("est")]
    cov = [np.asarray(c) for c in out.rx2("cov")]
    return summary.reset_index(drop=True), est, cov, float(out.rx2("dfres")[0])


def _assert_frames_match(ours: pd.DataFrame, theirs: pd.DataFrame, rtol=RTOL):
    for column in MICE_COLUMNS:
        np.testing.assert_allclose(ours[column].to_numpy(float), theirs[column].to_numpy(float),
                                   rtol=rtol, atol=0, err_msg=column)


def test_the_reference_is_debian_mice_3_15():
    assert rmice.MICE_VERSION.startswith("3.15")


@pytest.mark.parametrize("dfcom", [None, 50])
def test_pool_equals_mice_on_the_same_estimates(imputed, dfcom):
    """Pooling alone: R's per-table estimates and covariances, pooled by both."""
    summary, est, cov, _ = _r_pool(imputed, "y ~ x1 + x2 + g", dfcom=dfcom)
    dfres = _r_pool(imputed, "y ~ x1 + x2 + g")[3]
    ours = pool(list(zip(est, cov)), dfcom=dfres if dfcom is None else dfcom)
    _assert_frames_match(ours.to_frame(conf_int=True), summary)


def test_ols_fit_equals_mice_with_lm(imputed):
    summary, *_ = _r_pool(imputed, "y ~ x1 + x2 + g")
    ours = imputed.fit("y ~ x1 + x2 + g")
    assert sorted(ours.terms) == sorted(["Intercept", "g[T.b]", "g[T.c]", "x1", "x2"])
    frame = ours.to_frame(conf_int=True)
    # patsy orders factor terms first, R in formula order: align by name.
    order = [ours.terms.index(t) for t in ["Intercept", "x1", "x2", "g[T.b]", "g[T.c]"]]
    _assert_frames_match(frame.iloc[order].reset_index(drop=True), summary)


@pytest.mark.parametrize("model, family, formula", [
    ("logit", "binomial", "yes ~ x1 + x2"),
    ("poisson", "poisson", "count ~ x1 + x2"),
])
def test_glm_fits_equal_mice_with_glm(imputed, model, family, formula):
    summary, *_ = _r_pool(imputed, formula, family)
    if model == "logit":
        ours = imputed.fit(formula, model="glm", family=sm.families.Binomial(),
                           fit_kwargs={"tol": 1e-15, "maxiter": 100})
        logit = imputed.fit(formula, model="logit")
        np.testing.assert_allclose(logit.params, ours.params, rtol=1e-6)
    else:
        ours = imputed.fit(formula, model="glm", family=sm.families.Poisson(),
                           fit_kwargs={"tol": 1e-15, "maxiter": 100})
    # Two optimisers (statsmodels IRLS, R's glm.fit) agree to about 1e-10; the
    # Barnard-Rubin df magnifies that through a small between-imputation variance.
    _assert_frames_match(ours.to_frame(conf_int=True), summary, rtol=1e-6)


def test_pool_scalar_equals_mice():
    Q = np.array([1.2, 0.9, 1.5, 1.1, 1.3])
    U = np.array([0.04, 0.05, 0.045, 0.05, 0.041])
    for n, k in ((math.inf, 1), (40, 3)):
        theirs = rmice.r_function("function(Q, U, n, k) mice::pool.scalar(Q, U, n, k)")(
            rmice.ro.FloatVector(Q), rmice.ro.FloatVector(U), n, k)
        ours = pool_scalar(Q, U, n=n, k=k)
        for key in ("qbar", "ubar", "b", "t", "df", "r", "fmi"):
            assert ours[key] == pytest.approx(float(theirs.rx2(key)[0]), rel=RTOL, abs=0), key


def test_d1_equals_mice_d1(imputed):
    formula = "y ~ x1 + x2"
    tables = rmice.r_list([rmice.to_r(imputed.complete(i)) for i in range(1, imputed.m + 1)])
    theirs = rmice.r_function("""
    function(tables) {
      fit1 <- as.mira(lapply(tables, function(d) lm(y ~ x1 + x2, data = d)))
      fit0 <- as.mira(lapply(tables, function(d) lm(y ~ 1, data = d)))
      res <- D1(fit1, fit0)$result
      res
    }""")(tables)
    theirs = np.asarray(theirs).ravel()  # F.value, df1, df2, P(>F), RIV
    ours = imputed.fit(formula).wald_test(["x1", "x2"])
    np.testing.assert_allclose([ours["F"], ours["df1"], ours["df2"], ours["p_value"], ours["riv"]],
                               theirs, rtol=1e-9)


def test_pooled_r_squared_equals_mice(imputed):
    tables = rmice.r_list([rmice.to_r(imputed.complete(i)) for i in range(1, imputed.m + 1)])
    fn = rmice.r_function("""
    function(tables, adj) {
      fit <- as.mira(lapply(tables, function(d) lm(y ~ x1 + x2 + g, data = d)))
      pool.r.squared(fit, adjusted = adj)
    }""")
    pooled = imputed.fit("y ~ x1 + x2 + g")
    for adjusted in (False, True):
        theirs = np.asarray(fn(tables, adjusted)).ravel()
        ours = pooled.rsquared(adjusted=adjusted)
        np.testing.assert_allclose([ours["est"], ours["lo 95"], ours["hi 95"], ours["fmi"]],
                                   theirs, rtol=1e-10)


def test_pooled_result_reads_like_statsmodels(imputed):
    pooled = imputed.fit("y ~ x1 + x2")
    assert list(pooled.params.index) == ["Intercept", "x1", "x2"]
    np.testing.assert_allclose(pooled.bse, np.sqrt(np.diag(pooled.cov_params())), rtol=1e-12)
    np.testing.assert_allclose(pooled.tvalues, pooled.params / pooled.bse)
    ci = pooled.conf_int(0.1)
    assert list(ci.columns) == ["5 %", "95 %"]
    text = pooled.summary()
    for word in ("estimate", "riv", "lambda", "fmi", "x1", "m = 4"):
        assert word in text
    assert len(pooled.analyses) == 4


def test_pool_refuses_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        pool([(np.ones(2), np.eye(2))])
    with pytest.raises(TypeError, match="statsmodels results or"):
        pool(["a", "b"])
    with pytest.raises(ValueError, match="different parameters"):
        pool([(pd.Series([1.0], index=["a"]), [[1.0]]), (pd.Series([1.0], index=["b"]), [[1.0]])])


def test_fit_refuses_an_unknown_model(imputed):
    with pytest.raises(ValueError, match="model must be one of"):
        imputed.fit("y ~ x1", model="lasso")


def test_pool_refuses_coefficients_an_analysis_could_not_estimate():
    """A level drawn in one imputation only: the other's design has a zero column, for which
    statsmodels returns a minimum-norm 0 that pooling would average with a real estimate."""
    rng = np.random.default_rng(0)
    levels = pd.Categorical(rng.choice(["a", "b"], 30), categories=["a", "b", "c"])
    data = pd.DataFrame({"y": rng.normal(size=30), "x": rng.normal(size=30), "g": levels})
    data.loc[[0, 1], "g"] = np.nan
    draws = [{2: np.array(["c", "c"], dtype=object)}, {2: np.array(["a", "b"], dtype=object)}]
    imp = diffputer.MultipleImputation(data, draws,
                                       diffputer.History(variables=list(data.columns)))
    with pytest.raises(ValueError, match=r"Analysis 2 cannot estimate \['g\[T.c\]'\]"):
        imp.fit("y ~ x + g")
    collinear = pd.DataFrame({"const": 1.0, "x": data["x"], "twice": 2 * data["x"]})
    fit = sm.OLS(data["y"], collinear).fit()
    with pytest.raises(ValueError, match=r"Analysis 1 cannot estimate \['twice'\]"):
        pool([fit, fit])
