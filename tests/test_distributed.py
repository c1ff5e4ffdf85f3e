import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from benchmarks.accuracy import score
from benchmarks.scaling import synthetic
from diffputer import MultipleImputation, impute, missing_mask
from diffputer.distributed import row_group_owners, shard_bounds
from diffputer.training import batch_indices
from diffputer.history import chain_statistics, pooled_statistics

from . import ranks
from .tables import assert_valid_completion


def test_shards_are_contiguous_and_cover_every_row_once():
    for n, size in [(10, 3), (2, 2), (7, 1), (1000, 8)]:
        bounds = [shard_bounds(n, size, r) for r in range(size)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def test_row_groups_go_to_ranks_in_runs_balanced_by_rows():
    np.testing.assert_array_equal(row_group_owners([100] * 4, 2), [0, 0, 1, 1])
    np.testing.assert_array_equal(row_group_owners([10, 10, 10, 170], 2), [0, 0, 0, 1])
    owners = row_group_owners([5] * 7, 3)
    assert (np.diff(owners) >= 0).all() and set(owners) == {0, 1, 2}
    # More ranks than groups: some rank gets nothing (the reader then slices instead).
    assert len(set(row_group_owners([100], 2))) == 1


def test_pooled_chain_statistics_equal_those_of_all_rows():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 40, 4))  # chains x rows x variables
    missing = rng.random((40, 4)) < 0.3
    missing[:, 3] = False
    missing[5, 3] = True  # one imputed cell in all: a mean, no variance
    cuts = [(0, 13), (13, 14), (14, 40)]
    parts = [(missing[a:b].sum(axis=0), *chain_statistics(values[:, a:b], missing[a:b]))
             for a, b in cuts]
    mean, var = pooled_statistics(parts)
    whole_mean, whole_var = chain_statistics(values, missing)
    np.testing.assert_allclose(mean, whole_mean, rtol=1e-12)
    np.testing.assert_allclose(var, whole_var, rtol=1e-12)
    assert np.isnan(var[3]).all() and not np.isnan(mean[3]).any()


def test_pooled_chain_statistics_of_huge_values_are_inf_without_a_warning():
    values = 1e300 * np.random.default_rng(1).normal(size=(2, 30, 1))
    missing = np.ones((30, 1), dtype=bool)
    parts = [(missing[a:b].sum(axis=0), *chain_statistics(values[:, a:b], missing[a:b]))
             for a, b in [(0, 10), (10, 30)]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, var = pooled_statistics(parts)
    np.testing.assert_allclose(mean, chain_statistics(values, missing)[0], rtol=1e-12)
    assert np.isposinf(var).all()


def test_uneven_shards_take_as_many_steps_as_the_largest():
    order = np.arange(10)[::-1].copy()
    batches = [b.tolist() for b in batch_indices(torch.as_tensor(order), 4, 3)]
    assert batches == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]  # one process: plain slices
    batches = [b.tolist() for b in batch_indices(torch.as_tensor(order), 4, 5)]
    assert batches[3:] == [[9, 8, 7, 6], [5, 4, 3, 2]]  # then full batches from the start


def test_imputations_of_shards_concatenate_into_those_of_the_table(mixed_df, tiny):
    result = impute(mixed_df, m=2, **tiny)
    where = mixed_df.isna().to_numpy()
    parts = []
    for a, b in [(0, 25), (25, 60)]:
        shard = mixed_df.iloc[a:b]
        # a shard's imputed cells: those of the whole table that fall in its rows
        imp = [{j: cells[where[:, j][:a].sum():where[:, j][:b].sum()] for j, cells in draw.items()
                if where[a:b, j].any()} for draw in result.imp]
        parts.append(MultipleImputation(shard, imp, result.history))
    joined = MultipleImputation.concat(parts)
    pd.testing.assert_frame_equal(joined.complete("long", include=True),
                                  result.complete("long", include=True))
    with pytest.raises(ValueError, match="different numbers of imputations"):
        MultipleImputation.concat([parts[0], MultipleImputation(parts[1].data, parts[1].imp[:1],
                                                                result.history)])


