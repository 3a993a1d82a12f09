"""experiments/lt_classification.py end to end: a smoke run with a method row, DiVE's teacher row, and the paper
profile on miniature ImageNet-LT / iNaturalist layouts."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import lt_classification as ltc  # noqa: E402

SCRIPT = ROOT / "experiments" / "lt_classification.py"


def _run(args, tmp_path):
    env = {**os.environ, "SEMSCALE_CACHE": str(tmp_path / "cache"), "SEMSCALE_THREADS": "1"}
    run = subprocess.run([sys.executable, str(SCRIPT), "--quiet", "--out", str(tmp_path / "out"), *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    return {name: list(csv.DictReader(open(tmp_path / "out" / f"{name}.csv")))
            for name in ("runs", "summary", "gains", "checks")}


def test_smoke_run_with_a_method_row(tmp_path):
    tables = _run(["--profile", "smoke", "--set", "rows=[{label: CE, loss: ce, weighting: none}, "
                   "{label: DSB-CE, loss: ce, weighting: dsb}]", "--set", "extra_rows=[{label: BBN, method: bbn}]",
                   "--set", "pairs=[{method: DSB-CE, baseline: CE, claim: beats}]"], tmp_path)
    assert {(r["row"], r["seed"]) for r in tables["runs"]} == {(r, s) for r in ("CE", "DSB-CE", "BBN")
                                                              for s in ("0", "1")}
    assert all(0 <= float(r["overall"]) <= 100 for r in tables["runs"])
    assert [r["row"] for r in tables["summary"]] == ["CE", "DSB-CE", "BBN"]
    assert {r["group"] for r in tables["gains"]} == set(ltc.GROUPS)
    ids = {c["id"]: c["verdict"] for c in tables["checks"]}
    assert ids["Digits-LT:DSB-CE_vs_CE"] in ("held", "not held")
    assert ids["Digits-LT:DSB-CE_vs_CE_tail_gain_above_head"] in ("held", "not held")
    assert (tmp_path / "out" / "accuracy_digits_lt.png").exists() and (tmp_path / "out" / "gains_digits_lt.png").exists()
    assert (tmp_path / "out" / "subset_digits.json").exists()


def test_teacher_row_gives_dive_the_finished_model_of_that_row_and_seed(tmp_path):
    rows = [{"label": "BS", "loss": "bs"}, {"label": "DiVE", "method": "dive", "teacher_row": "BS"}]
    settings = {"epochs": 2, "width": 4}
    checkpoints = {}
    with pytest.raises(SystemExit, match="teacher_row 'BS' must be a row listed before it"):
        ltc.with_teacher(rows[1], ltc.row_config(rows[1], settings), checkpoints)
    checkpoints["BS"] = tmp_path / "bs.pt"
    assert ltc.with_teacher(rows[0], ltc.row_config(rows[0], settings), checkpoints) == {**settings, "loss": "bs"}
    config = ltc.with_teacher(rows[1], ltc.row_config(rows[1], settings), checkpoints)
    assert config["method_options"] == {"teacher_checkpoint": str(tmp_path / "bs.pt")}
    # A smoke run: DiVE trains after BS in each seed, on BS's cached model of that seed.
    tables = _run(["--profile", "smoke", "--set", "rows=[{label: BS, loss: bs}]", "--set",
                   "extra_rows=[{label: DiVE, method: dive, teacher_row: BS}]", "--set", "pairs=[]",
                   "--set", "tail_largest=[]"], tmp_path)
    assert {(r["row"], r["seed"]) for r in tables["runs"]} == {(r, s) for r in ("BS", "DiVE") for s in ("0", "1")}
    models = sorted((tmp_path / "cache" / "models").glob("*.pt"))
    assert len(models) == 4   # BS and DiVE, two seeds: DiVE's key holds its teacher's path, one per seed


def test_paper_profile_on_miniature_imagenet_lt_and_inaturalist(tmp_path):
    import json

    from miniature_large import INAT_TRAIN, INAT_VAL, LT_TEST, LT_TRAIN, make_imagenet_lt_layout, \
        make_inaturalist_layout

    make_imagenet_lt_layout(tmp_path / "data")
    make_inaturalist_layout(tmp_path / "data")
    shrink = ["epochs=1", "seeds=[0]", "image_size=32", 'amp="off"', "workers=0", "warmup_epochs=1",
              "rows=[{label: CE, loss: ce}, {label: DSB-CE, loss: ce, weighting: dsb}, "
              "{label: LADE, loss: lade}, {label: DSB-LADE, loss: lade, weighting: dsb}, {label: BS, loss: bs}]",
              # method rows (issue 11), streamed from the files with and without DSB; BBN and IFL with their
              # second sampler's own DataLoader; DiVE's teacher (the BS row's network) on the streamed batches
              "extra_rows=[{label: PaCo, method: paco}, {label: DSB+RIDE, method: ride, weighting: dsb}, "
              "{label: BBN, method: bbn}, {label: DSB-CE+IFL, method: ifl, weighting: dsb}, "
              "{label: DiVE, method: dive, teacher_row: BS}, "
              "{label: MBJ+RIDE, method: mbj, method_options: {base: ride}, weighting: cb, drw_fraction: 0.5}]"]
    for index in (0, 1):
        shrink += [f"datasets.{index}.backbone=small_cnn", f"datasets.{index}.batch_size=4"]
    args = ["--profile", "paper", "--data-dir", str(tmp_path / "data")]
    for item in shrink:
        args += ["--set", item]
    tables = _run(args, tmp_path)
    rows = ("CE", "DSB-CE", "LADE", "DSB-LADE", "BS", "PaCo", "DSB+RIDE", "BBN", "DSB-CE+IFL", "DiVE", "MBJ+RIDE")
    assert {(r["dataset"], r["row"]) for r in tables["runs"]} == \
        {(d, r) for d in ("ImageNet-LT", "iNaturalist 2018") for r in rows}
    paper = [c for c in tables["checks"] if c["kind"] == "paper"]
    assert paper and all(c["verdict"] in ("held", "not held") for c in paper)   # judged under the paper profile
    gains = {(r["dataset"], r["pair"], r["group"]): r for r in tables["gains"]}
    assert float(gains[("iNaturalist 2018", "DSB-CE minus CE", "overall")]["paper"]) == pytest.approx(2.6)
    # Trained on the training lists, tested on ImageNet-LT's test list and iNaturalist's val split.
    record = json.load(open(tmp_path / "out" / "record.json"))["datasets"]
    assert record["ImageNet-LT"] == {"train_counts": LT_TRAIN, "test_size": sum(LT_TEST)}
    assert record["iNaturalist 2018"] == {"train_counts": [INAT_TRAIN[c] for c in sorted(INAT_TRAIN)],
                                          "test_size": sum(INAT_VAL.values())}
