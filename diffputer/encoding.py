"""Table encoding: a mixed-type DataFrame <-> the float matrix the diffusion model sees.

Numeric columns are z-scored on their observed entries and halved, so that they have the
standard deviation ``SIGMA_DATA`` = 0.5 the EDM preconditioning assumes. Categorical, boolean
and string columns become one-hot blocks centred on the observed level shares, so that a
missing cell starts at 0 (the observed mean) like a numeric one. Decoding takes the argmax of
a block, which is always a valid level, and writes imputed values into a copy of the original
column, so observed cells, dtypes, index and category levels come back unchanged.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

SIGMA_DATA = 0.5

NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass
class ColumnCodec:
    """How one column is encoded; plain JSON-serialisable data."""

    name: object
    kind: str
    dtype: str
    loc: float = 0.0
    scale: float = 1.0
    lower: float = 0.0
    upper: float = 0.0
    integer: bool = False
    levels: list = field(default_factory=list)
    ordered: bool = False
    shares: list = field(default_factory=list)

    @property
    def width(self) -> int:
        return 1 if self.kind == NUMERIC else len(self.levels)

    def to_dict(self) -> dict:
        return asdict(self)


def _python_scalar(value):
    """numpy scalars -> Python scalars (JSON-friendly), other values unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _object_kind(column: pd.Series) -> str:
    """Classify an object/string column by the types of its observed values."""
    observed = column.dropna()
    if all(isinstance(v, str) for v in observed):
        return CATEGORICAL
    if all(isinstance(v, (bool, np.bool_)) for v in observed):
        return CATEGORICAL
    if all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in observed):
        return NUMERIC
    types = sorted({type(v).__name__ for v in observed})
    raise TypeError(
        f"Column {column.name!r} holds values of mixed types {types}; expected one type per "
        "column (numbers, strings, booleans or a pandas Categorical). Convert it first, "
        "e.g. df[col].astype(str) or pd.to_numeric(df[col])."
    )


def column_kind(column: pd.Series) -> str:
    """``"numeric"`` or ``"categorical"``; a clear error for types we cannot model."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return CATEGORICAL
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return NUMERIC
    if pd.api.types.is_string_dtype(dtype) or dtype == object:
        return _object_kind(column)
    raise TypeError(
        f"Column {column.name!r} has dtype {dtype}, which cannot be imputed; "
        "expected numbers, strings, booleans or a pandas Categorical. "
        "Convert it (e.g. datetimes to numbers with .astype('int64')) or drop it."
    )


@dataclass
class ColumnSummary:
    """What a column's codec is learned from, for one shard of rows: the summaries of a table's
    shards merge into the summary of the whole table (:func:`merge_summaries`), so that
    processes holding different rows encode alike."""

    name: object
    kind: str | None  # None: no observed value in this shard
    dtype: str
    count: int = 0  # observed entries
    mean: float = 0.0
    std: float = 0.0
    lower: float = float("inf")
    upper: float = float("-inf")
    integer: bool = False
    levels: list | None = None  # declared levels (Categorical, bool); None: the observed ones
    ordered: bool = False
    counts: dict = field(default_factory=dict)  # level -> observed count


def mean_and_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of finite values, also of values whose squares overflow
    (computed in units of the largest value; below 1e150 the squares fit in a float64)."""
    size = float(np.abs(values).max())
    if size < 1e150:
        return float(values.mean()), float(values.std())
    scaled = values / size
    return float(scaled.mean()) * size, float(scaled.std()) * size


