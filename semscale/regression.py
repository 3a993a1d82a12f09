"""Regression checks: compare a rerun's results folder with the committed one, number by number.

Used by `python experiments/run_all.py --compare`, `python experiments/regression.py OLD NEW` and the smoke-profile
test (tests/pinned/). Every CSV table of an experiment's folder is read; a row is identified by its non-float cells
(the seed and cells of measured numbers written as text, such as "79.32 [77.22, 81.42]", aside) and a number by its
row and column. Tolerances:
  trained numbers (a table with a seed column, one listed in TRAINED, or numbers written as text, which summarise
      trained runs; these also get one unit of their last printed digit): the rerun's mean over seeds may differ
      from the committed mean by the half-width of the 95% interval of a difference of two means with the
      committed seed spread, t(k-1) * sd * sqrt(1/k + 1/k'); a number of a cell "m [lo, hi]" or "[lo, hi]" (one
      value a row, its seed count in the row key) carries that spread in its printed interval, whose half-width
      h is t(k-1) * sd / sqrt(k) for a mean over k seeds: sqrt(2) * h is allowed (the same rule for the same k;
      for a Fisher-z or clipped interval, (hi - lo) / 2 stands for h); with a single committed seed and no
      interval there is no spread and ONE_SEED_RELATIVE of the committed value is allowed instead;
  deterministic numbers (everything else): a float tolerance, FLOAT_RTOL relative (FLOAT_ATOL absolute near 0);
  timings (TIMING_FOLDERS, TIMING_COLUMNS): not compared, they depend on the machine and its load.
checks.csv is compared by verdict: a claim whose verdict changes is reported with both values beside the paper's.
Words that are results (OUTCOME_TEXT: class_bias's most often weakest classes) are compared as text, like verdicts.

per_seed=True (the pinned smoke outputs, tests/pinned/): each seed's number is compared on its own with
PINNED_RTOL. Training is deterministic on one machine kind, and a smoke run's two seeds are too few for a seed
interval to mean anything (t(1) = 12.7): a wiring bug that moves one seed's accuracy by 40 points would pass it.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from scipy import stats

FLOAT_RTOL, FLOAT_ATOL = 1e-6, 1e-9
ONE_SEED_RELATIVE = 0.05
PINNED_RTOL = 1e-4
TIMING_FOLDERS = ("bench",)
TIMING_CHECKS = ("speed", "share")  # "speed" also covers speedup_*: ratios of timings
# bench_dsb's speed and speed-up claims: their verdicts depend on the machine's load
TIMING_COLUMNS = ("it_per_s", "it/s", "seconds", "ms/step")  # a timing column inside another table
# Tables from trained models that have no seed column (one model, or a summary over seeds).
TRAINED = {("hierarchy", "table12"), ("class_bias", "weak_class_agreement"), ("pearson", "table1"),
           ("lt_classification", "gains"), ("generalized_long_tail", "dsb_pairs"), ("metric_learning", "pairs")}
# Columns of words that are measured results, not part of a row's identity (compared as text, like a verdict).
OUTCOME_TEXT = {("class_bias", "weak_class_agreement"): ("most often weakest",)}
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


# A cell of measured numbers written as text: "79.32 [77.22, 81.42]" (mean and interval), "[0.34, 0.65]", or a
# list "78.00 95.00 74.00" (per-class accuracies). Only digits, signs, points, brackets, commas and spaces.
MEASURED_TEXT = re.compile(r"^[\s\d.eE+\-\[\],]*\d\.\d[\s\d.eE+\-\[\],]*$")
NUMBER = re.compile(r"[-+]?\d+(?:\.(\d+))?(?:[eE]([-+]?\d+))?")
UNDEFINED = ("", None, "undefined", "nan", "-")  # cells of such a column that hold no number
INTERVAL = re.compile(r"^\s*\S+\s*\[\s*\S+\s*,\s*\S+\s*\]\s*$")


def _text_numbers(column: str, text: str) -> list[tuple[str, float, float, float | None]]:
    """(column name, value, resolution, interval half-width) of each number in a measured-text cell: "X", "X low",
    "X high" for a mean and interval, "X low", "X high" for an interval alone, "X[i]" for a list (no interval:
    None). The resolution is one unit of the last printed digit: two roundings of nearly equal values can differ by
    that much."""
    found = [(float(m.group(0)), 10.0 ** (int(m.group(2) or 0) - len(m.group(1) or "")))
             for m in NUMBER.finditer(text)]
    half = None
    if INTERVAL.match(text) and len(found) == 3:
        names, half = [column, f"{column} low", f"{column} high"], (found[2][0] - found[1][0]) / 2
    elif text.strip().startswith("[") and len(found) == 2:
        names, half = [f"{column} low", f"{column} high"], (found[1][0] - found[0][0]) / 2
    else:
        names = [f"{column}[{i}]" for i in range(len(found))]
    return [(name, value, resolution, half) for name, (value, resolution) in zip(names, found)]


def read_table(path: Path, per_seed: bool = False, outcomes: tuple = ()) -> tuple[list[str], dict, dict]:
    """The CSV's columns, {(row key, column): {"values": [over seeds], "paper": ..., "resolution": ...}} of its
    float cells and of the numbers in its measured-text cells (with per_seed, the seed is part of the row key and
    each list has one value), and {(row key, column): text} of its `outcomes` columns (words that are results).
    A row is identified by its other cells: an interval that moves is a moved number, not a missing row and a new
    one."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return [], {}, {}
    columns = list(rows[0])
    timings = [c for c in columns if any(part in c for part in TIMING_COLUMNS)]
    floats = [c for c in columns if c not in timings and c != "seed" and any(_float(r[c]) is not None for r in rows)]
    measured = [c for c in columns if c not in floats and c not in timings and c not in ("seed", "paper")
                and any(r[c] for r in rows) and all(r[c] in UNDEFINED or MEASURED_TEXT.match(r[c]) for r in rows)]
    keys = [c for c in columns if c not in floats and c not in measured and c not in timings and c != "seed"
            and c not in outcomes]
    cells, texts, seen = {}, {}, {}
    for row in rows:
        base = " | ".join(f"{k}={row[k]}" for k in keys)
        seed = row.get("seed", "")
        occurrence = seen.get((base, seed), 0)  # identical keys within one seed: told apart by their order
        seen[(base, seed)] = occurrence + 1
        key = base + (f" #{occurrence + 1}" if occurrence else "") + (f" | seed={seed}" if per_seed and seed else "")
        paper = row.get("paper", "")
        texts.update({(key, column): row[column] for column in outcomes if column in row})
        numbers = [(column, _float(row[column]), 0.0, None) for column in floats if row[column] not in ("", None)]
        numbers += [number for column in measured for number in _text_numbers(column, row[column] or "")]
        for column, value, resolution, half in numbers:
            if value is not None:
                # float cells come with resolution 0, numbers from text with one unit of their last digit (> 0)
                cell = cells.setdefault((key, column), {"values": [], "paper": paper, "resolution": 0.0,
                                                        "from_text": resolution > 0, "interval_half": half})
                cell["values"].append(value)
                cell["resolution"] = max(cell["resolution"], resolution)
                if half is None or cell["interval_half"] is None:
                    cell["interval_half"] = None  # a value without its interval: the seed rules
                else:
                    cell["interval_half"] = max(cell["interval_half"], half)
    return columns, cells, texts


