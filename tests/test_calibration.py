"""On a small real table, the spread of the draws follows the size of their errors.

A quarter of the observed Ozone values of the bundled airquality data (153 rows) are hidden
and imputed 20 times from one fitted model (``benchmarks/calibration.py``). For draws that
reflect what the model does not know, the error of their mean is about as large as their
standard deviation. A network trained to the end of its budget on so few rows learns them
by heart: its draws are a fraction as spread as their errors (less so when each M-step trains
on several drawn copies of the table, whose missing cells differ). Keeping a tenth of the rows
out of each M-step, and the weights where their loss was lowest, brings the two much closer.
"""

import diffputer
from benchmarks.calibration import COLUMN, diffputer_draws, hide, score


def _error_to_spread(**options) -> float:
    data = diffputer.load_airquality()
    amputed, hidden = hide(data, seed=0)
    draws = diffputer_draws(amputed, seed=0, proper=False, **options)[:, hidden]
    return score(draws, data[COLUMN].to_numpy(float)[hidden])["rmse / sd"]


def test_held_out_rows_keep_small_table_draws_about_as_spread_as_their_errors():
    held_out = _error_to_spread()  # the fast preset keeps out 10% of the rows
    trained_to_the_end = _error_to_spread(validation_fraction=0.0)
    assert trained_to_the_end > 3.0  # measured 3.7 (5.7 with one drawn copy per M-step)
    assert held_out < 0.65 * trained_to_the_end
    assert held_out < 2.5  # measured 1.9 (2.05 with one drawn copy); mice's pmm 1.1