def test_two_gloo_processes_fit_one_model_over_their_shards(mixed_df, tiny, tmp_path):
    """The collective pieces match one process on the whole table (checked in ``ranks.run``);
    the gathered imputations are valid completions of the table in its row order, and the
    same seed repeats them."""
    whole = mixed_df.reset_index(drop=True)
    mp.spawn(ranks.run, args=(2, str(tmp_path / "store"), whole, tiny, str(tmp_path)), nprocs=2)
    first, again, transformed, bootstrap = (pd.read_pickle(tmp_path / f"{i}.pkl")
                                            for i in range(4))
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a, b)
    for completed in (*first, *transformed, *bootstrap):
        assert_valid_completion(whole, completed)
    assert not first[0].equals(first[1])
    assert not bootstrap[0].equals(bootstrap[1]) and not bootstrap[0].equals(first[0])


def _cli(*args, launcher=()):
    return subprocess.run([sys.executable, *launcher, "-m", "diffputer", "impute", *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_torchrun_matches_one_process_on_the_same_masks_and_budget(tmp_path):
    """``torchrun --nproc-per-node 2 -m diffputer impute --distributed`` on a parquet file of 4
    row groups: rank 0 writes every row, in input order, observed cells unchanged, and the
    imputation error is within 3% of one process's with the same settings."""
    truth = synthetic(4000)[[f"x{j}" for j in range(8)] + ["c0"]]  # 8 numeric, 1 categorical
    mask = np.asarray(missing_mask(truth, 0.3, "MCAR", seed=0))
    amputed = truth.mask(mask)
    source = tmp_path / "in.parquet"
    amputed.to_parquet(source, row_group_size=1000, index=False)
    budget = ["--seed", "0", "--quiet", "-m", "2", "--max-iter", "2", "--set", "max_steps=400",
              "--set", "n_steps=8", "--set", "resample=2", "--set", "corrector_steps=20",
              "--set", "proper=false"]
    alone = _cli(str(source), "-o", str(tmp_path / "one.parquet"), *budget)
    assert alone.returncode == 0, alone.stderr
    shared = _cli(str(source), "-o", str(tmp_path / "two.parquet"), "--distributed", *budget,
                  launcher=("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"))
    assert shared.returncode == 0, shared.stderr[-3000:]
    # no temporary file left beside the output
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["in.parquet", "one.parquet", "two.parquet"]
    errors = {}
    for name in ("one", "two"):
        long = pd.read_parquet(tmp_path / f"{name}.parquet")
        errors[name] = []
        for i in (1, 2):
            completed = long[long[".imp"] == i]
            assert completed[".id"].tolist() == list(range(len(truth)))
            completed = completed.drop(columns=[".imp", ".id"]).reset_index(drop=True)
            assert_valid_completion(amputed, completed)
            errors[name].append(score(truth, completed, mask)["mae"])
    assert abs(np.mean(errors["two"]) / np.mean(errors["one"]) - 1) < 0.03, errors


def test_distributed_without_a_process_group_is_refused_clearly(mixed_df, tiny, tmp_path):
    from diffputer import DiffPuter

    with pytest.raises(RuntimeError, match="needs a torch.distributed process group"):
        DiffPuter(distributed=True, **tiny).fit(mixed_df)
    source = tmp_path / "in.csv"
    mixed_df.to_csv(source, index=False)
    outside = _cli(str(source), "-o", str(tmp_path / "out.csv"), "--distributed")
    assert outside.returncode == 2 and "runs under torchrun" in outside.stderr
    assert not (tmp_path / "out.csv").exists()


def test_a_saved_model_loads_to_impute_in_the_loading_process(mixed_df, tiny, tmp_path):
    from diffputer import DiffPuter

    model = DiffPuter(**tiny).fit(mixed_df).set_params(distributed=True)
    model.save(tmp_path / "model.pt")
    loaded = DiffPuter.load(tmp_path / "model.pt")
    assert loaded.distributed is False
    assert not loaded.transform(mixed_df).isna().any().any()
