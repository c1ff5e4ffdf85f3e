"""The bridge to R: data frames both ways, results as mice ``mids``, and the R package's backend.

Conversions keep what R users rely on: factors with their levels and order, ordered factors,
integer, logical and character columns with their ``NA``, and row names. A default pandas
``RangeIndex`` and R's automatic row names (1..n) correspond to each other.

The R package ``diffputer`` (``r-bridge/``) runs ``python -m diffputer.r_bridge REQUEST OUTPUT``:
REQUEST is an ``.rds`` holding ``list(data, where, m, maxit, seed, preset, device, progress,
options, call)``; the mids is saved to OUTPUT (written to a temporary name, then renamed), or
the error message to ``--error-file``. Needs rpy2 (``pip install "diffputer[r]"``) and R with mice.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .result import MultipleImputation

_PLAIN_R_CLASSES = {"numeric", "integer", "logical", "character"}
_R_HELPERS = """
list(
  with_na = function(values, na) { values[na] <- NA; values },
  factor = function(codes, levels, ordered) {
    codes[codes == 0L] <- NA_integer_
    structure(codes, levels = levels, class = if (ordered) c("ordered", "factor") else "factor")
  },
  data_frame = function(columns, names, row_names) {
    n <- if (length(columns)) length(columns[[1]]) else 0L
    frame <- structure(columns, names = names, class = "data.frame",
                       row.names = .set_row_names(n))
    if (!is.null(row_names)) rownames(frame) <- row_names
    frame
  },
  mids = function(long, where, chain_mean, chain_var, iteration, seed, call) {
    imp <- suppressWarnings(mice::as.mids(long, where = where))
    vars <- names(imp$data)
    m <- imp$m
    imp$method <- stats::setNames(ifelse(colSums(imp$where) > 0, "diffputer", ""), vars)
    names <- list(vars, seq_len(iteration), paste("Chain", seq_len(m)))
    imp$chainMean <- array(chain_mean, dim = c(length(vars), iteration, m), dimnames = names)
    imp$chainVar <- array(chain_var, dim = c(length(vars), iteration, m), dimnames = names)
    imp$iteration <- as.integer(iteration)
    imp$seed <- seed
    if (!is.null(call)) imp$call <- str2lang(call)
    imp
  }
)
"""


def _robjects():
    """rpy2.robjects, R started. R puts its library folders in front of LD_LIBRARY_PATH as it
    starts; they are taken out again so that processes started later (which would load R's
    shared libraries instead of their own) are not affected. R itself needs only R_HOME."""
    library_path = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.robjects as ro
    except ImportError as err:  # rpy2 missing, or R missing under it
        raise ImportError(
            "The R bridge needs rpy2 and R: pip install 'diffputer[r]' (rpy2 3.5.17 for R 4.2); "
            f"importing rpy2 failed with: {err}"
        ) from err
    finally:
        if library_path is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = library_path
    return ro


_helpers = None


def _r(name: str):
    """One of the R helper functions above (defined in R once per process)."""
    global _helpers
    ro = _robjects()
    if _helpers is None:
        if not ro.r("(requireNamespace(\"mice\", quietly = TRUE))")[0]:
            raise ImportError("The R package mice is not installed in the R that rpy2 uses "
                              "(Debian: apt install r-cran-mice).")
        _helpers = ro.r(_R_HELPERS)
    return _helpers.rx2(name)


# -- R -> pandas -------------------------------------------------------------------------------


def from_r(frame) -> pd.DataFrame:
    """An R data.frame (rpy2 object) as a pandas DataFrame with matching column types."""
    ro = _robjects()
    base = ro.baseenv
    if not base["is.data.frame"](frame)[0]:
        raise TypeError("from_r expects an R data.frame; "
                        f"got R class {list(base['class'](frame))}.")
    names = [str(n) for n in base["names"](frame)]
    columns = [_column_from_r(frame[j], name) for j, name in enumerate(names)]
    automatic = base[".row_names_info"](frame)[0] < 0
    index = pd.RangeIndex(len(columns[0]) if columns else base["nrow"](frame)[0]) if automatic \
        else pd.Index([str(r) for r in base["rownames"](frame)])
    out = pd.concat([pd.Series(c, index=index) for c in columns], axis=1) if columns \
        else pd.DataFrame(index=index)
    out.columns = names
    return out


def _column_from_r(vector, name: str):
    base = _robjects().baseenv
    classes = list(base["class"](vector))
    missing = np.asarray(base["is.na"](vector), dtype=bool)
    if "factor" in classes:
        codes = np.asarray(base["as.integer"](vector))
        levels = [str(level) for level in base["levels"](vector)]
        return pd.Categorical.from_codes(np.where(missing, -1, codes - 1), categories=levels,
                                         ordered="ordered" in classes)
    if len(classes) != 1 or classes[0] not in _PLAIN_R_CLASSES:
        raise TypeError(
            f"Column {name!r} has R class {'/'.join(classes)}; diffputer takes numeric, integer, "
            "logical, character and factor columns (convert dates and others to numbers first)."
        )
    kind = base["typeof"](vector)[0]
    if kind == "double":
        values = np.array(vector, dtype=float)
        values[missing] = np.nan
        return values
    if kind == "integer":
        values = np.where(missing, 0, np.asarray(vector)).astype("int64")
        return pd.arrays.IntegerArray(values, missing)
    if kind == "logical":
        return pd.arrays.BooleanArray(np.asarray(vector) == 1, missing)
    values = np.array([np.nan if gap else str(v) for v, gap in zip(vector, missing)], dtype=object)
    return pd.array(values, dtype=object)


# -- pandas -> R -------------------------------------------------------------------------------


def to_r(df: pd.DataFrame):
    """A pandas DataFrame as an R data.frame: categoricals become factors (ordered kept)."""
    ro = _robjects()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"to_r expects a pandas DataFrame; got {type(df).__name__}.")
    columns = [_column_to_r(df.iloc[:, j], str(name)) for j, name in enumerate(df.columns)]
    row_names = ro.NULL if _is_default(df.index) else ro.StrVector([str(r) for r in df.index])
    return _r("data_frame")(ro.ListVector.from_length(0) if not columns else _r_list(columns),
                            ro.StrVector([str(c) for c in df.columns]), row_names)


def _r_list(items):
    ro = _robjects()
    out = ro.ListVector.from_length(len(items))
    for i, item in enumerate(items):
        out[i] = item
    return out


def _column_to_r(column: pd.Series, name: str):
    ro = _robjects()
    missing = ro.BoolVector(column.isna().to_numpy())
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype("int32") + 1
        levels = ro.StrVector([str(level) for level in dtype.categories])
        return _r("factor")(ro.IntVector(codes), levels, bool(dtype.ordered))
    if pd.api.types.is_bool_dtype(dtype):
        values = ro.BoolVector(column.fillna(False).astype(bool).to_numpy())
    elif pd.api.types.is_integer_dtype(dtype):
        filled = column.fillna(0).to_numpy().astype("int64")
        fits = np.abs(filled).max(initial=0) < 2**31 - 1
        values = (ro.IntVector(filled.astype("int32")) if fits
                  else ro.FloatVector(filled.astype(float)))
    elif pd.api.types.is_float_dtype(dtype):
        values = ro.FloatVector(column.fillna(0).to_numpy(dtype=float))
    elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        values = ro.StrVector(["" if pd.isna(v) else str(v) for v in column])
    else:
        raise TypeError(f"Column {name!r} has dtype {dtype}, which has no R counterpart here; "
                        "convert it to numbers, strings or a categorical first.")
    return _r("with_na")(values, missing)


# -- mids --------------------------------------------------------------------------------------


def _is_default(index: pd.Index) -> bool:
    """A RangeIndex 0..n-1: the counterpart of R's automatic row names 1..n."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _r_row_ids(index: pd.Index) -> np.ndarray:
    """Row identifiers for R: 1..n for a default RangeIndex, else the index as text."""
    if _is_default(index):
        return np.arange(1, len(index) + 1)
    return np.asarray([str(r) for r in index], dtype=object)


