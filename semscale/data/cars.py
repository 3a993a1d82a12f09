"""Cars196 (Stanford Cars, Krause et al. 2013): 16,185 images of 196 car models, in the three layouts in use.

  original   <folder>/car_ims/000001.jpg ... + <folder>/cars_annos.mat, read with scipy.io.loadmat: the struct array
             `annotations` (fields relative_im_path, class 1..196, test 0/1; bbox_* unused) and `class_names`.
  text       <folder>/cars_annos.txt, the metric-learning re-packaging: "car_ims/000001.jpg,1" a line (path,
             class), with the images moved to <folder>/train/<class>/ for classes 1..98 and <folder>/test/<class>/
             for 99..196 (or still in car_ims/). The ";"-separated variant with a header
             "relative_img_path;bbox_x1;...;class;test" is read too and also gives the test flag. Class names come
             from a cars_annos.mat beside it if there is one, else they are the class numbers.
  kaggle     <folder>/{names.csv, anno_train.csv, anno_test.csv} + <folder>/car_data/car_data/{train,test}/<name>/
             (the "by classes folder" re-packaging): names.csv one class name a line, anno_*.csv
             "00001.jpg,x1,y1,x2,y2,class" (no header); its train/test folders are the official classification split.

Registered splits:
    cars196          the official classification split (the `test` flag / the Kaggle folders): 8,144 / 8,041.
    cars196-metric   App. D.5 (Sec. 5.3, Table 4): classes 1-98 train, 99-196 test, relabelled from 0.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._disk import as_int, check_ids, locate, read_rows, require
from .base import DatasetLayoutError, FileImageDataset
from .registry import register

NUM_CLASSES = 196
CARS_PUBLISHED = ("ai.stanford.edu/~jkrause/cars/car_dataset.html (car_ims.tgz + cars_annos.mat); the Kaggle "
                  "'stanford-car-dataset-by-classes-folder' re-packaging is read too")
CARS_LOOKS_FOR = ("cars196/cars_annos.mat", "CARS196/cars_annos.mat", "stanford_cars/cars_annos.mat",
                  "cars196/cars_annos.txt", "CARS_196/cars_annos.txt", "cars196/car_data/car_data",
                  "stanford-car-dataset-by-classes-folder/car_data/car_data")


def read_cars(folder: Path, name: str = "cars196", mode: str = "RGB", transform=None):
    """(all 16,185 images with labels 0..195, is_test flags or None when the layout has none)."""
    folder = Path(folder)
    if (folder / "cars_annos.mat").exists() and (folder / "car_ims").is_dir():
        return _read_mat(folder, name, mode, transform)
    if (folder / "cars_annos.txt").exists():
        return _read_text(folder, name, mode, transform)
    if (folder / "car_data" / "car_data").is_dir():
        return _read_kaggle(folder, name, mode, transform)
    raise DatasetLayoutError(f"{name}: {folder} holds none of the Cars196 layouts (car_ims/ + cars_annos.mat, "
                             "cars_annos.txt, car_data/car_data/ + names.csv)")


def _load_mat(path: Path, name: str) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(str(path), squeeze_me=True)
    except Exception as error:  # truncated or not a MATLAB file
        raise DatasetLayoutError(f"{name}: cannot read {path} as a MATLAB file ({error}); re-download it") from None


def _mat_class_names(path: Path, name: str) -> list[str]:
    names = _load_mat(path, name).get("class_names")
    if names is None:
        raise DatasetLayoutError(f"{name}: {path} has no 'class_names' variable")
    return [str(n) for n in np.atleast_1d(names)]


def _read_mat(folder: Path, name: str, mode: str, transform):
    path = folder / "cars_annos.mat"
    content = _load_mat(path, name)
    annotations = np.atleast_1d(content.get("annotations", np.zeros(0)))
    fields = annotations.dtype.names or ()
    missing = [f for f in ("relative_im_path", "class", "test") if f not in fields]
    if "annotations" not in content or missing:
        raise DatasetLayoutError(f"{name}: {path}: the struct array 'annotations' lacks field(s) {missing}; "
                                 "expected relative_im_path, class, test")
    classes = _mat_class_names(path, name)
    relative = [str(p) for p in annotations["relative_im_path"]]
    ids = annotations["class"].astype(np.int64)
    where = [f"annotations[{i}]" for i in range(len(ids))]
    check_ids(ids, 1, len(classes), path, where, "class", name)
    origins = [f"{path}:{w}" for w in where]
    data = FileImageDataset(name, [folder / r for r in relative], ids - 1, classes, folder, mode, transform,
                            origins)
    return data, annotations["test"].astype(np.int64) == 1


def _read_text(folder: Path, name: str, mode: str, transform):
    path = folder / "cars_annos.txt"
    with open(path, encoding="utf-8-sig") as handle:
        first = handle.readline()
    semicolon = ";" in first
    rows = read_rows(path, 7 if semicolon else 2, sep=";" if semicolon else ",", header=semicolon, dataset=name)
    relative = [fields[0] for _, fields in rows]
    column = 5 if semicolon else 1
    ids = np.asarray([as_int(f[column], path, n, "class", name) for n, f in rows], dtype=np.int64)
    numbers = [n for n, _ in rows]
    check_ids(ids, 1, NUM_CLASSES, path, numbers, "class", name)
    in_car_ims = (folder / "car_ims").is_dir()
    paths = [folder / r if in_car_ims else
             folder / ("train" if c <= NUM_CLASSES // 2 else "test") / str(c) / Path(r).name
             for r, c in zip(relative, ids)]
    mat = folder / "cars_annos.mat"
    classes = _mat_class_names(mat, name) if mat.exists() else [str(c) for c in range(1, NUM_CLASSES + 1)]
    is_test = np.asarray([as_int(f[6], path, n, "test flag", name) == 1 for n, f in rows]) if semicolon else None
    data = FileImageDataset(name, paths, ids - 1, classes, folder, mode, transform,
                            [f"{path}:{n}" for n in numbers])
    return data, is_test


def _read_kaggle(folder: Path, name: str, mode: str, transform):
    names_csv, train_csv, test_csv = require(folder, ("names.csv", "anno_train.csv", "anno_test.csv"), name)
    classes = [fields[0] for _, fields in read_rows(names_csv, 1, sep="\n", dataset=name)]
    images = folder / "car_data" / "car_data"
    paths, ids, origins, is_test = [], [], [], []
    for split, csv in (("train", train_csv), ("test", test_csv)):
        found = _index_folder(images / split)
        rows = read_rows(csv, 6, sep=",", dataset=name)
        split_ids = [as_int(f[5], csv, n, "class", name) for n, f in rows]
        check_ids(split_ids, 1, len(classes), csv, [n for n, _ in rows], "class", name)
        for (number, fields), cid in zip(rows, split_ids):
            # the folder is the class name with "/" made filesystem-safe; a file absent from every folder keeps
            # that expected path, so reading it names the csv line
            paths.append(found.get(fields[0], images / split / classes[cid - 1].replace("/", "-") / fields[0]))
            origins.append(f"{csv}:{number}")
        ids += split_ids
        is_test += [split == "test"] * len(rows)
    data = FileImageDataset(name, paths, np.asarray(ids) - 1, classes, folder, mode, transform, origins)
    return data, np.asarray(is_test, dtype=bool)


def _index_folder(folder: Path) -> dict:
    """file name -> path of every image under folder/<class>/ (file names are unique within a split)."""
    index = {}
    if folder.is_dir():
        for sub in os.scandir(folder):
            if sub.is_dir():
                for entry in os.scandir(sub.path):
                    index[entry.name] = Path(entry.path)
    return index


def _cars_folder(name: str, root) -> Path:
    base, marker = locate(name, root)
    found = base / marker
    return found.parent.parent if found.name == "car_data" else found.parent


@register("cars196", splits=("train", "test"), aliases=("cars", "stanford-cars", "cars-196"),
          looks_for=CARS_LOOKS_FOR, published=CARS_PUBLISHED,
          description="Cars196 classification split (the annotations' test flag): 8,144 / 8,041, 196 classes")
def load_cars196(split="train", root=None, download=True, mode="RGB", transform=None) -> FileImageDataset:
    folder = _cars_folder("cars196", root)
    data, is_test = read_cars(folder, "cars196", mode, transform)
    if is_test is None:
        raise DatasetLayoutError(f"cars196: {folder / 'cars_annos.txt'} has no test column, so it gives no "
                                 "classification split; add cars_annos.mat beside it or use 'cars196-metric'")
    return data.subset(np.flatnonzero(is_test if split == "test" else ~is_test), name=f"cars196-{split}")


@register("cars196-metric", splits=("train", "test"), aliases=("cars-metric", "cars196-dml"),
          looks_for=CARS_LOOKS_FOR, published=CARS_PUBLISHED,
          description="Cars196 metric-learning split (App. D.5): classes 1-98 train, 99-196 test, relabelled")
def load_cars196_metric(split="train", root=None, download=True, mode="RGB", transform=None):
    from .metric_splits import METRIC_TRAIN_CLASSES, class_range_split

    data, _ = read_cars(_cars_folder("cars196-metric", root), "cars196-metric", mode, transform)
    return class_range_split(data, METRIC_TRAIN_CLASSES["cars196"], split, name=f"cars196-metric-{split}")
