"""experiments/remote_sensing.py: DSB-gain claims on constructed runs (held / not held by hand-computed intervals),
the claim list, the 'not run' profiles, and the paper profile end to end on miniature RSSCN7 / NWPU-RESISC45."""
import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import remote_sensing as rs  # noqa: E402
from test_exp_medical import hand_t_interval, read_table  # noqa: E402
from semscale.engine import TrainConfig  # noqa: E402
from semscale.engine.optim import build_optimizer, build_schedule  # noqa: E402
from semscale.experiment import Experiment  # noqa: E402

SCRIPT = str(ROOT / "experiments" / "remote_sensing.py")
UP = [1.0, 1.5, 0.8, 1.2, 1.0]         # mean 1.10, low 0.77: held
SMALL = [0.5, -0.3, 0.4, 0.2, -0.1]    # mean 0.14, low -0.28: not held
DOWN = [-2.0, -1.0, -1.5, -0.5, -1.0]  # not held


def _rows(top1_gains, industry_gains, base=(85.0, 88.0, 86.0, 84.0, 87.0)):
    """Five seeds of VGG-16 on rsscn7, plain and DSB (= plain + gain, seed by seed), plus decoys; shuffled."""
    rows = []
    for seed, (b, g, gi) in enumerate(zip(base, top1_gains, industry_gains)):
        rows.append({"dataset": "rsscn7", "backbone": "VGG-16", "method": "plain", "seed": seed, "top1": b,
                     "acc cIndustry": b - 20})
        rows.append({"dataset": "rsscn7", "backbone": "VGG-16", "method": "dsb", "seed": seed, "top1": b + g,
                     "acc cIndustry": b - 20 + gi})
        rows.append({"dataset": "nwpu-resisc45", "backbone": "VGG-16", "method": "dsb", "seed": seed, "top1": 0.0,
                     "acc cIndustry": 0.0})
    random.Random(2).shuffle(rows)
    return rows


CLAIMS = [{"id": "a", "dataset": "rsscn7", "backbone": "VGG-16", "key": "top1", "what": "top-1", "paper": ""},
          {"id": "b", "dataset": "rsscn7", "backbone": "VGG-16", "key": "acc cIndustry", "what": "industry",
           "paper": 4}]


def test_dsb_gain_is_dsb_minus_plain_paired_by_seed():
    rows = _rows(UP, DOWN)
    assert rs.dsb_gain(rows, "rsscn7", "VGG-16") == pytest.approx(hand_t_interval(UP))
    assert rs.dsb_gain(rows, "rsscn7", "VGG-16", "acc cIndustry") == pytest.approx(hand_t_interval(DOWN))
    assert hand_t_interval(UP)[1] > 0 > hand_t_interval(SMALL)[1] > -1


@pytest.mark.parametrize("top1, industry, verdicts", [(UP, UP, ["held", "held"]), (UP, SMALL, ["held", "not held"]),
                                                      (DOWN, UP, ["not held", "held"])])
def test_claims_both_ways(tmp_path, top1, industry, verdicts):
    exp = Experiment(SCRIPT, ["--profile", "paper", "--out", str(tmp_path)])
    rs.state_claims(exp, _rows(top1, industry), CLAIMS)
    assert [c.verdict for c in exp.checks] == verdicts
    assert [c.paper for c in exp.checks] == ["positive (Figs. 14-15)", "+4"]