def to_mids(result: MultipleImputation, *, original: pd.DataFrame | None = None,
            where: pd.DataFrame | None = None, seed=None, call: str | None = None):
    """``result`` as a mice ``mids`` (rpy2 object), built by ``mice::as.mids``.

    ``chainMean`` / ``chainVar`` / ``iteration`` come from the EM history, ``method`` is
    "diffputer" for imputed variables. ``original`` and ``where`` serve mice's ``where``
    argument: the table before cells were blanked for imputation, and the cells imputed
    (default: ``result.data`` and its missing cells).
    """
    ro = _robjects()
    original = result.data if original is None else original
    where = result.where if where is None else where
    tables = [original] + [result.complete(i) for i in range(1, result.m + 1)]
    long = pd.concat([t.reset_index(drop=True) for t in tables], ignore_index=True)
    long.insert(0, ".imp", np.repeat(np.arange(result.m + 1), len(original)))
    long.insert(1, ".id", np.tile(_r_row_ids(result.data.index), result.m + 1))
    column_names = ro.StrVector([str(c) for c in where.columns])
    where_r = ro.r["matrix"](ro.BoolVector(where.to_numpy().ravel(order="F")),
                             nrow=where.shape[0], ncol=where.shape[1],
                             dimnames=ro.r["list"](ro.NULL, column_names))
    chain_mean = _pad_chains(result.history.chain_mean, result.m)
    chain_var = _pad_chains(result.history.chain_var, result.m)
    seed_r = ro.NA_Integer if seed is None else ro.IntVector([int(seed)])
    call_r = ro.NULL if call is None else ro.StrVector([call])
    return _r("mids")(to_r(long), where_r, ro.FloatVector(chain_mean.ravel(order="F")),
                      ro.FloatVector(chain_var.ravel(order="F")), chain_mean.shape[1],
                      seed_r, call_r)


