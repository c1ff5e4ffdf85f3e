import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

TINY_FLAGS = ["--seed", "0", "--quiet", "--set", "width=32", "--set", "max_steps=30",
              "--set", "n_steps=4", "--set", "resample=1", "--set", "corrector_steps=2",
              "--max-iter", "2"]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "diffputer", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=30), "g": rng.choice(["a", "b"], size=30)})
    df.loc[::4, "x"] = np.nan
    df.loc[1::5, "g"] = np.nan
    path = tmp_path / "in.csv"
    df.to_csv(path, index=False)
    return df, path


def test_help_lists_the_options():
    result = _run("impute", "--help")
    assert result.returncode == 0
    for flag in ("-m", "--output", "--format", "--seed", "--set"):
        assert flag in result.stdout


def test_impute_writes_the_long_table_with_the_original_as_imp_0(table, tmp_path):
    df, path = table
    out = tmp_path / "out.csv"
    result = _run("impute", str(path), "-m", "3", "-o", str(out), *TINY_FLAGS)
    assert result.returncode == 0, result.stderr
    long = pd.read_csv(out)
    assert list(long.columns) == [".imp", ".id", "x", "g"]
    assert sorted(long[".imp"].unique()) == [0, 1, 2, 3]
    original = long[long[".imp"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(original[["x", "g"]], df, check_dtype=False)
    imputed = long[long[".imp"] > 0]
    assert not imputed[["x", "g"]].isna().any().any()
    assert set(imputed["g"]) <= {"a", "b"}
    observed = df["x"].notna().to_numpy()
    for i in (1, 2, 3):
        x = long.loc[long[".imp"] == i, "x"].to_numpy()
        np.testing.assert_array_equal(x[observed], df["x"].to_numpy()[observed])


def test_same_seed_gives_the_same_file_with_or_without_checkpoints(table, tmp_path):
    _, path = table
    a, b, checkpoints = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "checkpoints"
    assert _run("impute", str(path), "-m", "2", "-o", str(a), *TINY_FLAGS).returncode == 0
    assert _run("impute", str(path), "-m", "2", "-o", str(b), *TINY_FLAGS,
                "--checkpoint-dir", str(checkpoints)).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    assert list(checkpoints.iterdir()) == []  # the checkpoint goes once the fit is done


def test_broad_format_and_parquet(table, tmp_path):
    df, path = table
    parquet_in = tmp_path / "in.parquet"
    df.to_parquet(parquet_in)
    out = tmp_path / "out.parquet"
    result = _run("impute", str(parquet_in), "-m", "2", "-o", str(out), "--format", "broad",
                  *TINY_FLAGS)
    assert result.returncode == 0, result.stderr
    broad = pd.read_parquet(out)
    assert list(broad.columns) == ["x.0", "g.0", "x.1", "g.1", "x.2", "g.2"]


def test_bad_input_gives_a_one_line_error_and_no_output(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"x": [1.0, np.nan, 3.0], "empty": [np.nan] * 3}).to_csv(bad, index=False)
    out = tmp_path / "out.csv"
    result = _run("impute", str(bad), "-o", str(out), *TINY_FLAGS)
    assert result.returncode == 2
    assert "diffputer: error: Column 'empty' has no observed value" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_missing_input_and_bad_setting_are_reported(tmp_path):
    result = _run("impute", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = _run("impute", str(tmp_path / "nope.csv"), "-o", "o.csv", "--set", "speed=9")
    assert result.returncode == 2 and "--set expects NAME=VALUE" in result.stderr
