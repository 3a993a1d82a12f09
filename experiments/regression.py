"""Regression checks: compare a rerun's results folder with the committed one, number by number.

Used by `python experiments/run_all.py --compare` and by the smoke-profile test (tests/pinned/). Every CSV table of
an experiment's folder is read; a row is identified by its non-float cells (the seed aside) and a float cell by its
row and column. Tolerances:
  trained numbers (a table with a seed column, or one listed in TRAINED): the rerun's mean over seeds may differ
      from the committed mean by the half-width of the 95% interval of a difference of two means with the
      committed seed spread, t(k-1) * sd * sqrt(1/k + 1/k'); with a single committed seed there is no spread and
      ONE_SEED_RELATIVE of the committed value is allowed instead;
  deterministic numbers (everything else): a float tolerance, FLOAT_RTOL relative (FLOAT_ATOL absolute near 0);
  timings (TIMING_FOLDERS, TIMING_COLUMNS): not compared, they depend on the machine and its load.
checks.csv is compared by verdict: a claim whose verdict changes is reported with both values beside the paper's.

per_seed=True (the pinned smoke outputs, tests/pinned/): each seed's number is compared on its own with
PINNED_RTOL. Training is deterministic on one machine kind, and a smoke run's two seeds are too few for a seed
interval to mean anything (t(1) = 12.7): a wiring bug that moves one seed's accuracy by 40 points would pass it.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy import stats

FLOAT_RTOL, FLOAT_ATOL = 1e-6, 1e-9
ONE_SEED_RELATIVE = 0.05
PINNED_RTOL = 1e-4
TIMING_FOLDERS = ("bench",)
TIMING_CHECKS = ("speed", "share")  # "speed" also covers speedup_*: ratios of timings
TIMING_COLUMNS = ("it_per_s", "it/s", "seconds", "ms/step")  # a timing column inside another table  # bench_dsb's speed and speed-up claims: their verdicts depend on the machine's load
# Tables from trained models that have no seed column (one model, or a summary over seeds).
TRAINED = {("hierarchy", "table12"), ("class_bias", "weak_class_agreement"), ("pearson", "table1"),
           ("lt_classification", "gains"), ("generalized_long_tail", "dsb_pairs"), ("metric_learning", "pairs")}
COLUMNS = ["experiment", "table", "row", "column", "committed", "rerun", "difference", "tolerance", "rule", "paper",
           "status"]


def _float(text):
    """The cell as a float when it is one (an integer-looking cell is an identifier or a count: None)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    is_integer = text.strip().lstrip("-").isdigit()
    return None if is_integer else value