def summarise_column(column: pd.Series) -> ColumnSummary:
    """The summary of one column's observed entries (see :class:`ColumnSummary`)."""
    observed = column.dropna()
    summary = ColumnSummary(name=column.name, kind=None, dtype=str(column.dtype),
                            count=len(observed))
    if not len(observed):
        return summary
    summary.kind = column_kind(column)
    if summary.kind == NUMERIC:
        values = observed.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(
                f"Column {column.name!r} contains +/-inf; replace infinite values with NaN "
                "(to impute them) or with finite numbers."
            )
        summary.mean, summary.std = mean_and_std(values)
        summary.lower, summary.upper = float(values.min()), float(values.max())
        summary.integer = pd.api.types.is_integer_dtype(column.dtype)
        return summary
    if isinstance(column.dtype, pd.CategoricalDtype):
        summary.levels = [_python_scalar(level) for level in column.cat.categories]
        summary.ordered = bool(column.cat.ordered)
    elif pd.api.types.is_bool_dtype(column.dtype) or all(
        isinstance(v, (bool, np.bool_)) for v in observed
    ):
        summary.levels = [False, True]
    summary.counts = {_python_scalar(level): int(count)
                      for level, count in observed.value_counts().items()}
    return summary


def merge_summaries(parts: list[ColumnSummary]) -> ColumnSummary:
    """The summary of the union of the shards whose summaries are ``parts`` (one column)."""
    seen = [p for p in parts if p.count]
    if len(seen) <= 1:
        return seen[0] if seen else parts[0]
    name = seen[0].name
    if len({p.kind for p in seen}) > 1:
        raise TypeError(f"Column {name!r} holds numbers in some shards of rows and categories "
                        "in others; give it one type (e.g. a fixed parquet schema).")
    dtypes = {p.dtype for p in seen}
    count = sum(p.count for p in seen)
    merged = ColumnSummary(name=name, kind=seen[0].kind, count=count,
                           dtype=seen[0].dtype if len(dtypes) == 1 else "float64")
    if merged.kind == NUMERIC:
        # In units of the largest mean or sd, so that no square overflows.
        size = max(max(abs(p.mean), p.std) for p in seen) or 1.0
        mean = sum(p.count * p.mean / size for p in seen) / count
        variance = sum(p.count * ((p.std / size) ** 2 + (p.mean / size - mean) ** 2)
                       for p in seen) / count
        merged.mean, merged.std = mean * size, float(np.sqrt(variance)) * size
        merged.lower, merged.upper = min(p.lower for p in seen), max(p.upper for p in seen)
        merged.integer = all(p.integer for p in seen)
        return merged
    if any((p.levels, p.ordered) != (seen[0].levels, seen[0].ordered) for p in seen):
        raise ValueError(f"Column {name!r} has different declared levels in different shards "
                         "of rows; give every shard the same categories.")
    merged.levels, merged.ordered = seen[0].levels, seen[0].ordered
    for p in seen:
        for level, n in p.counts.items():
            merged.counts[level] = merged.counts.get(level, 0) + n
    return merged


def codec_from_summary(summary: ColumnSummary) -> ColumnCodec:
    """The codec of a column learned from its (merged) summary."""
    name = summary.name
    if not summary.count:
        raise ValueError(
            f"Column {name!r} has no observed value; nothing can be learned about it. "
            "Drop it before imputing."
        )
    if summary.kind == NUMERIC:
        scale = summary.std
        if scale == 0.0:
            warnings.warn(
                f"Column {name!r} is constant ({summary.mean!r}); its missing cells are "
                "filled with that constant.",
                UserWarning,
                stacklevel=5,
            )
            scale = 1.0
        return ColumnCodec(name=name, kind=NUMERIC, dtype=summary.dtype, loc=summary.mean,
                           scale=scale, lower=summary.lower, upper=summary.upper,
                           integer=summary.integer)
    levels = summary.levels if summary.levels is not None else sorted(summary.counts)
    shares = [float(summary.counts.get(level, 0)) / summary.count for level in levels]
    return ColumnCodec(name=name, kind=CATEGORICAL, dtype=summary.dtype, levels=list(levels),
                       ordered=summary.ordered, shares=shares)


def fit_codec(column: pd.Series) -> ColumnCodec:
    """Learn how to encode one column from its observed entries."""
    return codec_from_summary(summarise_column(column))


