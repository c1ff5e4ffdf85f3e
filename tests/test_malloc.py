"""Freed tensor memory stays in the process (glibc), so the network's loops don't page-fault."""

import subprocess
import sys

from diffputer._malloc import OPT_OUT, wanted

# A layer's worth of 4 MiB intermediates (8,192 rows x 128 units), 40 times after a warm-up;
# prints whether malloc was tuned and the minor page faults of the 40. Untuned, each of the
# 120 tensors maps its 1,024 pages afresh (about 120,000 faults); tuned, at most a one-off
# growth of the heap by one tensor remains.
ALLOCATIONS = """
import resource, torch
from diffputer._malloc import keep_freed_memory
tuned = keep_freed_memory()
x = torch.ones(8192, 128)
def layer():
    return torch.nn.functional.silu(x * 2 + 1)
for _ in range(10):
    layer()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    layer()
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def allocation_faults(env: dict) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", ALLOCATIONS], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    return out[0] == "True", int(out[1])


def test_tuned_only_on_linux_and_never_over_the_users_own_settings():
    assert wanted({}, "linux")
    assert not wanted({}, "darwin")
    assert not wanted({}, "win32")
    assert not wanted({"MALLOC_TRIM_THRESHOLD_": "131072"}, "linux")
    assert not wanted({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"}, "linux")
    assert not wanted({OPT_OUT: "0"}, "linux")
    assert wanted({OPT_OUT: "1"}, "linux")


def test_freed_tensors_are_reused_without_page_faults():
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    tuned, faults = allocation_faults(env)
    assert tuned
    assert faults < 2048  # fewer than two of the 120 tensors mapped afresh
    # Untuned, glibc may raise its mmap threshold by itself after a free and fault no more;
    # the baseline fixes glibc's default threshold (128 KiB), which the user's tunables
    # then keep (so the package leaves malloc alone too).
    untuned, faults_untuned = allocation_faults(
        {**env, "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=131072"})
    assert not untuned
    assert faults_untuned > 10 * max(faults, 1)
