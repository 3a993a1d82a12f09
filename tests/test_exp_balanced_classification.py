"""balanced_classification (Sec. 5.2 Table 3, App. H.4 Fig. 19): claim logic on constructed runs with known
verdicts, the semantic-scale thirds against a hand computation, and the smoke and paper profiles end to end."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from hand_formulas import hand_volume
from miniature import make_cifar100_layout
from miniature_large import make_ilsvrc_layout

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "experiments"))

import balanced_classification as bc  # noqa: E402

from semscale.data import ImageDataset, load_dataset  # noqa: E402

CE_BY_SEED = np.array([60.0, 75.0, 68.0, 81.0, 55.0])  # seeds differ far more than the losses do


def _rows(gain_top1, gain_head, gain_tail, dataset="CIFAR-100", label="ResNet-18", arch="resnet18", rng=None):
    """Runs of 5 seeds: DSB-CE = CE + gain + a little noise; rows shuffled so that pairing must go by seed."""
    rng = rng or np.random.default_rng(0)
    rows = []
    for seed, base in enumerate(CE_BY_SEED):
        noise = rng.normal(0, 0.2, 4)
        ce = {"top1": base, "head": base + 5, "middle": base, "tail": base - 5}
        dsb = {"top1": base + gain_top1 + noise[0], "head": ce["head"] + gain_head + noise[1],
               "middle": base + noise[2], "tail": ce["tail"] + gain_tail + noise[3]}
        for method, values in (("CE", ce), ("DSB-CE", dsb)):
            rows.append({"dataset": dataset, "backbone": label, "arch": arch, "seed": seed, "method": method,
                         **values})
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def _verdicts(found):
    return {c["id"].split("_CIFAR")[0].split("_Fashion")[0]: c["triple"][1] > c["threshold"] for c in found}


def test_claims_held_when_dsb_gains_and_the_tail_gains_most():
    found = bc.claims(_rows(gain_top1=1.0, gain_head=0.5, gain_tail=3.0))
    assert [c["id"] for c in found] == ["dsb_beats_ce_CIFAR-100_ResNet-18", "tail_gain_CIFAR-100_ResNet-18",
                                        "tail_beats_head_CIFAR-100_ResNet-18"]
    assert _verdicts(found) == {"dsb_beats_ce": True, "tail_gain": True, "tail_beats_head": True}
    # ResNet-18 on CIFAR-100 is Table 3's row with Delta +1.3; the tail claims cite Fig. 19.
    assert found[0]["paper"] == "+1.3 (Table 3)" and "Fig. 19" in found[1]["paper"]


def test_claims_not_held_when_dsb_loses_or_the_head_gains_most():
    found = bc.claims(_rows(gain_top1=-1.0, gain_head=3.0, gain_tail=-0.5))
    assert _verdicts(found) == {"dsb_beats_ce": False, "tail_gain": False, "tail_beats_head": False}
    # A gain of the tail smaller than the head's, both positive: the tail claim holds, "tail gains most" does not.
    found = bc.claims(_rows(gain_top1=1.0, gain_head=3.0, gain_tail=1.0))
    assert _verdicts(found) == {"dsb_beats_ce": True, "tail_gain": True, "tail_beats_head": False}


def test_claim_interval_is_the_paired_t_interval_by_seed():
    rows = _rows(gain_top1=0.4, gain_head=0.0, gain_tail=0.0, dataset="Fashion-MNIST", label="SmallCNN-16",
                 arch="small_cnn")
    by = {(r["method"], r["seed"]): r for r in rows}
    diffs = np.array([by["DSB-CE", s]["top1"] - by["CE", s]["top1"] for s in range(5)])
    half = sps.t.ppf(0.975, 4) * diffs.std(ddof=1) / np.sqrt(5)
    top1 = bc.claims(rows)[0]
    assert np.allclose(top1["triple"], (diffs.mean(), diffs.mean() - half, diffs.mean() + half))
    assert top1["triple"][1] > 0     # unpaired, the 5-25 point spread of CE over seeds would swamp a 0.4 gain
    assert top1["paper"] == ""       # small_cnn and Fashion-MNIST are not in Table 3
    tail_minus_head = [(by["DSB-CE", s]["tail"] - by["CE", s]["tail"]) - (by["DSB-CE", s]["head"] -
                                                                          by["CE", s]["head"]) for s in range(5)]
    assert np.isclose(bc.claims(rows)[2]["triple"][0], np.mean(tail_minus_head))


def test_a_missing_run_is_named():
    rows = [r for r in _rows(1.0, 0.0, 1.0) if not (r["method"] == "DSB-CE" and r["seed"] == 3)]
    with pytest.raises(ValueError, match=r"CIFAR-100 / ResNet-18: runs missing .*\('DSB-CE', 3\)"):
        bc.claims(rows)


def test_table3_rows_cover_the_eight_backbones():
    assert bc.table3_delta("ImageNet", "vgg16") == 1.3 and bc.table3_delta("CIFAR-100", "seresnet50") == 0.7
    assert bc.table3_delta("ImageNet", "resnext101_32x8d") == 0.9 and bc.table3_delta("ImageNet", "googlenet") is None
    assert bc.table3_delta("Fashion-MNIST", "resnet18") is None and len(bc.PAPER_ROWS) == 8


def test_scale_thirds_against_a_hand_computation():
    # 7 classes of 16 x 16 grey images (Alg. 1's size, so no resizing): noise of growing amplitude around
    # class-dependent brightness. S by hand: S' = volume / max, W' = mean distance to the other centres / max,
    # W = log2(1 + W') (alpha 1), S = S' W; the 3 smallest S are the tail, the 2 largest the head.
    rng = np.random.default_rng(3)
    amplitude = [40, 10, 70, 25, 55, 5, 60]
    brightness = [120, 60, 180, 100, 140, 90, 30]
    images, labels = [], []
    for c, (a, b) in enumerate(zip(amplitude, brightness)):
        images.append(np.clip(b + rng.integers(-a, a + 1, size=(12, 16, 16)), 0, 255).astype(np.uint8))
        labels += [c] * 12
    data = ImageDataset("hand", np.concatenate(images), labels, [f"c{c}" for c in range(7)], "memory")
    vectors = [np.concatenate(images)[np.array(labels) == c].reshape(12, -1) / 255.0 for c in range(7)]
    volume = np.array([hand_volume(v) for v in vectors])
    centres = np.array([v.mean(0) for v in vectors])
    w_prime = np.array([sum(np.linalg.norm(centres[i] - centres[j]) for j in range(7)) / 6 for i in range(7)])
    s_hand = volume / volume.max() * np.log2(1.0 + w_prime / w_prime.max())
    order = sorted(range(7), key=lambda c: -s_hand[c])
    expected = ["head" if rank < 2 else "middle" if rank < 4 else "tail" for rank in
                [order.index(c) for c in range(7)]]
    scales, thirds = bc.scale_thirds(data, alpha=1.0)
    assert np.allclose(scales, s_hand, rtol=1e-6)
    assert thirds.tolist() == expected
    assert sorted(expected).count("tail") == 3


def _read(path):
    return list(csv.DictReader(open(path)))


def test_smoke_profile_writes_its_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSCALE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert bc.main(["--profile", "smoke", "--quiet", "--out", str(out), "--set", "datasets.0.per_class=12"]) == 0
    runs = _read(out / "runs.csv")
    assert {(r["backbone"], r["seed"], r["method"]) for r in runs} == {
        (b, s, m) for b in ("SmallCNN-4", "SmallCNN-8") for s in ("0", "1") for m in ("CE", "DSB-CE")}
    assert all(len(r["per_class"].split()) == 10 for r in runs)
    split = _read(out / "scale_split.csv")
    assert [r["split_by_scale"] for r in split].count("tail") == 4 and {r["N"] for r in split} == {"12"}
    gains = _read(out / "gains.csv")
    assert [g["metric"] for g in gains[:5]] == ["top1", "head", "middle", "tail", "tail gain minus head gain"]
    checks = {c["id"] for c in _read(out / "checks.csv")}
    assert {"dsb_beats_ce_digits_SmallCNN-4", "tail_gain_digits_SmallCNN-8"} <= checks
    assert {p.name for p in out.glob("*.png")} == {"gains.png", "head_middle_tail.png"}


def test_paper_profile_on_miniature_imagenet_and_cifar100(tmp_path):
    data = tmp_path / "data"
    make_ilsvrc_layout(data, per_class=(3, 3, 3))
    make_cifar100_layout(data, n=400)       # seed 0: every one of the 100 classes has a training image
    assert load_dataset("cifar100", "train", root=data).counts().min() > 0
    shrink = ["train.warmup_epochs=1", "seeds=[0]", "backbones=[{label: ResNet-18, backbone: resnet18}]",
              "datasets.0.train.epochs=2", "datasets.1.train.epochs=2", "datasets.0.train.image_size=32",
              "datasets.1.train.image_size=8",     # 8 px: still the CIFAR stem, 1/16 of the cost
              "datasets.0.train.amp='off'", "datasets.1.train.amp='off'"]  # bf16 autocast is slower on a CPU
    run = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "balanced_classification.py"), "--profile", "paper", "--quiet",
         "--data-dir", str(data), "--out", str(tmp_path / "out")] + [a for s in shrink for a in ("--set", s)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "SEMSCALE_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr[-3000:]
    runs = _read(tmp_path / "out" / "runs.csv")
    assert [(r["dataset"], r["method"]) for r in runs] == [("ImageNet", "CE"), ("ImageNet", "DSB-CE"),
                                                           ("CIFAR-100", "CE"), ("CIFAR-100", "DSB-CE")]
    assert [len(r["per_class"].split()) for r in runs] == [3, 3, 100, 100]
    config = __import__("json").loads((tmp_path / "out" / "config.json").read_text())["config"]
    cifar = config["datasets"][1]["train"]
    assert (cifar["mix"], cifar["augment"], cifar["lr"], cifar["batch_size"]) == ("mixup_cutmix", "cifar", 0.1, 64)
    imagenet = config["datasets"][0]["train"]
    assert (imagenet["mix"], imagenet["augment"], imagenet["lr"], imagenet["batch_size"]) == (
        "mixup_cutmix", "imagenet", 0.05, 512)
    split = _read(tmp_path / "out" / "scale_split.csv")
    cifar_split = [r["split_by_scale"] for r in split if r["dataset"] == "CIFAR-100"]
    assert (cifar_split.count("head"), cifar_split.count("middle"), cifar_split.count("tail")) == (33, 33, 34)
    gains = {(g["dataset"], g["metric"]): g for g in _read(tmp_path / "out" / "gains.csv")}
    assert gains["ImageNet", "top1"]["paper Delta"] == "+1.1" and gains["CIFAR-100", "top1"]["paper Delta"] == "+1.3"
    checks = {c["id"]: c for c in _read(tmp_path / "out" / "checks.csv")}
    # Under the paper profile Table 3's cells are judged, not skipped; one seed gives no interval for a claim.
    assert checks["table3_CIFAR-100_ResNet-18_Delta"]["verdict"] in ("held", "not held")
    assert float(checks["table3_ImageNet_ResNet-18_CE"]["paper"]) == 70.1
    assert checks["dsb_beats_ce_CIFAR-100_ResNet-18"]["verdict"] == "not run"


def test_run_row_reads_the_scale_thirds_in_points():
    metrics = {"top1": 0.5, "macro_ap": 0.7, "per_class": np.array([0.5, 1.0, 0.125]),
               "by_scale": {"head": 0.1, "middle": 0.2, "tail": 0.3}, "head": 0.9, "middle": 0.9, "tail": 0.9}
    row = bc.run_row("ImageNet", "VGG16", "vgg16", 2, "DSB-CE", metrics)
    assert (row["top1"], row["head"], row["middle"], row["tail"]) == (50.0, 10.0, 20.0, 30.0)
    assert row["per_class"] == "50.00 100.00 12.50" and row["seed"] == 2 and row["method"] == "DSB-CE"


def test_bad_config_entries_are_named():
    good = {"datasets": [{"label": "x", "name": "digits"}], "backbones": [{"label": "b", "backbone": "small_cnn"}]}
    bc.check_config(good, "balanced_classification")
    with pytest.raises(SystemExit, match=r"datasets\.0 \(x\): unknown \['perclass'\]"):
        bc.check_config({**good, "datasets": [{"label": "x", "name": "digits", "perclass": 5}]}, "bc")
    with pytest.raises(SystemExit, match=r"backbones\.1 \(\?\): missing \['label'\]"):
        bc.check_config({**good, "backbones": good["backbones"] + [{"backbone": "vgg16"}]}, "bc")
    with pytest.raises(SystemExit, match="'datasets' must be a non-empty list"):
        bc.check_config({**good, "datasets": []}, "bc")
