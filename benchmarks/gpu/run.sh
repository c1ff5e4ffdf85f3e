#!/usr/bin/env bash
# The GPU check: the engine's tests on CUDA, a one-rank NCCL run, then the accuracy benchmark
# on the GPU.
#   bash benchmarks/gpu/run.sh OUTDIR      (from the repository root, on a CUDA machine)
# Set DIFFPUTER_DATASETS when ../shared/datasets is not beside the checkout.
set -u
out=${1:?usage: run.sh OUTDIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
nvidia-smi -L
python3 -c "import torch, pandas; print('torch', torch.__version__, 'pandas', pandas.__version__, torch.cuda.get_device_name())"
timeout 100 python3 -m pytest -q -p no:cacheprovider tests/test_estimator.py tests/test_sampling.py \
    tests/test_categorical.py tests/test_persistence.py tests/test_bad_input.py | tail -3
# NCCL: a one-rank group on this GPU must give the bytes of the plain run with the same seed.
python3 -c "
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
df = pd.DataFrame({'x': rng.normal(size=400), 'g': rng.choice(['a', 'b'], size=400)})
df.mask(rng.random(df.shape) < 0.3).to_parquet('$out/nccl_in.parquet', row_group_size=100)"
flags="--device cuda --seed 0 --quiet -m 2 --max-iter 1 --set max_steps=100"
timeout 60 python3 -m diffputer impute "$out/nccl_in.parquet" -o "$out/plain.parquet" $flags
timeout 90 python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m diffputer impute \
    "$out/nccl_in.parquet" -o "$out/nccl.parquet" --distributed $flags \
    && cmp "$out/plain.parquet" "$out/nccl.parquet" && echo "NCCL one-rank run: same output"
timeout 170 python3 -m benchmarks.accuracy --datasets california letter --methods mean diffputer \
    --device cuda --out "$out/accuracy_mcar_gpu.md"
timeout 330 python3 benchmarks/gpu/paper_budget.py
