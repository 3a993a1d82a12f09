"""Regression checks (semscale/regression.py; experiments/regression.py and run_all.py --compare use it) on
constructed results folders."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

from semscale import regression  # noqa: E402
from machine_pins import kind_folders  # noqa: E402


def write(path: Path, rows: list[dict]):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def trained_rows(values_by_seed):
    return [{"backbone": "B", "seed": seed, "m": 100, "top1": repr(value)} for seed, value in enumerate(values_by_seed)]


def moved(tmp_path, folder, old_rows, new_rows, table="t"):
    write(tmp_path / "old" / folder / f"{table}.csv", old_rows)
    write(tmp_path / "new" / folder / f"{table}.csv", new_rows)
    return regression.compare_folders(tmp_path / "old", tmp_path / "new", [folder])


def test_trained_numbers_use_the_committed_seed_interval(tmp_path):
    # Committed 0.80, 0.82, 0.84 (sd 0.02): tolerance t(0.975, 2) * 0.02 * sqrt(1/3 + 1/3) = 0.07027.
    old = trained_rows([0.80, 0.82, 0.84])
    count, rows = moved(tmp_path, "a", old, trained_rows([0.87, 0.88, 0.89]))  # mean moved by 0.06
    assert count == 1 and rows == []
    _, rows = moved(tmp_path, "b", old, trained_rows([0.89, 0.90, 0.91]))  # moved by 0.08
    assert len(rows) == 1 and rows[0]["status"] == "moved" and rows[0]["row"] == "backbone=B | m=100"
    assert rows[0]["tolerance"] == pytest.approx(4.302652729911275 * 0.02 * (2 / 3) ** 0.5, rel=1e-6)
    assert rows[0]["difference"] == pytest.approx(0.08) and rows[0]["rule"] == "seed interval (k=3)"


def test_one_seed_and_deterministic_numbers(tmp_path):
    # The example: SmallCNN-16 at m = 100 went from 0.7068 to 0.6641 (6% of the value; 5% allowed).
    _, rows = moved(tmp_path, "a", trained_rows([0.7068]), trained_rows([0.6641]))
    assert [r["status"] for r in rows] == ["moved"] and rows[0]["rule"].startswith("one seed")
    _, rows = moved(tmp_path, "b", trained_rows([0.7068]), trained_rows([0.70]))
    assert rows == []
    # A volume (no seed column): a float tolerance.
    volume = [{"m": 50, "class": 3, "volume": "96.03251356074308"}]
    _, rows = moved(tmp_path, "c", volume, [{**volume[0], "volume": "96.03251356074309"}])
    assert rows == []
    _, rows = moved(tmp_path, "d", volume, [{**volume[0], "volume": "96.0330"}])
    assert len(rows) == 1 and rows[0]["row"] == "m=50 | class=3" and rows[0]["column"] == "volume"


def test_undefined_in_both_runs_is_the_same_number(tmp_path):
    # An empty head/middle/tail group or a '-' paper cell is nan in both runs: not moved; nan on one side only is.
    row = {"group": "head", "seed": 0, "acc": "nan"}
    assert moved(tmp_path, "a", [row], [dict(row)])[1] == []
    _, rows = moved(tmp_path, "b", [row], [{**row, "acc": "0.5"}])
    assert [r["status"] for r in rows] == ["moved"]
    _, rows = moved(tmp_path, "c", [{**row, "acc": "0.5"}], [row])
    assert [r["status"] for r in rows] == ["moved"]


def test_missing_rows_and_changed_verdicts_are_reported(tmp_path):
    _, rows = moved(tmp_path, "a", [{"k": "x", "v": "0.5"}, {"k": "y", "v": "0.25"}], [{"k": "x", "v": "0.5"}])
    assert [(r["row"], r["status"]) for r in rows] == [("k=y", "missing in rerun")]
    checks = [{"id": "gain", "kind": "claim", "description": "d", "paper": "+4.8", "ours": "+1.40 [0.24, 2.55]",
               "difference": "", "verdict": "held", "reason": ""}]
    rerun = [{**checks[0], "ours": "-1.19 [-4.60, 2.22]", "verdict": "not held"}]
    _, rows = moved(tmp_path, "b", checks, rerun, table="checks")
    assert len(rows) == 1 and rows[0]["status"] == "verdict changed" and rows[0]["paper"] == "+4.8"
    assert rows[0]["committed"] == "held: +1.40 [0.24, 2.55]" and rows[0]["rerun"].startswith("not held")


def test_timings_are_not_compared(tmp_path):
    speed = [{"backbone": "small_cnn", "ratio": "0.95"}]
    checks = [{"id": "speed_CE", "paper": "", "ours": "0.95", "verdict": "held"},
              {"id": "equal_tiny", "paper": "", "ours": "1e-9", "verdict": "held"}]
    write(tmp_path / "old" / "bench" / "speed.csv", speed)
    write(tmp_path / "new" / "bench" / "speed.csv", [{"backbone": "small_cnn", "ratio": "0.5"}])
    write(tmp_path / "old" / "bench" / "checks.csv", checks)
    write(tmp_path / "new" / "bench" / "checks.csv", [{**c, "verdict": "not held"} for c in checks])
    _, rows = regression.compare_folders(tmp_path / "old", tmp_path / "new", ["bench"])
    assert [r["row"] for r in rows] == ["equal_tiny"]  # the exactness claim is compared, the speed one is not


def test_run_all_compare_flags_a_moved_number(tmp_path):
    """run_all.py --compare on the deterministic stanford smoke run against the pinned results and an altered copy."""
    pinned = kind_folders()[0] / "smoke"  # stanford's smoke tables train nothing: the same on every kind
    committed = tmp_path / "committed"
    shutil.copytree(pinned / "stanford-smoke", committed / "stanford-smoke")
    command = [sys.executable, str(ROOT / "experiments" / "run_all.py"), "--profile", "smoke", "--compare",
               "--only", "stanford", "--results", str(committed)]
    run = subprocess.run(command + ["--rerun-into", str(tmp_path / "same")], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 moved" in run.stdout
    table = committed / "stanford-smoke" / "ranking_vs_scale.csv"
    table.write_text(table.read_text().replace("0.24444444444444444", "0.3", 1))
    run = subprocess.run(command + ["--rerun-into", str(tmp_path / "moved")], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 1 and "1 moved" in run.stdout
    assert "kendall_tau_vs_s=d" in (tmp_path / "moved" / "COMPARE.md").read_text()


def test_pinned_mode_compares_each_seed_and_skips_timing_columns(tmp_path):
    old = [{"method": "CE", "seed": 0, "top1": "80.0", "it_per_s": "20.0"},
           {"method": "CE", "seed": 1, "top1": "40.0", "it_per_s": "20.0"}]
    # Seed 0 up by 10, seed 1 down by 10: the mean is unchanged and the two-seed interval is huge, yet each seed moved.
    new = [{**old[0], "top1": "90.0", "it_per_s": "50.0"}, {**old[1], "top1": "30.0", "it_per_s": "5.0"}]
    _, rows = moved(tmp_path, "a", old, new)
    assert rows == []
    write(tmp_path / "new" / "a" / "t.csv", new)
    _, rows = regression.compare_folders(tmp_path / "old", tmp_path / "new", ["a"], per_seed=True)
    # it/s moved by far more, and is not compared.
    assert sorted((r["row"], r["column"]) for r in rows) == [("method=CE | seed=0", "top1"),
                                                             ("method=CE | seed=1", "top1")]


def test_report_shows_the_gpu_run_of_bench_dsb_with_its_own_machine_and_date(tmp_path):
    import json

    import run_all

    assert run_all.gpu_section(tmp_path) == []  # no GPU run: no section
    write(tmp_path / "bench_gpu" / "checks.csv", [
        {"id": "gpu_dsb_vs_ce", "kind": "claim", "description": "DSB-CE at >= 0.98 of CE", "paper": "",
         "ours": "0.819 [0.784, 0.855]", "difference": "", "verdict": "not held", "reason": "lower bound"}])
    (tmp_path / "bench_gpu" / "record.json").write_text(json.dumps({"gpu": "NVIDIA H100 80GB HBM3",
                                                                    "date": "2026-11-25T00:40:13+00:00"}))
    text = "\n".join(run_all.gpu_section(tmp_path))
    assert "## bench_dsb on a GPU (NVIDIA H100 80GB HBM3, 2026-11-25)" in text
    assert "| gpu_dsb_vs_ce | DSB-CE at >= 0.98 of CE | 0.819 [0.784, 0.855] | not held | lower bound |" in text


def test_intervals_written_as_text_are_numbers_not_row_keys(tmp_path):
    # A summary row: its identity is the method, not the interval text; each number of "m [lo, hi]" is compared.
    old = [{"method": "CE", "top1": "79.32 [77.22, 81.42]", "per_class": "78.00 95.00"},
           {"method": "DSB-CE", "top1": "79.16 [77.23, 81.09]", "per_class": "75.33 94.67"}]
    count, rows = moved(tmp_path, "a", old, [dict(r) for r in old])
    assert count == 10 and rows == []  # 2 rows x (mean, low, high, 2 classes)
    # One unit in the last printed digit is rounding (79.325 either side of the cut): not moved.
    count, rows = moved(tmp_path, "b", old, [{**old[0], "top1": "79.33 [77.22, 81.42]"}, old[1]])
    assert rows == []
    # They summarise trained runs, one value a row: a mean or bound printed with its interval may move by
    # sqrt(2) x the committed half-width (2.10 here: 2.970) plus 0.01. A low bound moved by 2.22 stays within it;
    # moved by 5.00, it is reported, named by its row and its part of the interval.
    assert moved(tmp_path, "c", old, [{**old[0], "top1": "79.32 [75.10, 81.42]"}, old[1]])[1] == []
    _, rows = moved(tmp_path, "d", old, [{**old[0], "top1": "79.32 [72.22, 81.42]"}, old[1]])
    assert [(r["row"], r["column"], r["status"]) for r in rows] == [("method=CE", "top1 low", "moved")]
    assert rows[0]["difference"] == pytest.approx(-5.0) and rows[0]["tolerance"] == pytest.approx(
        2 ** 0.5 * 2.10 + 1e-9 + 0.01)
    # The committed interval's width, not the rerun's and not 5% of the value (3.97): a mean moved by 3.50 is
    # reported even when the rerun prints a wide interval.
    _, rows = moved(tmp_path, "g", old, [{**old[0], "top1": "75.82 [60.00, 90.00]"}, old[1]])
    assert ("method=CE", "top1") in [(r["row"], r["column"]) for r in rows]
    # A per-class list has no interval: the one-seed rule (5% relative).
    _, rows = moved(tmp_path, "e", old, [old[0], {**old[1], "per_class": "75.33 80.00"}])
    assert [(r["row"], r["column"]) for r in rows] == [("method=DSB-CE", "per_class[1]")]
    assert rows[0]["tolerance"] == pytest.approx(0.05 * 94.67 + 1e-9 + 0.01)
    # Across machine kinds (trained tables left out) they are not compared at all.
    write(tmp_path / "new" / "f" / "t.csv", [{**old[0], "top1": "1.00 [0.00, 2.00]"}, old[1]])
    write(tmp_path / "old" / "f" / "t.csv", old)
    assert regression.compare_folders(tmp_path / "old", tmp_path / "new", ["f"], trained_tables=False) == (0, [])


def test_a_difference_near_zero_is_judged_by_its_interval_not_by_its_size(tmp_path):
    # "+0.25 [-3.13, +3.62]" (a paired difference over 5 seeds): 5% of 0.25 would allow 0.0125; its interval's
    # half-width 3.375 gives 4.773. A move to +1.25 is within; to +5.25 it is not. An interval alone ("[lo, hi]")
    # gives its bounds the same rule.
    old = [{"pair": "DSB minus CE", "difference": "+0.25 [-3.13, +3.62]", "agreement": "[0.34, 0.65]", "seeds": 5}]
    assert moved(tmp_path, "a", old, [{**old[0], "difference": "+1.25 [-2.13, +4.62]"}])[1] == []
    _, rows = moved(tmp_path, "b", old, [{**old[0], "difference": "+5.25 [+1.87, +8.62]"}])
    assert sorted(r["column"] for r in rows) == ["difference", "difference high", "difference low"]
    assert rows[0]["tolerance"] == pytest.approx(2 ** 0.5 * 3.375 + 1e-9 + 0.01)
    assert rows[0]["rule"].startswith("printed interval")
    assert moved(tmp_path, "c", old, [{**old[0], "agreement": "[0.49, 0.80]"}])[1] == []  # 0.15 <= 0.229
    _, rows = moved(tmp_path, "d", old, [{**old[0], "agreement": "[0.64, 0.95]"}])
    assert sorted(r["column"] for r in rows) == ["agreement high", "agreement low"]
    # The seed count is part of the row: a summary over other seeds is another row, not a moved number.
    _, rows = moved(tmp_path, "e", old, [{**old[0], "seeds": 3}])
    assert {r["status"] for r in rows} == {"missing in rerun", "new in rerun"}


def test_identifiers_with_decimals_stay_row_keys(tmp_path):
    # "S alpha=1.5" names a predictor: rows with different predictors are different rows.
    old = [{"predictor": "S alpha=1.5", "r": "0.50"}, {"predictor": "S alpha=2.0", "r": "0.60"}]
    _, rows = moved(tmp_path, "a", old, [old[0], {**old[1], "r": "0.70"}])
    assert [(r["row"], r["column"], r["status"]) for r in rows] == [("predictor=S alpha=2.0", "r", "moved")]


def test_two_results_folders_on_disk_compare_from_the_command_line(tmp_path):
    write(tmp_path / "old" / "a" / "t.csv", [{"k": "x", "v": "0.5"}])
    write(tmp_path / "new" / "a" / "t.csv", [{"k": "x", "v": "0.6"}])
    write(tmp_path / "old" / "timing" / "t.csv", [{"k": "x", "v": "1.5"}])  # notes about runs: not compared
    write(tmp_path / "new" / "timing" / "t.csv", [{"k": "x", "v": "9.5"}])
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / "regression.py"), str(tmp_path / "old"),
                             str(tmp_path / "new"), "--out", str(tmp_path / "COMPARE"), "--title", "old vs new"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "old vs new: 1 numbers compared, 1 moved" in result.stdout
    rows = list(csv.DictReader(open(tmp_path / "COMPARE.csv")))
    assert [(r["experiment"], r["row"], r["column"], r["status"]) for r in rows] == [("a", "k=x", "v", "moved")]
    assert (tmp_path / "COMPARE.md").read_text().startswith("# old vs new")


def test_words_that_are_results_are_compared_as_text_not_used_as_row_keys(tmp_path):
    # class_bias's weak-class agreement names the most often weakest classes: a result. A rerun that names other
    # classes changed that result; its row (the set) is the same row, and its numbers are compared as numbers.
    old = [{"set": "lt1", "runs": 6, "mean Jaccard of weakest 3": "0.7333333333333333", "95% interval": "[0.56, 1.00]",
            "most often weakest": "Pullover, Shirt, Dress"}]
    new = [{**old[0], "mean Jaccard of weakest 3": "0.7333333333333333", "most often weakest": "Shirt, Pullover, Coat"}]
    count, rows = moved(tmp_path, "class_bias", old, new, table="weak_class_agreement")
    assert count == 4  # the mean, the two bounds and the names
    assert [(r["row"], r["column"], r["committed"], r["rerun"], r["status"]) for r in rows] == [
        ("set=lt1 | runs=6", "most often weakest", "Pullover, Shirt, Dress", "Shirt, Pullover, Coat", "text changed")]
    assert moved(tmp_path, "class_bias", old, [dict(old[0])], table="weak_class_agreement") == (4, [])


def test_identical_tables_counts_tables_equal_cell_for_cell_apart_from_timings(tmp_path, capsys):
    rows = [{"backbone": "B", "m": 100, "top1": "0.5", "seconds": "5.79"}]
    write(tmp_path / "old" / "a" / "same.csv", rows)
    write(tmp_path / "new" / "a" / "same.csv", [{**rows[0], "seconds": "6.01"}])  # a timing column: not a result
    write(tmp_path / "old" / "a" / "nearly.csv", rows)
    write(tmp_path / "new" / "a" / "nearly.csv", [{**rows[0], "top1": "0.5000000000001"}])  # within FLOAT_RTOL
    write(tmp_path / "old" / "a" / "longer.csv", rows)
    write(tmp_path / "new" / "a" / "longer.csv", rows + rows)  # a row more
    write(tmp_path / "old" / "a" / "gone.csv", rows)  # missing in the rerun: not a table of both trees
    write(tmp_path / "old" / "bench" / "speed.csv", rows)
    write(tmp_path / "new" / "bench" / "speed.csv", [{**rows[0], "top1": "0.7"}])  # a timing folder: left out
    folders = ["a", "bench"]
    identical = regression.identical_tables(tmp_path / "old", tmp_path / "new", folders)
    assert identical == (3, ["a/longer.csv", "a/nearly.csv"])
    title = regression.report(0, [], "Check", None, identical)
    assert title.endswith("; 1 of 3 tables identical, timing columns aside (differ: a/longer.csv, a/nearly.csv)")
    assert title in capsys.readouterr().out