def _pad_chains(chains: np.ndarray, m: int) -> np.ndarray:
    """[variables, iterations, chains] with exactly m chains (NaN for missing ones)."""
    p, iterations, n = chains.shape
    out = np.full((p, iterations, m), np.nan)
    out[:, :, : min(n, m)] = chains[:, :, :m]
    return out


def from_mids(mids) -> MultipleImputation:
    """A mice ``mids`` (rpy2 object) as a MultipleImputation, e.g. to pool its analyses here."""
    ro = _robjects()
    if "mids" not in list(ro.baseenv["class"](mids)):
        raise TypeError("from_mids expects a mice mids object; "
                        f"got R class {list(ro.baseenv['class'](mids))}.")
    long = from_r(ro.r("function(x) mice::complete(x, 'long', include = TRUE)")(mids))
    return MultipleImputation.from_long(long)


def read_rds(path):
    return _robjects().r["readRDS"](str(path))


def save_rds(obj, path) -> None:
    """saveRDS to a temporary name next to ``path``, then rename: never a half-written file."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        _robjects().r["saveRDS"](obj, str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


# -- the R package's backend -------------------------------------------------------------------


def _scalar(value, name: str):
    """An R vector of length 1 as a Python scalar (whole doubles as int); NA/NULL as None."""
    ro = _robjects()
    if value is ro.NULL:
        return None
    if len(value) != 1:
        raise ValueError(f"{name} must be a single value; got {len(value)} values.")
    item = value[0]
    if item is ro.NA_Logical or item is ro.NA_Integer or item is ro.NA_Character or (
        isinstance(item, float) and np.isnan(item)
    ):
        return None
    if isinstance(item, float) and item.is_integer():
        return int(item)
    return item


def run_request(request) -> object:
    """Impute as the R package asked; the mids (rpy2 object)."""
    from .estimator import impute

    ro = _robjects()
    fields = {name: request.rx2(name) for name in request.names}
    data = from_r(fields["data"])
    where = data.isna()
    if fields["where"] is not ro.NULL:
        where = pd.DataFrame(np.asarray(fields["where"], dtype=bool).reshape(data.shape, order="F"),
                             index=data.index, columns=data.columns)
    blanked = data.mask(where) if (where & data.notna()).any().any() else data
    options = {str(k): _scalar(v, str(k))
               for k, v in zip(fields["options"].names or [], fields["options"])}
    seed = _scalar(fields["seed"], "seed")
    result = impute(
        blanked, m=_scalar(fields["m"], "m"), preset=_scalar(fields["preset"], "preset"),
        device=_scalar(fields["device"], "device"), random_state=seed,
        max_iter=_scalar(fields["maxit"], "maxit"),
        progress=bool(_scalar(fields["progress"], "progress")),
        **options,
    )
    return to_mids(result, original=data, where=where, seed=seed,
                   call=_scalar(fields["call"], "call"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diffputer.r_bridge",
                                     description="Backend of the R package diffputer.")
    parser.add_argument("request", type=Path, help=".rds file written by the R package")
    parser.add_argument("output", type=Path, help="where to save the mids (.rds)")
    parser.add_argument("--error-file", type=Path, help="where to write an error message")
    args = parser.parse_args(argv)
    try:
        save_rds(run_request(read_rds(args.request)), args.output)
    except Exception as err:  # every failure reaches R as one message
        message = str(err) if isinstance(err, (ValueError, TypeError, ImportError, KeyError)) \
            else f"{type(err).__name__}: {err}"
        print(f"diffputer: error: {message}", file=sys.stderr)
        if args.error_file is not None:
            args.error_file.write_text(message, encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
