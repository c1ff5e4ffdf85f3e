#!/usr/bin/env bash
# The GPU check: the engine's tests on CUDA, then the accuracy benchmark on the GPU.
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
timeout 170 python3 -m benchmarks.accuracy --datasets california letter --methods mean diffputer \
    --device cuda --out "$out/accuracy_mcar_gpu.md"
timeout 330 python3 benchmarks/gpu/paper_budget.py
