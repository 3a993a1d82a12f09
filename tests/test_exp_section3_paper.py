"""Section 3's paper profiles (marginal_effect, class_bias, radar) run on miniature copies of the paper datasets'
real layouts (CIFAR pickles, MNIST IDX, the Mini-ImageNet csv files, CUB-200-2011's lists, Cars196's .mat), shrunk
by --set to seconds; and the paper configs hold the paper's sub-datasets, sets and models."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from miniature import make_cifar10_layout, make_mnist_layout
from miniature_metric import make_cifar100_balanced, make_mini_imagenet

ROOT = Path(__file__).resolve().parent.parent
SMALL = "[{label: CNN, backbone: small_cnn, width: 4}]"

# Paper Table 6 (App. D.1), typed from the paper: C and the m of every sub-dataset.
TABLE6 = {"cifar10": (10, [50, 100, 200, 300, 400, 500, 600, 800, 1000, 2000, 3000, 4000, 5000]),
          "cifar100": (100, [10, 20, 30, 50, 100, 200, 300, 400, 500]),
          "mini-imagenet": (100, [10, 20, 30, 50, 100, 200, 300, 400, 500])}


def paper_config(name: str) -> dict:
    sections = yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text())
    return {**sections["common"], **sections["paper"]}


def run(script: str, tmp_path: Path, *settings: str) -> Path:
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "experiments" / f"{script}.py"), "--profile", "paper", "--quiet",
               "--data-dir", str(tmp_path / "data"), "--out", str(out)]
    for setting in settings:
        command += ["--set", setting]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "SEMSCALE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------- Fig. 2 / Table 6

def test_table6_config_lists_the_papers_31_sub_datasets():
    cfg = paper_config("marginal_effect")
    listed = {entry["dataset"]: entry["sizes"] for entry in cfg["datasets"]}
    assert listed == {name: sizes for name, (_, sizes) in TABLE6.items()}
    assert sum(len(sizes) for sizes in listed.values()) == 31
    assert [b["backbone"] for b in cfg["backbones"]] == ["resnet18", "resnet34"]
    assert (cfg["optimizer"], cfg["lr"], cfg["schedule"], cfg["lr_gamma"], cfg["batch_size"]) == \
        ("adam", 0.01, "exp", 0.98, 64)
    sizes = {entry["dataset"]: entry["image_size"] for entry in cfg["datasets"]}
    assert sizes == {"cifar10": 32, "cifar100": 32, "mini-imagenet": 84}


def test_table6_sub_dataset_sizes_c_times_m_match_the_paper():
    """C x m of Table 6's second rows: from the loaders' class counts on the miniature layouts."""
    printed = {"cifar10": [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 20000, 30000, 40000, 50000],
               "cifar100": [1000, 2000, 3000, 5000, 10000, 20000, 30000, 40000, 50000]}
    printed["mini-imagenet"] = printed["cifar100"]
    for name, (classes, sizes) in TABLE6.items():
        assert [classes * m for m in sizes] == printed[name]


@pytest.fixture(scope="module")
def table6_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("table6") / "data"
    make_cifar10_layout(data, per_batch=30, balanced=True)     # 15 training images a class
    make_cifar100_balanced(data, train_per_class=5, test_per_class=1)
    make_mini_imagenet(data, per_class=6)                      # 5 training images a class (the 5/6 split)
    return data


def test_marginal_effect_paper_profile_on_the_three_table6_layouts(table6_data, tmp_path):
    (tmp_path / "data").symlink_to(table6_data)
    sizes = [3]
    settings = [f"datasets.{i}.sizes={sizes}" for i in range(3)] + [f"datasets.{i}.image_size=32" for i in range(3)]
    out = run("marginal_effect", tmp_path, "epochs=1", "seeds=[0]", f"backbones={SMALL}", *settings)
    for name, classes in (("cifar10", 10), ("cifar100", 100), ("mini-imagenet", 100)):
        accuracy = rows(out / f"accuracy_{name}.csv")
        assert [int(r["m"]) for r in accuracy] == sizes
        assert [int(r["C x m"]) for r in accuracy] == [classes * m for m in sizes]
        assert all(0.0 <= float(r["top1"]) <= 1.0 for r in accuracy)
        curves = rows(out / f"curves_{name}.csv")
        assert len(curves) == classes * len(sizes)
        if name == "cifar10":  # random pixels: every class has a volume (the other layouts draw one grey a class)
            assert all(float(r["volume"]) > 0 for r in curves)
    ids = {r["id"] for r in rows(out / "checks.csv")}
    for name in TABLE6:
        assert {f"curves_rise_{name}", f"curves_saturate_{name}", f"sum_tracks_accuracy_CNN_{name}",
                f"scale_beyond_count_CNN_{name}"} <= ids
    assert (out / "marginal_effect.png").exists()


# ---------------------------------------------------------------- Fig. 7 / App. D.4

def test_radar_paper_config_holds_section_3_and_fig7_sets():
    cfg = paper_config("radar")
    assert {"cub", "cars196", "mini-imagenet"} <= set(cfg["sets"])
    assert {"mnist", "mnist-table7-lt1", "mnist-table7-lt2", "cifar10", "cifar10-lt", "cifar100",
            "cifar100-lt"} <= set(cfg["sets"])


def test_radar_paper_profile_streams_cub_cars_and_mini_imagenet(tmp_path):
    from miniature_section3 import make_cars_mat_random, make_cub_random, make_mini_imagenet_random

    data = tmp_path / "data"
    cub, cars = make_cub_random(data), make_cars_mat_random(data)
    make_mini_imagenet_random(data, per_class=6)
    out = run("radar", tmp_path, "sets=[cub, cars196, mini-imagenet]")
    for name, classes, counts in (("cub", 200, cub), ("cars196", 196, cars), ("mini-imagenet", 100, [5] * 100)):
        table = rows(out / f"scales_{name}.csv")
        assert len(table) == classes
        assert [int(r["N"]) for r in table] == counts
        assert all(float(r["volume"]) > 0 for r in table)
        assert (out / f"radar_{name}.png").exists()
    summary = {r["set"]: r for r in rows(out / "summary.csv")}
    assert set(summary) == {"cub-train", "cars196-train", "mini-imagenet-train"}
    assert summary["cub-train"]["balanced N"] == "True" and summary["cars196-train"]["balanced N"] == "False"
    ids = {r["id"] for r in rows(out / "checks.csv")}
    assert ids == {"imbalance_cub", "imbalance_mini-imagenet"}  # claimed on the sample-balanced sets only


# ---------------------------------------------------------------- Figs. 3-4 / Table 7

def test_class_bias_paper_config_holds_figs_3_and_4():
    cfg = paper_config("class_bias")
    studies = {s["name"]: {**cfg, **s} for s in cfg["studies"]}
    assert studies["mnist"]["sets"] == ["mnist-table7-lt1", "mnist-table7-lt2", "mnist"]
    assert studies["mnist"]["dataset"] == "mnist"
    assert (studies["cifar10-lt"]["sets"], studies["cifar100-lt"]["sets"]) == (["cifar10-lt"], ["cifar100-lt"])
    assert cfg["imbalance"] == 200                                            # App. D.2
    models = {name: [b["backbone"] for b in study["backbones"]] for name, study in studies.items()}
    assert models == {"mnist": ["resnet18", "resnet34"], "cifar10-lt": ["resnet18", "resnet34"],
                      "cifar100-lt": ["resnet18", "resnet34"], "cifar10": ["resnet18", "resnet34", "vgg16"],
                      "cifar10-subsets": ["resnet18"]}
    table6 = [f"cifar10-balanced{m}" for m in TABLE6["cifar10"][1]]
    assert studies["cifar10-subsets"]["sets"] == table6 and studies["cifar10-subsets"]["pool_sets"]
    # the sub-dataset models are marginal_effect's: same settings, same nested subsets
    marginal = paper_config("marginal_effect")
    for key in ("epochs", "optimizer", "lr", "schedule", "lr_gamma", "batch_size"):
        assert studies["cifar10-subsets"][key] == marginal[key]
    assert studies["cifar10-subsets"]["image_size"] == marginal["datasets"][0]["image_size"] == 32


def test_class_bias_paper_profile_on_mnist_and_cifar_layouts(tmp_path):
    data = tmp_path / "data"
    make_mnist_layout(data, per_class=6)
    make_cifar10_layout(data, per_batch=30, balanced=True)                 # 15 training images a class
    make_cifar100_balanced(data, train_per_class=5, test_per_class=1)
    out = run("class_bias", tmp_path, "epochs=1", "seeds=[0]", f"backbones={SMALL}", "imbalance=3",
              f"studies.3.backbones={SMALL}", f"studies.4.backbones={SMALL}", "studies.0.sets=[mnist]",
              "studies.4.sets=[cifar10-balanced2, cifar10-balanced3]")
    expected = {"mnist": (["mnist"], 10, [6] * 10), "cifar10-lt": (["cifar10-lt"], 10, None),
                "cifar100-lt": (["cifar100-lt"], 100, None), "cifar10": (["cifar10"], 10, [15] * 10),
                "cifar10-subsets": (["cifar10-balanced2", "cifar10-balanced3"], 10, None)}
    for study, (sets, classes, counts) in expected.items():
        table = rows(out / f"classwise_{study}.csv")
        assert [r["set"] for r in table] == [s for s in sets for _ in range(classes)]
        assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in table)
        if counts:
            assert [int(r["N"]) for r in table] == counts
        assert (out / f"classwise_{study}.png").exists()
    lt = [int(r["N"]) for r in rows(out / "classwise_cifar10-lt.csv")]
    assert lt[0] == 15 and lt[-1] == 5 and lt == sorted(lt, reverse=True)   # imbalance 3 from 15 a class
    subsets = [int(r["N"]) for r in rows(out / "classwise_cifar10-subsets.csv")]
    assert subsets == [2] * 10 + [3] * 10
    agreement = [r["set"] for r in rows(out / "weak_class_agreement_cifar10-subsets.csv")]
    assert agreement == ["cifar10-balanced2", "cifar10-balanced3", "across_sets"]
    ids = {r["id"] for r in rows(out / "checks.csv")}
    assert "same_weak_classes_across_sets_cifar10-subsets" in ids and "same_weak_classes_mnist_mnist" in ids
    assert not any(i.startswith("closer_scales") for i in ids)              # no Table 7 set left in the run
