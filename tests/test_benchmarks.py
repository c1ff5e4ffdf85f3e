"""The benchmark's table <-> matrix codings for the scikit-learn peers, and its scoring."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.accuracy import check_imputed, score
from benchmarks.methods import average_draws, from_matrix, mean_mode, to_matrix
from benchmarks.report import MARKER, write_report


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame({"x": rng.normal(5, 2, n),
                       "g": pd.Categorical(rng.choice(["a", "b", "c"], n)),
                       "h": pd.Categorical(rng.choice(["u", "v"], n))})
    return df.mask(rng.random(df.shape) < 0.3)


@pytest.mark.parametrize("coding, width", [("onehot", 1 + 3 + 2), ("dummies", 1 + 2 + 1),
                                           ("codes", 3)])
def test_each_coding_reads_back_the_level_it_wrote(table, coding, width):
    complete = mean_mode(table, 0)
    matrix, layout = to_matrix(complete, coding)
    assert matrix.shape == (len(table), width)
    np.testing.assert_allclose(np.nanmean(matrix[:, 0]), 0, atol=1e-12)  # z-scored
    back = from_matrix(matrix, layout, table)
    pd.testing.assert_frame_equal(back, complete)


def test_missing_cells_stay_missing_in_every_column_of_their_block(table):
    matrix, _ = to_matrix(table, "onehot")
    assert np.isnan(matrix[table["g"].isna().to_numpy(), 1:4]).all()
    assert not np.isnan(matrix[table["g"].notna().to_numpy(), 1:4]).any()


def test_the_rounded_code_and_the_largest_indicator_pick_the_level(table):
    matrix, layout = to_matrix(table, "codes")
    filled = np.where(np.isnan(matrix), 1.4, matrix)  # code 1.4 -> level "b" / "v"
    back = from_matrix(filled, layout, table)
    assert (back.loc[table["g"].isna(), "g"] == "b").all()
    assert (back.loc[table["h"].isna(), "h"] == "v").all()
    matrix, layout = to_matrix(table, "dummies")
    filled = np.where(np.isnan(matrix), 0.1, matrix)  # reference level: 1 - 0.2 > 0.1
    back = from_matrix(filled, layout, table)
    assert (back.loc[table["g"].isna(), "g"] == "a").all()


def test_score_and_checks():
    truth = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "g": pd.Categorical(list("abab"))})
    mask = np.array([[True, True], [False, False], [True, False], [False, True]])
    imputed = truth.copy()
    imputed.loc[0, "x"] = 1.0
    imputed.loc[0, "g"] = "b"
    scores = score(truth, imputed, mask)
    assert scores["mae"] == pytest.approx(0.5 / truth["x"].std(ddof=0))
    assert scores["accuracy"] == 0.5
    with pytest.raises(AssertionError, match="changed observed"):
        check_imputed(imputed.assign(x=imputed["x"] + 1), truth.mask(mask), "m")
    with pytest.raises(AssertionError, match="left missing"):
        check_imputed(truth.mask(mask), truth.mask(mask), "m")


def test_average_draws_takes_the_mean_and_the_most_frequent_level():
    df = pd.DataFrame({"x": [1.0, np.nan], "g": pd.Categorical(["a", None], categories=["a", "b"])})
    tables = [pd.DataFrame({"x": [1.0, x], "g": ["a", g]}) for x, g in ((2.0, "b"), (4.0, "a"),
                                                                          (6.0, "b"))]
    out = average_draws(df, tables)
    assert out["x"].tolist() == [1.0, 4.0]
    assert out["g"].tolist() == ["a", "b"]


def test_scaling_table_is_mixed_and_its_costs_are_measured():
    from benchmarks.methods import is_categorical
    from benchmarks.scaling import measure, synthetic

    df = synthetic(500)
    kinds = pd.Series([is_categorical(df[c]) for c in df.columns], index=df.columns)
    assert df.shape == (500, 20) and kinds.sum() == 6 and not df.isna().any().any()
    assert {len(df[c].cat.categories) for c in df.columns[kinds]} == {3, 4, 5}
    # the numeric columns share latent factors: a table worth imputing
    assert np.abs(np.corrcoef(df.loc[:, ~kinds].to_numpy().T)[np.triu_indices(14, 1)]).mean() > 0.2
    costs = measure(1500)
    assert costs["steps_per_epoch"] == 2
    assert costs["epoch_s"] > 0 and costs["draw_per_1k_rows_s"] > 0


def test_network_costs_are_measured_in_a_fresh_process_and_compared_with_a_base_kind():
    from benchmarks.network_cost import measure_fresh, with_speed_ups

    costs = measure_fresh(4, 8, 3)
    assert costs["eval_ms"] > 0 and costs["step_ms"] > 0 and costs["step_warm_up_s"] > 0
    rows = [{"table": "t", "width": 8, "network": kind, "eval_ms": ms, "step_ms": 2 * ms}
            for kind, ms in (("a", 4.0), ("b", 1.0), ("b", 3.0))]
    frame = with_speed_ups(rows, "network", "a")
    assert frame["eval_ms"].tolist() == [4.0, 2.0]  # the median of b's two rounds
    assert frame["eval speed-up"].tolist() == [1.0, 2.0]
    assert frame["step speed-up"].tolist() == [1.0, 2.0]


def test_network_cost_report_writes_the_table_under_the_docstring_and_its_command(tmp_path):
    from benchmarks.compiled import __doc__ as doc
    from benchmarks.network_cost import report

    out = tmp_path / "costs.md"
    frame = pd.DataFrame({"eval_ms": [1.5]}, index=pd.Index(["t"], name="table"))
    report(lambda repeats, rounds: frame * repeats * rounds, "Costs", "benchmarks.compiled", doc,
           ["--repeats", "2", "--rounds", "3", "--out", str(out)])
    text = out.read_text()
    assert text.startswith(f"# Costs\n\n{MARKER}\n\nFor the default preset's network")
    assert f"    python -m benchmarks.compiled --out {out}\n" in text
    row = [line for line in text.splitlines() if line.startswith("| t ")]
    assert len(row) == 1 and float(row[0].split("|")[2]) == 1.5 * 2 * 3  # run got --repeats 2


def test_a_rewritten_report_keeps_its_notes_and_replaces_the_rest(tmp_path):
    out = tmp_path / "report.md"
    write_report(out, "# Old title\nfirst table\n")
    assert out.read_text() == f"# Old title\n\n{MARKER}\n\nfirst table\n"
    notes = "These rows ran with the code of commit abc.\n\nA second paragraph."
    out.write_text(out.read_text().replace(MARKER, f"{notes}\n\n{MARKER}"))
    write_report(out, "# New title\n\nsecond table\n")
    assert out.read_text() == f"# New title\n\n{notes}\n\n{MARKER}\n\nsecond table\n"
    out.write_text("# A report without the marker\n\nhand-written table\n")
    write_report(out, "# Title\nthird table\n")
    assert out.read_text() == f"# Title\n\n{MARKER}\n\nthird table\n"


def test_big_table_run_checks_and_scores_its_imputation(tiny):
    from benchmarks.big_table import run, to_markdown

    settings = {k: v for k, v in tiny.items() if k not in ("random_state", "progress")}
    result = run(400, settings=settings)
    assert result["observed_unchanged"] and result["dtypes_kept"]
    assert result["missing_left"] == 0 and result["incomplete_rows"] <= 400
    assert result["peak_rss_mb"] >= result["rss_after_data_mb"] > 0
    assert result["diffputer_mae"] > 0 and 0 <= result["mean_accuracy"] <= 1
    assert "| rows " in to_markdown(result, "cmd")


def test_each_ablation_variant_changes_one_valid_setting_and_compares_with_the_default():
    from benchmarks.ablation import VARIANTS, summarise
    from diffputer.settings import PRESETS, resolve

    default = PRESETS["fast"]
    for name, change in VARIANTS.items():
        assert len(change) == (0 if name == "default" else 1)
        settings = resolve("fast", **change)  # a valid setting, really changed
        assert all(getattr(settings, k) == v != getattr(default, k) for k, v in change.items())
    rows = pd.DataFrame({"variant": ["n_samples=20", "default", "default", "n_samples=20"],
                         "seed": [0, 0, 1, 1], "mae": [0.3, 0.4, 0.4, 0.3],
                         "rmse": [1.0] * 4, "accuracy": [0.8, 0.7, 0.7, 0.8],
                         "seconds": [20.0, 10.0, 10.0, 20.0]})
    table = summarise(rows)
    assert table.index.tolist() == ["default", "n_samples=20"]  # VARIANTS' order
    assert table.loc["n_samples=20", "MAE / default"] == pytest.approx(0.75)
    assert table.loc["n_samples=20", "accuracy - default"] == pytest.approx(0.1)
    assert table.loc["n_samples=20", "time / default"] == pytest.approx(2.0)


def test_the_hidden_values_follow_the_exact_conditionals_of_the_validity_design():
    """The values a mask hides are draws from the exact conditionals: as imputations, they
    score 1 on every row of the conditionals benchmark (within its noise)."""
    from benchmarks.conditionals import scores
    from benchmarks.validity import simulate

    full, amputed = simulate(0, n=40_000)
    scored = scores(amputed, [full])
    for name, value in scored.items():
        assert abs(value - (0 if name.endswith("(0)") else 1)) < 0.08, name
    # Draws that ignore the rest of the row score 0 on the slopes.
    shuffled = full.assign(x1=full["x1"].sample(frac=1, random_state=0).to_numpy(),
                           g=full["g"].sample(frac=1, random_state=1).to_numpy())
    ignored = scores(amputed, [shuffled])
    assert abs(ignored["x1: slope"]) < 0.1 and abs(ignored["b: calibration slope"]) < 0.1


def test_exact_draws_keep_the_observed_cells_and_score_on_target():
    """The reference imputations of the conditionals benchmark: observed cells kept, every
    row on target, and their level offsets' error as small as the hidden values' own."""
    from benchmarks.conditionals import exact_draws, level_offsets_error, scores
    from benchmarks.validity import simulate

    full, amputed = simulate(1, n=40_000)
    tables = exact_draws(amputed, seed=0, m=2)
    observed = amputed.notna()
    for table in tables:
        assert table.notna().all().all()
        for column in amputed:
            assert (table[column][observed[column]] == amputed[column][observed[column]]).all()
    for name, value in scores(amputed, tables).items():
        assert abs(value - (0 if name.endswith("(0)") else 1)) < 0.08, name
    # Draws of x1 shifted by 0.4 where g = b: contrasts 0.4 and 0, RMS 0.28.
    shifted = [t.assign(x1=t["x1"] + 0.4 * (t["g"] == "b") * amputed["x1"].isna())
               for t in tables]
    assert level_offsets_error(amputed, tables) < 0.03
    assert level_offsets_error(amputed, shifted) > 0.2


def test_validity_pairs_the_estimates_of_two_methods_on_the_same_replications():
    from benchmarks.validity import TRUTH, paired_differences

    rows = [{"rep": rep, "method": method, "term": term, "estimate": value + shift}
            for rep, shift in enumerate([0.0, 1.0, 2.0])
            for method, value in (("mice", 0.0), ("diffputer (proper)", 0.5 + 0.1 * shift))
            for term in TRUTH]
    rows.append({"rep": 9, "method": "mice", "term": "x1", "estimate": 100.0})  # mice only
    paired = paired_differences(pd.DataFrame(rows))
    assert list(paired.index) == ["diffputer (proper) - mice"]
    assert list(paired.columns) == list(TRUTH)
    assert paired.loc["diffputer (proper) - mice", "x1"] == "0.6 ± 0.0577"


def test_added_errors_are_the_rms_and_mean_distance_to_the_full_tables_estimate():
    from benchmarks.validity import TRUTH, added_errors, coefficients, simulate

    full = {rep: coefficients(simulate(rep, 200)[0]) for rep in (0, 1)}
    rows = [{"rep": rep, "method": method, "term": term, "estimate": value + shift}
            for rep in (0, 1)
            for method, shift in (("full table", 0.0), ("mice", 0.0),
                                  ("diffputer (proper)", 0.1 * (rep + 1)))
            for term, value in zip(TRUTH, full[rep])]
    errors = added_errors(pd.DataFrame(rows), n=200)
    assert list(errors.loc["rms"].index) == ["mice", "diffputer (proper)"]
    assert list(errors.columns) == list(TRUTH)
    np.testing.assert_allclose(errors.loc[("rms", "mice")], 0, atol=1e-12)
    np.testing.assert_allclose(errors.loc[("rms", "diffputer (proper)")],
                               np.sqrt((0.01 + 0.04) / 2))
    np.testing.assert_allclose(errors.loc[("bias", "diffputer (proper)")], 0.15)
    luck = (full[0] + full[1]) / 2 - np.array(list(TRUTH.values()))
    np.testing.assert_allclose(errors.loc[("bias", "full table")], luck)


def test_the_full_table_reference_fits_the_replication_before_its_values_were_hidden():
    from benchmarks.validity import TRUTH, coefficients, full_table, simulate

    full, amputed = simulate(3, 200)
    rows = pd.DataFrame(full_table(amputed, 3)).set_index("term")
    assert amputed.isna().any().any() and not full.isna().any().any()
    assert set(rows["method"]) == {"full table"} and list(rows.index) == list(TRUTH)
    np.testing.assert_allclose(rows["estimate"], coefficients(full), atol=1e-10)
    assert (rows["lower"] < rows["estimate"]).all() and (rows["estimate"] < rows["upper"]).all()


def test_fit_noise_is_the_variance_across_seeds_less_what_the_draws_explain():
    from benchmarks.fit_noise import M, summarise, to_markdown

    # Two tables, three seeds each: pooled estimates 1, 2, 3 (variance 1) and 0, 0, 3
    # (variance 3); the draws' variance B is 5 on every fit, so B / m is 1.
    rows = [{"variant": "v", "table": table, "seed": seed, "term": "x1", "pooled": pooled,
             "between": 5.0, "full": 1.0, "seconds": 2.0}
            for table, estimates in ((0, (1.0, 2.0, 3.0)), (1, (0.0, 0.0, 3.0)))
            for seed, pooled in enumerate(estimates)]
    rows.append({**rows[0], "table": 2})  # a table fitted once says nothing about the noise
    out = summarise(pd.DataFrame(rows)).loc[("v", "x1")]
    assert out["across seeds"] == pytest.approx(2.0)
    assert out["draws (B / m)"] == pytest.approx(5.0 / M)
    assert out["fit noise"] == pytest.approx(2.0 - 5.0 / M)
    assert out["error vs full table"] == pytest.approx((0 + 1 + 4 + 1 + 1 + 4 + 0) / 7)
    assert (out["tables"], out["fits"]) == (2, 7)
    assert "| ('v', 'x1')" in to_markdown(summarise(pd.DataFrame(rows)), "command")


def test_validity_reports_an_earlier_runs_peers_on_this_runs_tables_only():
    from benchmarks.validity import with_peers

    def rows(method, reps):
        return pd.DataFrame({"rep": reps, "method": method, "estimate": 1.0})

    raw = rows("diffputer (proper)", [0, 1])
    earlier = pd.concat([rows("mice", [0, 1, 2]), rows("diffputer (proper)", [0, 1, 2])])
    merged = with_peers(raw, [earlier])
    assert sorted(zip(merged["method"], merged["rep"])) == [
        ("diffputer (proper)", 0), ("diffputer (proper)", 1), ("mice", 0), ("mice", 1)]
    assert len(with_peers(raw, [])) == 2


def test_validity_report_names_the_options_that_resume_its_run():
    import argparse

    from benchmarks.validity import RESULTS, RUNNERS, rerun_command

    defaults = dict(reps=200, workers=2, n=1000, seeds=None, runners=list(RUNNERS), peers=[],
                    previous=None, raw=[RESULTS / "validity_raw.csv"],
                    out=RESULTS / "validity.md")
    assert rerun_command(argparse.Namespace(**defaults)) == (
        "python -m benchmarks.validity --reps 200 --workers 2")
    partial = argparse.Namespace(**{**defaults, "runners": ["diffputer"], "raw": [Path("r.csv")],
                                    "out": Path("v.md"), "peers": [Path("p.csv")],
                                    "seeds": [200, 400]})
    assert rerun_command(partial) == (
        "python -m benchmarks.validity --reps 200 --workers 2 --seeds 200 400 "
        "--runners diffputer --raw r.csv --out v.md --peers p.csv")
