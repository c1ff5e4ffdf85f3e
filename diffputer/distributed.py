"""The processes that fit one model together: ``torch.distributed``, or this process alone.

A fit over several processes (``torchrun``, one per GPU or per CPU socket) gives each process
(rank) a contiguous shard of the rows, rank 0 the first. Everything the algorithm computes over
all rows goes through a :class:`Group`:

- the encoder is learned from every shard's column summaries (all-gather), so every rank
  encodes alike;
- the linear start values solve ridge regressions on all-reduced sufficient statistics;
- the M-step trains one model with ``DistributedDataParallel``, every rank taking
  ``batch_size / world size`` of its own rows per step, so a step sees ``batch_size`` rows as
  in one process; the epoch loss, which drives the learning-rate schedule and early stopping,
  is averaged over the ranks, so they all stop together;
- the E-step samples each rank's own rows;
- the category calibration is fitted on rank 0, on a sample of every shard's rows (gathered),
  and broadcast;
- the EM statistics (imputation change, chain means and variances) are pooled over ranks.

:data:`LOCAL`, the group of one process, does none of this communication: with it, the
single-process code path is unchanged.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from .result import MultipleImputation


class Group:
    """One process alone: every collective operation is the identity."""

    rank, size = 0, 1

    def sum(self, array):
        """Elementwise sum over the ranks of a number or float array."""
        return array

    def mean(self, value: float) -> float:
        return value

    def max(self, value: int) -> int:
        return value

    def all_gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order."""
        return [obj]

    def broadcast(self, obj):
        """Rank 0's ``obj``, on every rank."""
        return obj

    def parallel(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` wrapped so that its gradients are averaged over the ranks."""
        return module

    def rank_seed(self, seed: int) -> int:
        """This rank's seed for its own random streams (the seed itself on rank 0)."""
        if self.rank == 0:
            return seed
        return int(np.random.SeedSequence([seed, self.rank]).generate_state(2, np.uint64)[0] >> 1)


LOCAL = Group()


class ProcessGroup(Group):
    """The default ``torch.distributed`` process group (initialised by the caller)."""

    def __init__(self):
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError(
                "distributed=True needs a torch.distributed process group: launch with torchrun "
                "and call torch.distributed.init_process_group() first (the command line "
                "'diffputer impute --distributed' does both)."
            )
        self._dist = dist
        self.rank, self.size = dist.get_rank(), dist.get_world_size()
        # Collectives travel on the backend's device: CUDA tensors for NCCL, CPU for gloo.
        self._device = (torch.device("cuda", torch.cuda.current_device())
                        if dist.get_backend() == "nccl" else torch.device("cpu"))

    def sum(self, array):
        values = torch.as_tensor(np.asarray(array, dtype=np.float64), device=self._device)
        self._dist.all_reduce(values)
        out = values.cpu().numpy()
        return out if np.ndim(array) else float(out)

    def mean(self, value: float) -> float:
        return self.sum(value) / self.size

    def max(self, value: int) -> int:
        values = torch.tensor([int(value)], dtype=torch.int64, device=self._device)
        self._dist.all_reduce(values, op=self._dist.ReduceOp.MAX)
        return int(values.item())

    def all_gather(self, obj) -> list:
        gathered = [None] * self.size
        self._dist.all_gather_object(gathered, obj)
        return gathered

    def broadcast(self, obj):
        box = [obj]
        self._dist.broadcast_object_list(box, src=0)
        return box[0]

    def parallel(self, module):
        from torch.nn.parallel import DistributedDataParallel

        device = next(module.parameters()).device
        device_ids = [device] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)


def current_group(distributed: bool) -> Group:
    """The group a fit runs in: the torch.distributed default group, or :data:`LOCAL`."""
    return ProcessGroup() if distributed else LOCAL


@contextmanager
def process_group(device: str = "auto"):
    """Initialise the torch.distributed process group from torchrun's environment (NCCL on
    the GPU ``cuda:LOCAL_RANK`` unless ``device`` is "cpu" or there is none, else gloo),
    yield its :class:`ProcessGroup`, and tear it down."""
    import torch.distributed as dist

    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
               if name not in os.environ]
    if missing:
        raise ValueError(f"--distributed runs under torchrun, which sets {', '.join(missing)}; "
                         "launch with: torchrun --nproc-per-node N -m diffputer impute ... "
                         "--distributed")
    gpu = str(device) != "cpu" and torch.cuda.is_available()
    if gpu:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if gpu else "gloo")
    try:
        yield ProcessGroup()
    finally:
        dist.destroy_process_group()


def local_device(device: torch.device, group: Group) -> torch.device:
    """``device`` for this rank: over several processes a bare ``cuda`` becomes
    ``cuda:LOCAL_RANK`` (one GPU per process on a node, as torchrun numbers them)."""
    if group.size > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def shard_bounds(n: int, size: int, rank: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous share of n rows (the first ``n % size`` ranks get
    one more)."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def local_rows(table: pd.DataFrame, group: Group) -> pd.DataFrame:
    """This rank's contiguous share of a table's rows (:func:`shard_bounds`)."""
    start, stop = shard_bounds(len(table), group.size, group.rank)
    return table.iloc[start:stop]


def sample_rows(arrays: tuple[np.ndarray, ...], limit: int, group: Group,
                rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The same rows of each array (rows aligned) from every rank, gathered on every rank in
    rank order: all of them when the ranks hold at most ``limit`` rows in total, else a
    random subset of each shard in proportion to its size."""
    n = len(arrays[0])
    total = int(group.sum(float(n)))
    keep = np.arange(n)
    if total > limit:
        keep = np.sort(rng.choice(n, size=min(n, math.ceil(limit * n / total)), replace=False))
    parts = group.all_gather(tuple(a[keep] for a in arrays))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(len(arrays)))


def gather_imputations(result, group: Group):
    """The ranks' :class:`~diffputer.MultipleImputation` of their shards as one, of the whole
    table, on rank 0 (None elsewhere)."""
    parts = group.all_gather((result.data, result.imp))
    if group.rank != 0:
        return None
    return MultipleImputation.concat([MultipleImputation(data, imp, result.history, result.model)
                                      for data, imp in parts])


def row_group_owners(sizes: list[int], size: int) -> np.ndarray:
    """The rank that reads each row group: contiguous runs, balanced by row count (a group
    goes to the rank whose share of the rows holds its middle row)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    middles = np.cumsum(sizes) - sizes / 2
    return np.minimum((middles * size / max(sizes.sum(), 1)).astype(int), size - 1)


def read_parquet_shard(path, group: Group) -> pd.DataFrame:
    """This rank's rows of a parquet file, indexed by their row numbers in the file: its run of
    row groups (:func:`row_group_owners`).
    When that leaves some rank without rows (fewer or very uneven row groups), the file is
    read whole and sliced evenly instead."""
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    sizes = [source.metadata.row_group(i).num_rows for i in range(source.num_row_groups)]
    owners = row_group_owners(sizes, group.size)
    if len(np.unique(owners)) < group.size:
        return local_rows(source.read().to_pandas(), group)
    mine = np.flatnonzero(owners == group.rank)
    shard = source.read_row_groups(mine.tolist()).to_pandas()
    first = int(sum(sizes[: mine[0]]))
    shard.index = pd.RangeIndex(first, first + len(shard))
    return shard