def tolerance(committed: list[float], rerun_count: int, trained: bool, per_seed: bool = False,
              interval_half: float | None = None) -> tuple[float, str]:
    """(allowed |difference of means|, the rule's name) for one number; `interval_half`: the half-width of the
    committed interval printed with it (a summary over seeds), if any."""
    old = np.asarray(committed, dtype=float)
    if per_seed and trained:
        return FLOAT_ATOL + PINNED_RTOL * abs(float(old.mean())), f"per seed, rtol {PINNED_RTOL:g}"
    if not trained:
        return FLOAT_ATOL + FLOAT_RTOL * abs(float(old.mean())), f"float rtol {FLOAT_RTOL:g}"
    if len(old) < 2 and interval_half is not None:
        # h = t(k-1) sd / sqrt(k); the difference of two means over k seeds each: t(k-1) sd sqrt(2 / k) = sqrt(2) h
        return float(np.sqrt(2.0) * interval_half) + FLOAT_ATOL, "printed interval: sqrt(2) x half-width"
    if len(old) < 2:
        return ONE_SEED_RELATIVE * abs(float(old[0])) + FLOAT_ATOL, f"one seed: {ONE_SEED_RELATIVE:.0%} relative"
    half = stats.t.ppf(0.975, len(old) - 1) * old.std(ddof=1) * np.sqrt(1 / len(old) + 1 / max(rerun_count, 1))
    return float(half) + FLOAT_ATOL, f"seed interval (k={len(old)})"


