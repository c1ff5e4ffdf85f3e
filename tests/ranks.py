"""What each process of the two-process gloo tests (``test_distributed.py``) runs."""

import os

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from diffputer import DiffPuter, impute
from diffputer.distributed import ProcessGroup, gather_imputations, sample_rows, shard_bounds
from diffputer.em import start_values
from diffputer.encoding import TableEncoder, summarise


def run(rank: int, size: int, store: str, whole: pd.DataFrame, options: dict, out: str) -> None:
    """Join the group, check the collective pieces against the whole table, then impute this
    rank's shard twice with the same seed; rank 0 writes what it gathered to ``out``."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=size)
    try:
        group = ProcessGroup()
        start, stop = shard_bounds(len(whole), size, rank)
        shard = whole.iloc[start:stop]

        assert group.sum(np.array([1.0, rank])).tolist() == [2.0, 1.0]
        assert group.max(rank) == 1 and group.broadcast(rank) == 0
        assert group.all_gather(rank) == [0, 1]

        # Every rank encodes as one process fitted on the whole table would.
        encoder = TableEncoder.from_summaries(group.all_gather(summarise(shard)))
        fitted = TableEncoder.fit(whole)
        assert [c.levels for c in encoder.codecs] == [c.levels for c in fitted.codecs]
        np.testing.assert_allclose(encoder.encode(whole)[0], fitted.encode(whole)[0], atol=1e-6)

        # The linear start values are the whole table's, fitted on all-reduced statistics.
        X, M = encoder.encode(shard)
        X_all, M_all = encoder.encode(whole)
        np.testing.assert_allclose(start_values(X, M, encoder, "linear", group=group),
                                   start_values(X_all, M_all, encoder, "linear")[start:stop],
                                   atol=1e-5)

        rows, missing = sample_rows((X, M), 10**6, group, np.random.default_rng(rank))
        np.testing.assert_array_equal(rows, X_all)
        np.testing.assert_array_equal(missing, M_all)

        # Proper draws of both schemes and the fitted model's impute run over the group too.
        results = [impute(shard, m=2, distributed=True, **options) for _ in range(2)]
        gathered = [gather_imputations(result, group) for result in results]
        model = DiffPuter(distributed=True, **options).fit(shard)
        transformed = gather_imputations(model.impute(shard, m=2), group)
        # Bootstrap EM: each fit data-parallel, each rank resampling its own shard.
        bootstrap = gather_imputations(impute(shard, m=2, distributed=True, proper="bootstrap",
                                              **options), group)
        if rank == 0:
            for i, result in enumerate([*gathered, transformed, bootstrap]):
                pd.to_pickle(result.complete("all"), os.path.join(out, f"{i}.pkl"))
    finally:
        dist.destroy_process_group()
