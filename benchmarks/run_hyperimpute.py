"""Runs HyperImpute on a matrix with NaN holes: ``python run_hyperimpute.py IN.npy OUT.npy SEED``.

Executed by ``.venv-hyperimpute``'s Python (see ``methods.hyperimpute``), whose pandas and
scikit-learn versions HyperImpute needs. HyperImpute falls back to mean imputation when one of
its learners fails, without saying so; the run then stops with an error instead.
"""

import sys

import numpy as np
import pandas as pd
from hyperimpute.plugins.imputers import Imputers


def main(source: str, target: str, seed: int) -> None:
    matrix = np.load(source)
    missing = np.isnan(matrix)
    imputer = Imputers().get("hyperimpute", random_state=seed)
    filled = np.asarray(imputer.fit_transform(pd.DataFrame(matrix)), dtype=float)
    means = np.broadcast_to(np.nanmean(matrix, axis=0), matrix.shape)
    if np.isnan(filled).any() or np.allclose(filled[missing], means[missing]):
        raise SystemExit("HyperImpute returned holes or the column means")
    np.save(target, filled)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
