"""Time the paper preset on a GPU: california, MCAR 30%, one and two EM iterations of 8,000 steps.

    python benchmarks/gpu/paper_budget.py      (from the repository root, on a CUDA machine)
"""

import json
import time

import torch

import diffputer
from benchmarks import data
from benchmarks.accuracy import score

truth = data.load("california")
mask = diffputer.missing_mask(truth, 0.3, "MCAR", seed=0)
amputed = truth.mask(mask)
for budget in ({"max_iter": 1, "max_steps": 8000}, {"max_iter": 2, "max_steps": 8000}):
    started = time.perf_counter()
    model = diffputer.DiffPuter(preset="paper", random_state=0, device="cuda", **budget)
    imputed = model.fit_transform(amputed)
    torch.cuda.synchronize()
    print(json.dumps({"budget": budget, "seconds": time.perf_counter() - started,
                      **score(truth, imputed, mask),
                      "peak_gib": torch.cuda.max_memory_allocated() / 2**30}), flush=True)
