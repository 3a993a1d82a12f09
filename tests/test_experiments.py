"""Every experiment's smoke run, through run_all, into a temporary results folder (the repo's results/ untouched)."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

from machine_pins import folder_for, kind_folders, unpinned_reason  # noqa: E402
from semscale.regression import compare_folders  # noqa: E402
from run_all import EXPERIMENTS, FOLDERS, failure_line  # noqa: E402


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


def moved_lines(moved: list[dict]) -> str:
    return "\n".join(f"{m['experiment']}/{m['table']} {m['row']} {m['column']}: {m['committed']} -> {m['rerun']} "
                     f"({m['status']}, tolerance {m['tolerance']})" for m in moved[:30])


def test_smoke_outputs_match_this_machine_kinds_pins(smoke_run):
    """Every number of every smoke table within its tolerance of tests/pinned/<this kind>/smoke (semscale/
    regression.py, per seed: rtol 1e-4 for trained numbers, 1e-6 for deterministic ones; timings aside), every verdict
    the same. Trained numbers are pinned per machine kind (tests/machine_pins.py); an unpinned kind skips."""
    _, results = smoke_run
    kind = folder_for()
    if kind is None:
        pytest.skip(unpinned_reason())
    pinned = kind / "smoke"
    folders = sorted(p.name for p in pinned.iterdir() if p.is_dir())
    assert len(folders) == len(EXPERIMENTS)
    compared, moved = compare_folders(pinned, results, folders, per_seed=True)
    assert compared > 300
    assert not moved, moved_lines(moved)


@pytest.mark.parametrize("kind", kind_folders(), ids=lambda folder: folder.name)
def test_smoke_deterministic_tables_match_every_kinds_pins(smoke_run, kind):
    """The tables that train nothing (scales of embedded data, counts, closed forms) are the same on every machine
    kind, to 1e-6: compared with each kind's pins, whatever kind runs the suite."""
    _, results = smoke_run
    pinned = kind / "smoke"
    folders = sorted(p.name for p in pinned.iterdir() if p.is_dir())
    compared, moved = compare_folders(pinned, results, folders, per_seed=True, trained_tables=False)
    assert compared > 100
    assert not moved, moved_lines(moved)


def test_experiment_script_help_names_the_command():
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "pearson.py"), "--help"], cwd=ROOT,
                         capture_output=True, text=True).stdout
    assert "python experiments/pearson.py --profile quick" in out and "--set" in out


def test_unknown_override_is_refused():
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "stanford.py"), "--profile", "smoke",
                          "--set", "nonsense=1"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode != 0 and "not a setting of stanford" in run.stderr


def test_a_missing_dataset_ends_a_script_with_its_message_not_a_traceback(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "lt_classification.py"), "--profile", "paper",
                          "--data-dir", str(tmp_path), "--out", str(tmp_path / "out")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("lt_classification.py: error: dataset 'imagenet-lt' not found: looked for "
                                 "ImageNet_LT_train.txt in:\n  " + str(tmp_path / "ImageNet_LT"))
    assert "Traceback" not in run.stderr and not (tmp_path / "out").exists()


def test_run_script_shows_only_the_users_faults_without_a_traceback(capsys):
    from semscale.data.base import CorruptImage, DatasetLayoutError
    from semscale.experiment import run_script

    def bad_list():
        raise DatasetLayoutError("ImageNet_LT_train.txt line 3: label 1000 is out of range")

    def our_bug():
        raise ValueError("a bug of ours")

    def broken_image():
        raise CorruptImage("imagenet-lt: cannot decode train/n01/x.JPEG (list ImageNet_LT_train.txt:7)")

    assert run_script(lambda: 0) == 0
    assert run_script(bad_list) == 2
    assert "error: ImageNet_LT_train.txt line 3: label 1000" in capsys.readouterr().err
    assert run_script(broken_image) == 2
    assert "error: imagenet-lt: cannot decode train/n01/x.JPEG" in capsys.readouterr().err
    with pytest.raises(ValueError, match="a bug of ours"):
        run_script(our_bug)


def test_run_all_reports_a_scripts_own_message_with_the_folders_it_searched():
    stderr = ("lt_classification.py: error: dataset 'imagenet-lt' not found: looked for X_train.txt in:\n"
              "  /data/ImageNet_LT\n  /data\nIt is published at the OLTR release. Put it under one of those folders.\n")
    assert failure_line("lt_classification", stderr) == ("lt_classification.py: error: dataset 'imagenet-lt' not "
                                                         "found: looked for X_train.txt in: /data/ImageNet_LT, /data")
    traceback = "Traceback (most recent call last):\n  File x, line 1\nKeyError: 'seeds'\n"
    assert failure_line("pearson", traceback) == "KeyError: 'seeds'"
    assert failure_line("pearson", stderr) == "It is published at the OLTR release. Put it under one of those folders."
    assert failure_line("pearson", "") == "?"


def test_print_config_merges_common_profile_and_nested_overrides():
    import yaml

    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "pearson.py"), "--profile", "smoke",
                          "--print-config", "--set", "backbones.0.width=8", "--set", "seeds=[3, 4]",
                          "--set", "lr=0.5"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    printed = yaml.safe_load(run.stdout)
    config = printed["config"]
    assert printed["profile"] == "smoke"
    assert config["imbalance"] == 10  # smoke's value over common's 200
    assert config["alphas"] == [1.0, 1.5, 2.0, 2.5, 3.0]  # from common
    assert config["backbones"] == [{"label": "SmallCNN-4", "backbone": "small_cnn", "width": 8}]
    assert config["seeds"] == [3, 4] and config["lr"] == 0.5


def test_override_helpers():
    from semscale.experiment import apply_override, merge, parse_override

    assert merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 5}, "d": [2]}) == {"a": {"b": 5, "c": 2}, "d": [2]}
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_override("name=adam") == (["name"], "adam")
    # YAML 1.1 would read these as booleans; as settings they are strings (amp off, channels_last on)
    assert parse_override("amp=off") == (["amp"], "off") and parse_override("channels_last=On") == (["channels_last"], "On")
    assert parse_override("deterministic=false") == (["deterministic"], False)
    config = {"parents": {"tops": [0, 2]}, "backbones": [{"width": 4}]}
    apply_override(config, ["parents", "tops"], [1], "x")
    apply_override(config, ["backbones", "0", "width"], 16, "x")
    assert config == {"parents": {"tops": [1]}, "backbones": [{"width": 16}]}
    with pytest.raises(SystemExit, match="backbones.1 is not a setting of x"):
        apply_override(config, ["backbones", "1", "width"], 1, "x")


def test_every_config_is_yaml_with_the_profiles():
    import yaml

    for script in sorted((ROOT / "experiments").glob("*.py")):
        config = script.with_suffix(".yaml")
        if script.stem in ("run_all", "regression"):
            continue
        assert config.exists(), f"{script.name} has no {config.name}"
        sections = yaml.safe_load(config.read_text())
        assert {"smoke", "quick", "paper"} <= set(sections), config.name
        assert config.read_text().startswith("#"), f"{config.name}: the comment saying what it reproduces is gone"