def _encode_column(codec: ColumnCodec, column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Encoded block [n, width] (missing cells at 0) and its missing mask [n]."""
    missing = column.isna().to_numpy()
    if codec.kind == NUMERIC:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(values[~missing]).all():
            raise ValueError(f"Column {codec.name!r} contains +/-inf; replace it with NaN.")
        block = (values - codec.loc) / codec.scale * SIGMA_DATA
        block[missing] = 0.0
        return block[:, None], missing
    index = {level: k for k, level in enumerate(codec.levels)}
    observed = column[~missing]
    codes = observed.map(index)
    unseen = observed[codes.isna()]
    if len(unseen):
        raise ValueError(
            f"Column {codec.name!r} has levels {sorted(map(str, set(unseen)))} that were not "
            f"seen when fitting (known levels: {list(map(str, codec.levels))})."
        )
    block = np.zeros((len(column), codec.width))
    block[np.flatnonzero(~missing), codes.to_numpy(dtype=np.int64)] = 1.0
    block -= np.asarray(codec.shares)
    block[missing] = 0.0
    return block, missing


def _level_codes(codec: ColumnCodec, block: np.ndarray) -> np.ndarray:
    """0-based level of each row of a one-hot block: the argmax, always a valid level."""
    return np.argmax(block + np.asarray(codec.shares), axis=1)


def _decode_block(codec: ColumnCodec, block: np.ndarray) -> np.ndarray:
    """Values in the column's own units for every row of an encoded block."""
    if codec.kind == NUMERIC:
        # In float64: a float32 block would round the values to float32's precision at
        # their size (steps of 128 around 1.7e9, a timestamp in seconds) or overflow.
        values = block[:, 0].astype(np.float64) / SIGMA_DATA * codec.scale + codec.loc
        values = np.clip(values, codec.lower, codec.upper)
        return np.rint(values) if codec.integer else values
    return np.asarray(codec.levels, dtype=object)[_level_codes(codec, block)]


def fill_cells(original: pd.DataFrame, cells: dict[int, np.ndarray]) -> pd.DataFrame:
    """A copy of ``original`` with the missing cells of column ``j`` set to ``cells[j]``.

    Observed cells, the index, column order and dtypes (categories included) are kept.
    """
    out = original.copy()
    for j, values in cells.items():
        dtype = out.dtypes.iloc[j]
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            values = np.asarray(values, dtype=dtype)
        rows = np.flatnonzero(out.iloc[:, j].isna().to_numpy())
        out.iloc[rows, j] = values
    return out


def summarise(df: pd.DataFrame) -> list[ColumnSummary]:
    """The summary of every column of ``df`` (see :class:`ColumnSummary`)."""
    return [summarise_column(df[name]) for name in df.columns]


class TableEncoder:
    """Fitted column codecs for one table layout.

    ``encode`` gives ``(X, M)``: X [n, D] float32 with missing entries at 0, and M [n, D]
    bool, True where the entry is missing. ``decode`` fills the missing cells of the original
    table with values decoded from an X.
    """

    def __init__(self, codecs: list[ColumnCodec]):
        self.codecs = codecs
        widths = [c.width for c in codecs]
        self.offsets = np.concatenate([[0], np.cumsum(widths)]).astype(int)

    @classmethod
    def fit(cls, df: pd.DataFrame) -> "TableEncoder":
        return cls([fit_codec(df[name]) for name in df.columns])

    @classmethod
    def from_summaries(cls, shards: list[list[ColumnSummary]]) -> "TableEncoder":
        """The encoder of the table whose shards of rows have the column summaries ``shards``
        (one :func:`summarise` each): the same as fitted on all their rows at once."""
        names = [[summary.name for summary in shard] for shard in shards]
        for other in names[1:]:
            if other != names[0]:
                raise ValueError(f"The shards of rows have different columns: {names[0]} and "
                                 f"{other}; give every process the same columns in the same order.")
        return cls([codec_from_summary(merge_summaries(list(parts))) for parts in zip(*shards)])

    @property
    def columns(self) -> list:
        return [c.name for c in self.codecs]

    @property
    def n_features(self) -> int:
        return int(self.offsets[-1])

    def blocks(self):
        """(codec, slice into the encoded columns) for every column."""
        for j, codec in enumerate(self.codecs):
            yield codec, slice(self.offsets[j], self.offsets[j + 1])

    def align(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with the fitted columns in the fitted order; error on missing/new ones."""
        fitted = self.columns
        if list(df.columns) == fitted:
            return df
        absent = [c for c in fitted if c not in df.columns]
        extra = [c for c in df.columns if c not in fitted]
        if absent or extra:
            raise ValueError(
                f"Columns differ from those seen at fit: missing {absent}, unexpected {extra}."
            )
        return df[fitted]

    def encode(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        df = self.align(df)
        X = np.empty((len(df), self.n_features), dtype=np.float32)
        M = np.empty((len(df), self.n_features), dtype=bool)
        for (codec, cols), name in zip(self.blocks(), df.columns):
            block, missing = _encode_column(codec, df[name])
            X[:, cols] = block
            M[:, cols] = missing[:, None]
        return X, M

    def clip(self, X: np.ndarray) -> np.ndarray:
        """Numeric entries clipped to the encoded observed range (in place, returned)."""
        for codec, cols in self.blocks():
            if codec.kind == NUMERIC:
                lo = (codec.lower - codec.loc) / codec.scale * SIGMA_DATA
                hi = (codec.upper - codec.loc) / codec.scale * SIGMA_DATA
                np.clip(X[:, cols], lo, hi, out=X[:, cols])
        return X

    def project(self, X: np.ndarray) -> np.ndarray:
        """X made a valid encoded table (in place, returned): numeric entries clipped to the
        observed range, every one-hot block snapped to the one-hot of its decoded level."""
        self.clip(X)
        for codec, cols in self.blocks():
            if codec.kind == CATEGORICAL:
                shares = np.asarray(codec.shares, dtype=X.dtype)
                onehot = np.eye(codec.width, dtype=X.dtype)[_level_codes(codec, X[:, cols])]
                X[:, cols] = onehot - shares
        return X

    def values(self, X: np.ndarray) -> np.ndarray:
        """[n, p] floats: numeric columns in their own units, categorical ones as 1-based codes."""
        out = np.empty((X.shape[0], len(self.codecs)))
        for j, (codec, cols) in enumerate(self.blocks()):
            if codec.kind == NUMERIC:
                out[:, j] = _decode_block(codec, X[:, cols])
            else:
                out[:, j] = _level_codes(codec, X[:, cols]) + 1
        return out

    def decode(self, X: np.ndarray, original: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``original`` (its columns in its own order) whose missing cells hold the
        values decoded from ``X``."""
        return fill_cells(original, self.imputed_cells(X, original))

    def imputed_cells(self, X: np.ndarray, original: pd.DataFrame) -> dict[int, np.ndarray]:
        """Column position in ``original`` (the fitted columns, in any order) -> decoded values
        of that column's missing cells (in row order)."""
        self.align(original)  # the same columns
        position = {name: j for j, name in enumerate(original.columns)}
        cells = {}
        for name, (codec, cols) in zip(self.columns, self.blocks()):
            j = position[name]
            missing = np.flatnonzero(original.iloc[:, j].isna().to_numpy())
            if len(missing):
                cells[j] = _decode_block(codec, X[missing, cols])
        return cells

    def to_dict(self) -> dict:
        return {"codecs": [c.to_dict() for c in self.codecs]}

    @classmethod
    def from_dict(cls, data: dict) -> "TableEncoder":
        return cls([ColumnCodec(**c) for c in data["codecs"]])