def compare_table(experiment: str, name: str, committed: Path, rerun: Path, per_seed: bool = False,
                  trained_tables: bool = True) -> tuple[int, list[dict]]:
    """(numbers compared, rows for every number that moved beyond its tolerance or went missing); a trained table
    counts as (0, []) when trained_tables is False."""
    outcomes = OUTCOME_TEXT.get((experiment, name), ())
    old_columns, old, old_texts = read_table(committed, per_seed, outcomes)
    trained = "seed" in old_columns or (experiment, name) in TRAINED
    if trained and not trained_tables:
        return 0, []
    _, new, new_texts = read_table(rerun, per_seed, outcomes)
    moved, compared = [], 0
    for (key, column), text in old_texts.items():
        compared += 1
        if new_texts.get((key, column), text) != text:
            moved.append({"experiment": experiment, "table": name, "row": key, "column": column, "paper": "",
                          "committed": text, "rerun": new_texts[(key, column)], "difference": "", "tolerance": "",
                          "rule": "same text", "status": "text changed"})
    for (key, column), cell in old.items():
        # Intervals and per-class lists written as text summarise trained runs (every such table in results/
        # does): the trained rule, and across machine kinds (trained_tables False) they are not compared.
        if cell["from_text"] and not trained_tables:
            continue
        compared += 1
        base = {"experiment": experiment, "table": name, "row": key, "column": column, "paper": cell["paper"]}
        if (key, column) not in new:
            moved.append({**base, "committed": float(np.mean(cell["values"])), "rerun": "", "difference": "",
                          "tolerance": "", "rule": "", "status": "missing in rerun"})
            continue
        before, after = float(np.mean(cell["values"])), float(np.mean(new[(key, column)]["values"]))
        if np.isnan(before) and np.isnan(after):  # undefined in both (an empty group, a '-' paper cell): the same
            continue
        allowed, rule = tolerance(cell["values"], len(new[(key, column)]["values"]), trained or cell["from_text"],
                                  per_seed, cell["interval_half"])
        resolution = max(cell["resolution"], new[(key, column)]["resolution"])
        if resolution:
            allowed, rule = allowed + resolution, f"{rule}, + {resolution:g} (printed digits)"
        if not abs(after - before) <= allowed:
            moved.append({**base, "committed": before, "rerun": after, "difference": after - before,
                          "tolerance": allowed, "rule": rule, "status": "moved"})
    for (key, column) in new.keys() - old.keys():
        if new[(key, column)]["from_text"] and not trained_tables:
            continue
        moved.append({"experiment": experiment, "table": name, "row": key, "column": column, "paper": "",
                      "committed": "", "rerun": float(np.mean(new[(key, column)]["values"])), "difference": "",
                      "tolerance": "", "rule": "", "status": "new in rerun"})
    return compared, moved


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


def identical_tables(committed: Path, rerun: Path, folders: list[str]) -> tuple[int, list[str]]:
    """(tables in both trees, the FOLDER/TABLE.csv of those that differ): a table is identical when every cell but
    its timing columns (TIMING_COLUMNS) is the same text. The same seed on the same machine kind should give the
    same cells, so "identical" is stronger than "within tolerance". Timing folders are left out."""
    def cells(path: Path) -> list[list[str]]:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        timing = {i for i, name in enumerate(rows[0] if rows else []) if name in TIMING_COLUMNS}
        return [[cell for i, cell in enumerate(row) if i not in timing] for row in rows]

    tables, differing = 0, []
    for folder in folders:
        if folder.split("-")[0] in TIMING_FOLDERS:
            continue
        for table in sorted((Path(committed) / folder).glob("*.csv")):
            other = Path(rerun) / folder / table.name
            if other.exists():
                tables += 1
                if cells(table) != cells(other):
                    differing.append(f"{folder}/{table.name}")
    return tables, differing


NOTE = ("Tolerances: semscale/regression.py (the committed seed interval for trained numbers, one seed: 5% "
        "relative; numbers written as text count as trained, plus one unit of their last printed digit, and a mean "
        "or bound printed with its interval may move by sqrt(2) x the committed half-width; float rtol 1e-6 for "
        "deterministic ones; timings are not compared).")


def report(compared: int, moved: list[dict], what: str, stem: Path | None = None,
           identical: tuple[int, list[str]] | None = None) -> str:
    """Print (and with `stem`, write stem.csv and stem.md) a comparison's differences; returns its title. With
    `identical` (identical_tables' answer) the title also says how many tables are the same, cell for cell."""
    from .report import markdown_table, write_table

    title = f"{what}: {compared} numbers compared, {len(moved)} moved beyond their tolerance or changed"
    if identical is not None:
        tables, differing = identical
        title += f"; {tables - len(differing)} of {tables} tables identical, timing columns aside"
        if differing:
            title += f" (differ: {', '.join(differing)})"
    if stem is not None:
        write_table(moved, COLUMNS, stem, title=title, note=NOTE)
    print(title)
    if moved:
        print(markdown_table(moved, COLUMNS))
    return title