def test_claim_list_covers_every_backbone_on_both_sets_and_the_named_classes():
    cfg = Experiment(SCRIPT, ["--profile", "paper"]).config
    claims = rs.claim_list(cfg)
    assert [(c["dataset"], c["backbone"], c["key"], c["paper"]) for c in claims] == [
        ("rsscn7", "VGG-16", "top1", ""), ("rsscn7", "GoogLeNet", "top1", 1.0), ("rsscn7", "ResNet-34", "top1", 0.6),
        ("nwpu-resisc45", "VGG-16", "top1", 1.8), ("nwpu-resisc45", "GoogLeNet", "top1", 1.6),
        ("nwpu-resisc45", "ResNet-34", "top1", 1.2), ("rsscn7", "VGG-16", "acc cIndustry", 4),
        ("rsscn7", "VGG-16", "acc gParking", 3)]
    assert len({c["id"] for c in claims}) == len(claims)
    # "the learning rate decays 10 times every 50 epochs": lr / 10 after epochs 50 and 100 of 150
    assert (cfg["schedule"], cfg["lr_gamma"], cfg["lr_milestones"], cfg["epochs"]) == ("step", 0.1, [50, 100], 150)
    config = TrainConfig(**{k: cfg[k] for k in ("lr", "epochs", "schedule", "lr_gamma", "lr_milestones")})
    optimizer = build_optimizer(config, [torch.nn.Parameter(torch.zeros(1))])
    schedule = build_schedule(config, optimizer)
    lrs = []
    for _ in range(150):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] == lrs[49] == 1e-3 and lrs[50] == pytest.approx(1e-4) == lrs[99] and lrs[100] == pytest.approx(1e-5)


@pytest.mark.parametrize("profile", ["smoke", "quick"])
def test_without_data_every_check_is_not_run_with_the_reason(tmp_path, profile):
    assert rs.main(["--profile", profile, "--quiet", "--out", str(tmp_path)]) == 0
    checks = read_table(tmp_path, "checks")
    assert len(checks) == 8 and {c["verdict"] for c in checks} == {"not run"}
    assert all("no RSSCN7 or NWPU-RESISC45 here" in c["reason"] for c in checks)
    summary = read_table(tmp_path, "summary")
    assert len(summary) == 6 and {summary[0][k] for k in ("plain top-1", "DSB top-1", "DSB minus plain")} == {"not run"}


def test_paper_profile_on_miniature_scene_folders(tmp_path, monkeypatch):
    from miniature_metric import make_scene_folders

    make_scene_folders(tmp_path / "data", "rsscn7", [6] * 7)
    make_scene_folders(tmp_path / "data", "nwpu-resisc45", [5] * 45)
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code = rs.main(["--profile", "paper", "--quiet", "--data-dir", str(tmp_path / "data"), "--out", str(out),
                    "--set", "epochs=2", "--set", "warmup_epochs=1", "--set", "seeds=[0, 1]", "--set", "image_size=32",
                    "--set", "batch_size=16", "--set", "workers=0",
                    "--set", "backbones=[{label: Small, backbone: small_cnn}]",
                    "--set", "class_claims=[{dataset: rsscn7, backbone: Small, class: cIndustry, paper: 4}]"])
    assert code == 0
    runs = read_table(out, "runs")
    assert [(r["dataset"], r["method"], r["seed"]) for r in runs] == [
        (d, m, s) for d in ("rsscn7", "nwpu-resisc45") for s in ("0", "1") for m in ("plain", "dsb")]
    per_class = read_table(out, "per_class")
    assert len(per_class) == 7 + 45 and per_class[2]["class"] == "cIndustry"
    checks = read_table(out, "checks")
    assert [c["id"] for c in checks] == ["dsb_gain_top1_rsscn7_small", "dsb_gain_top1_nwpu-resisc45_small",
                                         "dsb_gain_cindustry_rsscn7_small"]
    assert all(c["verdict"] in ("held", "not held") for c in checks)
    confusion = json.loads((out / "record.json").read_text())["confusion"]
    # 3 test images a class on rsscn7 (6 - round(0.5 x 6)), 4 on nwpu (5 - round(0.2 x 5)), two seeds summed
    assert np.asarray(confusion["rsscn7|Small|dsb"]).sum(1).tolist() == [6] * 7
    assert np.asarray(confusion["nwpu-resisc45|Small|plain"]).sum(1).tolist() == [8] * 45
    assert (out / "confusion_rsscn7.png").exists() and (out / "accuracy.png").exists()