def read_table(path: Path, per_seed: bool = False) -> tuple[list[str], dict]:
    """The CSV's columns and {(row key, column): {"values": [over seeds], "paper": ...}} of its float cells (with
    per_seed, the seed is part of the row key and each list has one value)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return [], {}
    columns = list(rows[0])
    timings = [c for c in columns if any(part in c for part in TIMING_COLUMNS)]
    floats = [c for c in columns if c not in timings and c != "seed" and any(_float(r[c]) is not None for r in rows)]
    keys = [c for c in columns if c not in floats and c not in timings and c != "seed"]
    cells, seen = {}, {}
    for row in rows:
        base = " | ".join(f"{k}={row[k]}" for k in keys)
        seed = row.get("seed", "")
        occurrence = seen.get((base, seed), 0)  # identical keys within one seed: told apart by their order
        seen[(base, seed)] = occurrence + 1
        key = base + (f" #{occurrence + 1}" if occurrence else "") + (f" | seed={seed}" if per_seed and seed else "")
        paper = row.get("paper", "")
        for column in floats:
            value = _float(row[column]) if row[column] not in ("", None) else None
            if value is not None:
                cells.setdefault((key, column), {"values": [], "paper": paper})["values"].append(value)
    return columns, cells


def tolerance(committed: list[float], rerun_count: int, trained: bool, per_seed: bool = False
              ) -> tuple[float, str]:
    """(allowed |difference of means|, the rule's name) for one number."""
    old = np.asarray(committed, dtype=float)
    if per_seed and trained:
        return FLOAT_ATOL + PINNED_RTOL * abs(float(old.mean())), f"per seed, rtol {PINNED_RTOL:g}"
    if not trained:
        return FLOAT_ATOL + FLOAT_RTOL * abs(float(old.mean())), f"float rtol {FLOAT_RTOL:g}"
    if len(old) < 2:
        return ONE_SEED_RELATIVE * abs(float(old[0])) + FLOAT_ATOL, f"one seed: {ONE_SEED_RELATIVE:.0%} relative"
    half = stats.t.ppf(0.975, len(old) - 1) * old.std(ddof=1) * np.sqrt(1 / len(old) + 1 / max(rerun_count, 1))
    return float(half) + FLOAT_ATOL, f"seed interval (k={len(old)})"


def compare_table(experiment: str, name: str, committed: Path, rerun: Path, per_seed: bool = False,
                  trained_tables: bool = True) -> tuple[int, list[dict]]:
    """(numbers compared, rows for every number that moved beyond its tolerance or went missing); a trained table
    counts as (0, []) when trained_tables is False."""
    old_columns, old = read_table(committed, per_seed)
    trained = "seed" in old_columns or (experiment, name) in TRAINED
    if trained and not trained_tables:
        return 0, []
    _, new = read_table(rerun, per_seed)
    moved = []
    for (key, column), cell in old.items():
        base = {"experiment": experiment, "table": name, "row": key, "column": column, "paper": cell["paper"]}
        if (key, column) not in new:
            moved.append({**base, "committed": float(np.mean(cell["values"])), "rerun": "", "difference": "",
                          "tolerance": "", "rule": "", "status": "missing in rerun"})
            continue
        before, after = float(np.mean(cell["values"])), float(np.mean(new[(key, column)]["values"]))
        if np.isnan(before) and np.isnan(after):  # undefined in both (an empty group, a '-' paper cell): the same
            continue
        allowed, rule = tolerance(cell["values"], len(new[(key, column)]["values"]), trained, per_seed)
        if not abs(after - before) <= allowed:
            moved.append({**base, "committed": before, "rerun": after, "difference": after - before,
                          "tolerance": allowed, "rule": rule, "status": "moved"})
    for (key, column) in new.keys() - old.keys():
        moved.append({"experiment": experiment, "table": name, "row": key, "column": column, "paper": "",
                      "committed": "", "rerun": float(np.mean(new[(key, column)]["values"])), "difference": "",
                      "tolerance": "", "rule": "", "status": "new in rerun"})
    return len(old), moved


def compare_checks(experiment: str, committed: Path, rerun: Path) -> list[dict]:
    """Every check whose verdict differs between the two runs (or exists in only one)."""
    def read(path):
        if not path.exists():
            return {}
        with open(path, newline="") as handle:
            return {row["id"]: row for row in csv.DictReader(handle)}

    old, new = read(committed), read(rerun)
    out = []
    for check_id in list(old) + [i for i in new if i not in old]:
        if experiment.split("-")[0] in TIMING_FOLDERS and check_id.startswith(TIMING_CHECKS):
            continue
        before, after = old.get(check_id), new.get(check_id)
        if before and after and before["verdict"] == after["verdict"]:
            continue
        out.append({"experiment": experiment, "table": "checks", "row": check_id, "column": "verdict",
                    "committed": f"{before['verdict']}: {before['ours']}" if before else "",
                    "rerun": f"{after['verdict']}: {after['ours']}" if after else "", "difference": "",
                    "tolerance": "", "rule": "same verdict", "paper": (before or after)["paper"],
                    "status": "verdict changed" if before and after else
                    ("missing in rerun" if before else "new in rerun")})
    return out


def compare_folders(committed: Path, rerun: Path, folders: list[str], per_seed: bool = False,
                    trained_tables: bool = True) -> tuple[int, list[dict]]:
    """(numbers compared, differences) over the given experiment folders of two results trees. trained_tables=False
    compares the deterministic tables only (no verdicts either: most rest on trained numbers), as between results
    of two machine kinds, whose kernels round differently and so train other models (tests/machine_pins.py)."""
    compared, rows = 0, []
    for folder in folders:
        old_dir, new_dir = Path(committed) / folder, Path(rerun) / folder
        if not old_dir.is_dir():
            continue
        experiment = folder
        if trained_tables:
            rows += compare_checks(experiment, old_dir / "checks.csv", new_dir / "checks.csv")
        if folder.split("-")[0] in TIMING_FOLDERS:
            continue
        for table in sorted(old_dir.glob("*.csv")):
            if table.name == "checks.csv":
                continue
            if not (new_dir / table.name).exists():
                rows.append({"experiment": experiment, "table": table.stem, "row": "", "column": "", "paper": "",
                             "committed": "", "rerun": "", "difference": "", "tolerance": "", "rule": "",
                             "status": "table missing in rerun"})
                continue
            count, moved = compare_table(experiment.split("-")[0], table.stem, table, new_dir / table.name,
                                         per_seed, trained_tables)
            compared += count
            rows += moved
    return compared, rows
