"""The Python side of the R bridge: conversions, mids, and the R package's entry point."""

import numpy as np
import pandas as pd
import pytest

import diffputer
from diffputer import r_bridge

from .rmice import MICE_VERSION, r_function
from .conftest import TINY

ro = r_bridge._robjects()
identical = r_function("function(a, b) identical(a, b)")
all_equal = r_function("function(a, b) isTRUE(all.equal(a, b))")
ODD = """data.frame(
  i = c(1L, NA, 3L), l = c(TRUE, NA, FALSE), s = c("a", NA, "b"),
  o = factor(c("lo", NA, "hi"), levels = c("lo", "hi"), ordered = TRUE),
  d = c(1.5, NA, 2), row.names = c("r1", "r2", "r3"), stringsAsFactors = FALSE)"""


def nhanes2():
    return ro.r("mice::nhanes2")


def test_nhanes2_round_trip_is_identical_in_r():
    frame = r_bridge.from_r(nhanes2())
    assert isinstance(frame["age"].dtype, pd.CategoricalDtype)
    assert list(frame["hyp"].cat.categories) == ["no", "yes"]
    assert frame["bmi"].isna().sum() == 9
    assert identical(nhanes2(), r_bridge.to_r(frame))[0]


def test_every_column_type_and_its_na_round_trip():
    odd = ro.r(ODD)
    frame = r_bridge.from_r(odd)
    assert str(frame["i"].dtype) == "Int64" and frame["i"].isna().tolist() == [False, True, False]
    assert str(frame["l"].dtype) == "boolean" and frame["l"].isna().sum() == 1
    assert frame["o"].cat.ordered and list(frame["o"].cat.categories) == ["lo", "hi"]
    assert frame["s"].isna().tolist() == [False, True, False]
    assert list(frame.index) == ["r1", "r2", "r3"]
    assert all_equal(odd, r_bridge.to_r(frame))[0]


def test_unsupported_columns_are_named_in_the_error():
    with pytest.raises(TypeError, match="Column 'day' has R class Date"):
        r_bridge.from_r(ro.r("data.frame(day = Sys.Date() + 1:3, x = 1:3)"))
    with pytest.raises(TypeError, match="Column 'when'"):
        r_bridge.to_r(pd.DataFrame({"when": pd.date_range("2020-01-01", periods=3)}))
    with pytest.raises(TypeError, match="R data.frame"):
        r_bridge.from_r(ro.r("1:3"))


@pytest.fixture(scope="module")
def imputed():
    data = r_bridge.from_r(nhanes2())
    return diffputer.impute(data, m=3, **TINY)


def test_to_mids_is_a_mids_that_mice_pools_like_python(imputed):
    mids = imputed.to_mids()
    info = r_function("""function(x) list(is = mice::is.mids(x), m = x$m, it = x$iteration,
        method = unname(x$method), dims = dim(x$chainMean))""")(mids)
    assert info.rx2("is")[0] and info.rx2("m")[0] == 3 and info.rx2("it")[0] == TINY["max_iter"]
    assert list(info.rx2("method")) == ["", "diffputer", "diffputer", "diffputer"]
    assert list(info.rx2("dims")) == [4, TINY["max_iter"], 3]
    r_pooled = r_bridge.from_r(r_function(
        "function(x) summary(mice::pool(with(x, lm(chl ~ age + bmi))), type = 'all')")(mids))
    python = imputed.fit("chl ~ age + bmi").to_frame()
    for column in ("estimate", "std.error", "df", "riv", "lambda", "fmi"):
        np.testing.assert_allclose(python[column], r_pooled[column], rtol=1e-10)
    assert MICE_VERSION.startswith("3.")


def test_mids_back_to_python_keeps_every_draw(imputed):
    back = r_bridge.from_mids(imputed.to_mids())
    assert back.m == imputed.m
    for i in range(1, imputed.m + 1):
        pd.testing.assert_frame_equal(back.complete(i).reset_index(drop=True),
                                      imputed.complete(i).reset_index(drop=True))


def test_from_long_inverts_complete_long(imputed):
    back = diffputer.MultipleImputation.from_long(imputed.complete("long", include=True))
    for i in range(imputed.m + 1):
        pd.testing.assert_frame_equal(back.complete(i), imputed.complete(i))
    long = imputed.complete("long", include=True)
    with pytest.raises(ValueError, match="equal row counts"):
        diffputer.MultipleImputation.from_long(long.iloc[:-1])
    with pytest.raises(KeyError, match="no imputation column"):
        diffputer.MultipleImputation.from_long(long.drop(columns=".imp"))


def _request(tmp_path, **changes):
    fields = dict(data=nhanes2(), where=ro.NULL, m=ro.IntVector([2]), maxit=ro.IntVector([2]),
                  seed=ro.IntVector([5]), preset=ro.StrVector(["fast"]),
                  device=ro.StrVector(["cpu"]), progress=ro.BoolVector([False]),
                  options=ro.ListVector({k: v for k, v in TINY.items()
                                         if k not in ("max_iter", "progress", "random_state")}),
                  call=ro.StrVector(["diffputer(nhanes2)"]))
    fields.update(changes)
    request = ro.r["list"](**fields)
    path = tmp_path / "request.rds"
    ro.r["saveRDS"](request, str(path))
    return path


def test_bridge_entry_point_writes_a_mids(tmp_path):
    output = tmp_path / "mids.rds"
    assert r_bridge.main([str(_request(tmp_path)), str(output)]) == 0
    mids = r_bridge.read_rds(output)
    assert r_function("function(x) mice::is.mids(x) && x$m == 2 && x$seed == 5")(mids)[0]
    assert identical(r_function("function(x) x$data")(mids), nhanes2())[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mids.rds", "request.rds"]


def test_bridge_errors_reach_the_error_file_and_leave_no_output(tmp_path):
    options = ro.ListVector({"bogus_setting": 1})
    output, error = tmp_path / "mids.rds", tmp_path / "error.txt"
    code = r_bridge.main([str(_request(tmp_path, options=options)), str(output),
                          "--error-file", str(error)])
    assert code == 1
    assert "bogus_setting" in error.read_text()
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["error.txt", "request.rds"]
