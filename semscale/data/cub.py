"""CUB-200-2011 (Wah et al. 2011) from its own archive: 11,788 images of 200 bird species.

Layout (the archive CUB_200_2011.tgz, unchanged):
    CUB_200_2011/images/<class folder>/<image>.jpg
    CUB_200_2011/images.txt              "<image id> <relative path under images/>"
    CUB_200_2011/image_class_labels.txt  "<image id> <class id 1..200>"
    CUB_200_2011/classes.txt             "<class id> <class name, e.g. 001.Black_footed_Albatross>"
    CUB_200_2011/train_test_split.txt    "<image id> <1 = train, 0 = test>"

Two splits, registered under two names and never mixed:
    cub          classification split of train_test_split.txt: 5,994 train / 5,794 test, 200 classes.
    cub-metric   the deep-metric-learning split of App. D.5 (Sec. 5.3, Table 4): classes 1-100 train (5,864
                 images, labels 0..99), classes 101-200 test (5,924 images, relabelled 0..99: class 101 is
                 label 0 of the test split); train_test_split.txt is ignored.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._disk import as_int, check_ids, locate, read_rows, require
from .base import DatasetLayoutError, FileImageDataset
from .metric_splits import METRIC_TRAIN_CLASSES, class_range_split
from .registry import register

CUB_FILES = ("images.txt", "image_class_labels.txt", "classes.txt", "train_test_split.txt")
CUB_PUBLISHED = "www.vision.caltech.edu/datasets/cub_200_2011 (CUB_200_2011.tgz; also data.caltech.edu)"
CUB_LOOKS_FOR = ("CUB_200_2011/images.txt", "cub_200_2011/images.txt", "CUB_200_2011/CUB_200_2011/images.txt")


def read_cub(folder: Path, name: str = "cub", mode: str = "RGB", transform=None):
    """All 11,788 images (labels 0..199 = class id - 1) and the is_training flag of each, in images.txt order."""
    folder = Path(folder)
    images_txt, labels_txt, classes_txt, split_txt = require(folder, CUB_FILES, name)
    class_rows = read_rows(classes_txt, 2, dataset=name)
    class_ids = [as_int(f[0], classes_txt, n, "class id", name) for n, f in class_rows]
    if sorted(class_ids) != list(range(1, len(class_ids) + 1)):
        raise DatasetLayoutError(f"{name}: {classes_txt} must number its classes 1..{len(class_ids)} once each")
    classes = [""] * len(class_ids)
    for cid, (_, fields) in zip(class_ids, class_rows):
        classes[cid - 1] = fields[1]

    image_rows = read_rows(images_txt, 2, dataset=name)
    ids = [as_int(f[0], images_txt, n, "image id", name) for n, f in image_rows]
    position = {image_id: i for i, image_id in enumerate(ids)}
    labels = _per_image(labels_txt, position, "class id", name)
    check_ids(labels, 1, len(classes), labels_txt, lambda: _line_numbers(labels_txt, position, name), "class id",
              name)
    is_train = _per_image(split_txt, position, "is_training flag", name)
    bad = np.flatnonzero((is_train != 0) & (is_train != 1))
    if len(bad):
        raise DatasetLayoutError(f"{name}: {split_txt}:{_line_numbers(split_txt, position, name)[bad[0]]}: "
                                 f"is_training must be 0 or 1, got {int(is_train[bad[0]])}")
    paths = [folder / "images" / fields[1] for _, fields in image_rows]
    origins = [f"{images_txt}:{n}" for n, _ in image_rows]
    data = FileImageDataset(name, paths, labels - 1, classes, folder, mode, transform, origins,
                            {"image_id": np.asarray(ids, dtype=np.int64)})
    return data, is_train.astype(bool)


def _per_image(path: Path, position: dict, what: str, name: str) -> np.ndarray:
    """One integer per image of images.txt, read from a "<image id> <value>" file; every id exactly once."""
    values = np.full(len(position), -1, dtype=np.int64)
    seen = np.zeros(len(position), dtype=bool)
    for number, fields in read_rows(path, 2, dataset=name):
        image_id = as_int(fields[0], path, number, "image id", name)
        if image_id not in position:
            raise DatasetLayoutError(f"{name}: {path}:{number}: image id {image_id} is not in images.txt")
        values[position[image_id]] = as_int(fields[1].split()[0], path, number, what, name)
        seen[position[image_id]] = True
    if not seen.all():
        missing = [i for i, image_id in enumerate(position) if not seen[i]][:5]
        raise DatasetLayoutError(f"{name}: {path} gives no {what} for image id(s) "
                                 f"{[list(position)[i] for i in missing]}; the file is truncated")
    return values


def _line_numbers(path: Path, position: dict, name: str) -> list[int]:
    """Line of `path` that gave each image (for errors only)."""
    lines = [0] * len(position)
    for number, fields in read_rows(path, 2, dataset=name):
        lines[position[int(fields[0])]] = number
    return lines


def _cub_folder(name: str, root) -> Path:
    base, marker = locate(name, root)
    return (base / marker).parent


@register("cub", splits=("train", "test"), aliases=("cub-200-2011", "cub200", "cub-2011"),
          looks_for=CUB_LOOKS_FOR, published=CUB_PUBLISHED,
          description="CUB-200-2011 classification split (train_test_split.txt): 5,994 / 5,794, 200 classes")
def load_cub(split="train", root=None, download=True, mode="RGB", transform=None) -> FileImageDataset:
    data, is_train = read_cub(_cub_folder("cub", root), "cub", mode, transform)
    keep = np.flatnonzero(is_train if split == "train" else ~is_train)
    return data.subset(keep, name=f"cub-{split}")


@register("cub-metric", splits=("train", "test"), aliases=("cub-200-2011-metric", "cub200-metric"),
          looks_for=CUB_LOOKS_FOR, published=CUB_PUBLISHED,
          description="CUB-200-2011 metric-learning split (App. D.5): classes 1-100 train (5,864), "
                      "101-200 test (5,924), each relabelled from 0")
def load_cub_metric(split="train", root=None, download=True, mode="RGB", transform=None):
    data, _ = read_cub(_cub_folder("cub-metric", root), "cub-metric", mode, transform)
    return class_range_split(data, METRIC_TRAIN_CLASSES["cub"], split, name=f"cub-metric-{split}")
