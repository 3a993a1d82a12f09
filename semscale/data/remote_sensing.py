"""Remote-sensing scene classification (paper App. D.7): RSSCN7 and NWPU-RESISC45, one folder per class.

    RSSCN7          RSSCN7/{aGrass, bField, cIndustry, dRiverLake, eForest, fResident, gParking}/*.jpg
                    2,800 images, 400 a class; the official protocol trains on 50%.
    NWPU-RESISC45   NWPU-RESISC45/<class>/<class>_001.jpg ... (airplane, airport, ..., wetland)
                    31,500 images of 256 x 256, 700 a class; the official protocol trains on 20%.
Neither release fixes which images train, so the split is drawn per class with a seed (seed=, default 0):
round(ratio x n_c) images of every class train (200 of 400, 140 of 700), the rest test; the same seed gives
the same split, and the seed is recorded in extras['split_seed']. Classes are the sorted folder names.
"""
from __future__ import annotations

from pathlib import Path

from ._disk import locate, ratio_split
from .base import DatasetLayoutError, FileImageDataset
from .folders import scan_class_folders
from .registry import register

RSSCN7_CLASSES = ("aGrass", "bField", "cIndustry", "dRiverLake", "eForest", "fResident", "gParking")
TRAIN_RATIO = {"rsscn7": 0.5, "nwpu-resisc45": 0.2}
NUM_CLASSES = {"rsscn7": 7, "nwpu-resisc45": 45}


def read_class_folders(folder: Path, name: str, num_classes: int, mode: str = "RGB", transform=None):
    """Every image of folder/<class>/ (the ImageFolder scan), checked to hold exactly `num_classes` classes."""
    classes, paths, labels = scan_class_folders(folder)
    if len(classes) != num_classes:
        raise DatasetLayoutError(f"{name}: {folder} holds {len(classes)} class folders, expected {num_classes} "
                                 f"({classes[:50]}); move stray folders out or restore missing classes")
    return FileImageDataset(name, paths, labels, classes, folder, mode, transform)


def load_scenes(name: str, split: str, root=None, seed: int = 0, mode: str = "RGB", transform=None):
    base, marker = locate(name, root)
    data = read_class_folders((base / marker).parent, name, NUM_CLASSES[name], mode, transform)
    train, test = ratio_split(data.labels, TRAIN_RATIO[name], seed)
    subset = data.subset(train if split == "train" else test, name=f"{name}-{split}")
    subset.extras = dict(subset.extras, split_seed=int(seed))
    return subset


@register("rsscn7", splits=("train", "test"), looks_for=("RSSCN7/aGrass", "RSSCN7/RSSCN7/aGrass", "rsscn7/aGrass"),
          published="github.com/palewithout/RSSCN7 (Zou et al. 2015, 'Deep learning based feature selection for "
                    "remote sensing scene classification')",
          description="RSSCN7, 7 scene classes x 400, seeded 50% / 50% split (App. D.7)")
def load_rsscn7(split="train", root=None, download=True, seed=0, mode="RGB", transform=None):
    return load_scenes("rsscn7", split, root, seed, mode, transform)


@register("nwpu-resisc45", splits=("train", "test"), aliases=("nwpu", "resisc45"),
          looks_for=("NWPU-RESISC45/airplane", "NWPU-RESISC45/NWPU-RESISC45/airplane", "nwpu-resisc45/airplane"),
          published="Cheng et al. 2017, 'Remote sensing image scene classification: benchmark and state of the art' "
                    "(the authors' OneDrive link; also tensorflow_datasets 'resisc45')",
          description="NWPU-RESISC45, 45 scene classes x 700, seeded 20% / 80% split (App. D.7)")
def load_nwpu_resisc45(split="train", root=None, download=True, seed=0, mode="RGB", transform=None):
    return load_scenes("nwpu-resisc45", split, root, seed, mode, transform)
