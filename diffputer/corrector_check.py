"""The masked-cell check: does the Langevin corrector pay on this table?

The corrector (``sampling.py``) brings the draws of a Gaussian table to the slope and spread of
its exact conditional distribution, but where the network fits the table badly it can cost
accuracy: on a 3,000-row sample of adult, whose capital-loss column is almost all zeros, the
numeric MAE was 0.73 with it and 0.65 without (docs/design-notes.md). Which one holds can be
read off the table itself. After each M-step the EM hides a further share of the observed
numeric cells of about a thousand rows, imputes them with the corrector and without, and
keeps it unless its absolute errors are larger by more than ``MARGIN`` standard errors of
their paired difference. A close call keeps the corrector: the calibration of the draws is
what it is there for, and the check scores only the point fill (their mean or median).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Share of the chosen rows' observed numeric cells that the check hides.
HIDDEN_SHARE = 0.3
# How many standard errors worse the corrector's errors must be for it to be turned off.
MARGIN = 2.0
# Below this many hidden cells the check keeps the corrector (too few to tell).
MIN_CELLS = 30


class CorrectorCheck(NamedTuple):
    """Mean absolute errors (z-scored scale) on the hidden cells with the corrector and
    without, the standard error of their difference, the number of cells, and the verdict."""

    error_with: float
    error_without: float
    standard_error: float
    cells: int
    keep: bool

    def to_dict(self) -> dict:
        """As a dict for JSON, NaN (no cells to score) as None."""
        return {k: None if isinstance(v, float) and np.isnan(v) else v
                for k, v in self._asdict().items()}


def hidden_cells(M: np.ndarray, numeric: np.ndarray, rows: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(row indices, mask) of the cells to hide: ``rows`` rows drawn among those with an
    observed numeric entry (``numeric``: the encoded columns of the numeric variables), and in
    them each observed numeric entry with probability HIDDEN_SHARE; the rows where none was
    drawn are left out. The mask is [len(indices), D], False outside the numeric columns."""
    observed = ~M[:, numeric]
    candidates = np.flatnonzero(observed.any(axis=1))
    picked = np.sort(rng.choice(candidates, min(rows, len(candidates)), replace=False))
    hide = np.zeros((len(picked), M.shape[1]), dtype=bool)
    hide[:, numeric] = observed[picked] & (rng.random((len(picked), len(numeric))) < HIDDEN_SHARE)
    some = hide.any(axis=1)
    return picked[some], hide[some]


def error_sums(errors_with: np.ndarray, errors_without: np.ndarray) -> np.ndarray:
    """What :func:`verdict` needs of the per-cell absolute errors, as sums that add up over
    the shards of a process group: [cells, sum with, sum without, sum of squared
    differences]."""
    difference = errors_with - errors_without
    return np.array([len(difference), errors_with.sum(), errors_without.sum(),
                     (difference**2).sum()], dtype=np.float64)


def verdict(sums: np.ndarray) -> CorrectorCheck:
    """The check's outcome from :func:`error_sums` (summed over a group's shards): keep the
    corrector unless its mean absolute error exceeds the other's by more than MARGIN standard
    errors of the mean paired difference, or when fewer than MIN_CELLS cells were hidden."""
    cells, total_with, total_without, squares = (float(s) for s in sums)
    if cells < MIN_CELLS:
        return CorrectorCheck(np.nan, np.nan, np.nan, int(cells), True)
    with_, without = total_with / cells, total_without / cells
    mean = with_ - without
    variance = max(squares / cells - mean**2, 0.0) * cells / (cells - 1)
    standard_error = float(np.sqrt(variance / cells))
    return CorrectorCheck(with_, without, standard_error, int(cells),
                          bool(mean <= MARGIN * standard_error))
