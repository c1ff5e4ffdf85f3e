"""Interrupted fits: a fit killed mid-way resumes from its checkpoint with the same result."""

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from diffputer import CheckpointError, DiffPuter
from diffputer.checkpoint import FILENAME

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd, torch
    import diffputer

    torch.set_num_threads(1)
    mode, data, settings, checkpoint_dir, out = sys.argv[1:]

    def kill_in_the_third_iteration(history):
        if not hasattr(kill_in_the_third_iteration, "first"):
            kill_in_the_third_iteration.first = len(history.losses)
            print("first iteration run:", len(history.losses), flush=True)
        if mode == "kill" and len(history.losses) == 3 and history.losses[-1]:
            os.kill(os.getpid(), signal.SIGKILL)

    model = diffputer.DiffPuter(**pd.read_pickle(settings), callback=kill_in_the_third_iteration)
    completed = model.fit_transform(pd.read_pickle(data),
                                    checkpoint_dir=None if mode == "plain" else checkpoint_dir)
    completed.to_pickle(out)
""")


def run(mode, tmp_path):
    out = tmp_path / f"{mode}.pkl"
    args = [str(tmp_path / name) for name in ("data.pkl", "settings.pkl", "checkpoints")]
    process = subprocess.run([sys.executable, str(tmp_path / "fit.py"), mode, *args, str(out)],
                             capture_output=True, text=True, env={"OMP_NUM_THREADS": "1",
                                                                 "PATH": "/usr/bin:/bin"})
    return process, out


def test_a_fit_killed_mid_iteration_resumes_to_the_uninterrupted_result(mixed_df, tiny, tmp_path):
    (tmp_path / "fit.py").write_text(SCRIPT)
    mixed_df.to_pickle(tmp_path / "data.pkl")
    pd.to_pickle({**tiny, "max_iter": 4}, tmp_path / "settings.pkl")

    killed, _ = run("kill", tmp_path)
    assert killed.returncode == -9, killed.stderr
    saved = list((tmp_path / "checkpoints").iterdir())
    assert [p.name for p in saved] == [FILENAME]  # whole, no temporary file left over

    resumed, resumed_out = run("resume", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "first iteration run: 3" in resumed.stdout  # iterations 1 and 2 were not rerun
    assert not (tmp_path / "checkpoints" / FILENAME).exists()  # removed once the fit is done
    plain, plain_out = run("plain", tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "first iteration run: 1" in plain.stdout
    pd.testing.assert_frame_equal(pd.read_pickle(resumed_out), pd.read_pickle(plain_out))


class Interrupt(Exception):
    pass


def interrupt_in_the_second_iteration(history):
    if len(history.losses) == 2:
        raise Interrupt


def test_a_checkpoint_of_another_fit_is_refused(mixed_df, tiny, tmp_path):
    with pytest.raises(Interrupt):
        DiffPuter(**tiny, callback=interrupt_in_the_second_iteration).fit(
            mixed_df, checkpoint_dir=tmp_path)
    assert (tmp_path / FILENAME).exists()
    with pytest.raises(CheckpointError, match="another fit"):
        DiffPuter(**{**tiny, "random_state": 1}).fit(mixed_df, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="another fit"):
        DiffPuter(**tiny).fit(mixed_df.iloc[:-1], checkpoint_dir=tmp_path)
    (tmp_path / FILENAME).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        DiffPuter(**tiny).fit(mixed_df, checkpoint_dir=tmp_path)


def test_a_resumed_one_call_impute_matches_the_uninterrupted_one(mixed_df, tiny, tmp_path):
    import diffputer

    with pytest.raises(Interrupt):
        diffputer.impute(mixed_df, m=2, checkpoint_dir=tmp_path,
                         callback=interrupt_in_the_second_iteration, **tiny)
    resumed = diffputer.impute(mixed_df, m=2, checkpoint_dir=tmp_path, **tiny)
    plain = diffputer.impute(mixed_df, m=2, **tiny)
    for i in (1, 2):
        pd.testing.assert_frame_equal(resumed.complete(i), plain.complete(i))
    assert not (tmp_path / FILENAME).exists()
