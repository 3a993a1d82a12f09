"""Every experiment's smoke run, through run_all, into a temporary results folder (the repo's results/ untouched)."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

from regression import compare_folders  # noqa: E402
from run_all import EXPERIMENTS, FOLDERS  # noqa: E402

PINNED = ROOT / "tests" / "pinned" / "smoke"  # refresh: python tests/pinned/refresh.py <smoke results folder>


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    cache = tmp_path_factory.mktemp("cache")
    env = {**__import__("os").environ, "SEMSCALE_CACHE": str(cache)}
    from semscale.data.paths import cache_dir

    pointclouds = cache_dir() / "pointclouds"
    if pointclouds.exists():  # reuse the fetched clouds; models go to the temporary cache
        (cache / "pointclouds").symlink_to(pointclouds)
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "run_all.py"), "--profile", "smoke",
                          "--results", str(results)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return run, results


def test_run_all_smoke_succeeds(smoke_run):
    run, results = smoke_run
    assert run.returncode == 0, run.stdout + run.stderr
    assert len([line for line in run.stdout.splitlines() if line.startswith("[")]) == len(EXPERIMENTS)
    report = (results / "REPORT-smoke.md").read_text()
    for name, _, _ in EXPERIMENTS:
        assert f"## {name}:" in report


@pytest.mark.parametrize("name", [e[0] for e in EXPERIMENTS])
def test_each_experiment_writes_checks_and_record(smoke_run, name):
    _, results = smoke_run
    folder = results / f"{FOLDERS.get(name, name)}-smoke"
    checks = list(csv.DictReader(open(folder / "checks.csv")))
    assert checks and all(c["verdict"] in ("held", "not held", "not run") for c in checks)
    record = json.loads((folder / "record.json").read_text())
    assert record["profile"] == "smoke" and record["commit"] and record["date"]
    assert json.loads((folder / "config.json").read_text())["profile"] == "smoke"


def test_smoke_outputs_match_the_pinned_ones(smoke_run):
    """Every number of every smoke table within its tolerance of tests/pinned/smoke (experiments/regression.py:
    the pinned seed interval for trained numbers, rtol 1e-6 for deterministic ones), every verdict the same."""
    _, results = smoke_run
    folders = sorted(p.name for p in PINNED.iterdir() if p.is_dir())
    assert len(folders) == len(EXPERIMENTS)
    compared, moved = compare_folders(PINNED, results, folders)
    assert compared > 500
    assert not moved, "\n".join(f"{m['experiment']}/{m['table']} {m['row']} {m['column']}: {m['committed']} -> "
                                f"{m['rerun']} ({m['status']}, tolerance {m['tolerance']})" for m in moved[:30])


def test_experiment_script_help_names_the_command():
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "pearson.py"), "--help"], cwd=ROOT,
                         capture_output=True, text=True).stdout
    assert "python experiments/pearson.py --profile quick" in out and "--set" in out


def test_unknown_override_is_refused():
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "stanford.py"), "--profile", "smoke",
                          "--set", "nonsense=1"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode != 0 and "not a setting of stanford" in run.stderr
