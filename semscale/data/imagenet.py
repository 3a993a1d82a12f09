"""ImageNet-LT, Places-LT (the OLTR list files) and ImageNet ILSVRC2012 (class folders) from a user's disk.

ImageNet-LT (Liu et al. 2019; paper Sec. 5, Table 2): 1,000 classes, 115,846 training images (1,280 down to 5 a
class); val = 20,000 lines drawn from ImageNet *train*; test = the 50,000 ILSVRC2012 val images. Places-LT: 365
classes from Places-365 the same way. Class names are the folders of each label's training images (wnids for
ImageNet-LT). REPLICATION_NOTES section 7.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .base import DatasetLayoutError, FileImageDataset
from .folders import image_files, scan_class_folders
from .listfiles import class_names, dataset_not_found, list_dataset, read_list
from .paths import data_roots
from .registry import register

OLTR = "the OLTR release (github.com/zhmiao/OpenLongTailRecognition-OLTR, lists on its Google Drive; re-shipped " \
       "by classifier-balancing, BALMS, LADE, PaCo)"
ILSVRC_PUBLISHED = "image-net.org (ILSVRC2012 train and val archives, after registration; also Kaggle's " \
                   "imagenet-object-localization-challenge)"
IMAGENET_FOLDERS = ("imagenet", "ImageNet", "ILSVRC2012", "ILSVRC/Data/CLS-LOC", "imagenet/ILSVRC/Data/CLS-LOC")


def _lt_lists(stem: str, list_folders, root):
    """The folders searched for the list files and the first holding `<stem>_train.txt`."""
    folders = [base / sub if sub else base for base in data_roots(root) for sub in list_folders]
    found = next((f for f in folders if (f / f"{stem}_train.txt").is_file()), None)
    return folders, found


def _lt_dataset(name, stem, list_folders, image_folders, published, split, root, image_root, prefix_map, mode,
                transform, verify):
    folders, found = _lt_lists(stem, list_folders, root)
    if found is None:
        raise dataset_not_found(name, [f"{stem}_train.txt"], folders, f"{published}; images: see the list's "
                                "paths", layout=f"Expected {stem}_{{train,val,test}}.txt beside or above the images. ")
    list_path = found / f"{stem}_{split}.txt"
    if not list_path.is_file():
        raise DatasetLayoutError(f"{name}: {list_path} is missing (found {found / f'{stem}_train.txt'}); copy the "
                                 f"{split} list from {published}")
    train_paths, train_labels, train_origins = read_list(found / f"{stem}_train.txt")
    classes = class_names(train_paths, train_labels, train_origins, int(train_labels.max()) + 1)
    candidates = [Path(image_root)] if image_root else []
    candidates += [found, found.parent, *(base / sub for base in data_roots(root) for sub in image_folders)]
    return list_dataset(name, list_path, classes, candidates, prefix_map, mode, transform, verify)


@register("imagenet-lt", splits=("train", "val", "test"), aliases=("imagenet_lt",),
          looks_for=("ImageNet_LT/ImageNet_LT_train.txt", "ImageNet_LT_train.txt"), published=OLTR,
          description="ImageNet-LT lists over ILSVRC2012 images: 1,000 classes, 115,846 / 20,000 (from train) / "
                      "50,000 (ILSVRC val); lazy")
def load_imagenet_lt(split="train", root=None, download=True, image_root=None, prefix_map="auto", mode="RGB",
                     transform=None, verify=True) -> FileImageDataset:
    """ImageNet_LT_{split}.txt; images under image_root or an ImageNet folder of a data root (see IMAGENET_FOLDERS).

    prefix_map: "auto" (as listed, else flat or nested val/), None, or {old: new} (see listfiles.py)."""
    return _lt_dataset("imagenet-lt", "ImageNet_LT", ("ImageNet_LT", ""), IMAGENET_FOLDERS, OLTR, split, root,
                       image_root, prefix_map, mode, transform, verify)


@register("places-lt", splits=("train", "val", "test"), aliases=("places_lt",),
          looks_for=("Places_LT/Places_LT_train.txt", "Places_LT_train.txt"),
          published=f"{OLTR}; images: places2.csail.mit.edu (Places365-Standard, 256 x 256)",
          description="Places-LT lists over Places-365 images: 365 classes; lazy")
def load_places_lt(split="train", root=None, download=True, image_root=None, prefix_map="auto", mode="RGB",
                   transform=None, verify=True) -> FileImageDataset:
    return _lt_dataset("places-lt", "Places_LT", ("Places_LT", ""), ("places365", "Places365", "places"),
                       OLTR, split, root, image_root, prefix_map, mode, transform, verify)


# ---------------------------------------------------------------- ILSVRC2012

VAL_LABEL_FILES = ("LOC_val_solution.csv", "val.txt", "val_labels.txt", "ILSVRC2012_val_labels.txt",
                   "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt")


def read_devkit_labels(path: Path, wnids: list[str]) -> dict[str, tuple[int, str]]:
    """The official devkit: line i of ILSVRC2012_validation_ground_truth.txt is the ILSVRC2012_ID (1..1000, not the
    sorted-wnid order) of ILSVRC2012_val_<i>.JPEG; meta.mat beside it maps those IDs to wnids."""
    from scipy.io import loadmat

    meta = path.parent / "meta.mat"
    if not meta.is_file():
        raise DatasetLayoutError(f"{path}: its meta.mat (ILSVRC2012_ID -> wnid) is missing from {path.parent}")
    synsets = loadmat(meta, squeeze_me=True)["synsets"]
    wnid_of = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0}
    rows = []
    for number, line in enumerate(path.read_text().split(), 1):
        wnid = wnid_of.get(int(line)) if line.isdigit() else None
        if wnid is None:
            raise DatasetLayoutError(f"{path}:{number}: {line!r} is not an ILSVRC2012_ID of a leaf synset in {meta}")
        rows.append((f"ILSVRC2012_val_{number:08d}", wnid))
    return read_val_rows(rows, wnids, path)


def read_val_labels(path: Path, wnids: list[str]) -> dict[str, tuple[int, str]]:
    """{file stem: (label, 'file:line')} from Kaggle's LOC_val_solution.csv (ImageId, 'wnid box ...'), a text
    file of `name label` / `name wnid` lines (labels index the sorted wnids, as the train class folders do), or the
    official devkit's ground truth."""
    if path.name == "ILSVRC2012_validation_ground_truth.txt":
        return read_devkit_labels(path, wnids)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle) if path.suffix == ".csv" else [line.split() for line in handle]
        if path.suffix == ".csv":
            rows = list(rows)
            if rows and rows[0][:1] == ["ImageId"]:      # Kaggle's header
                rows[0] = []
        return read_val_rows(rows, wnids, path)


def read_val_rows(rows, wnids: list[str], path: Path) -> dict[str, tuple[int, str]]:
    """{file stem: (label, 'file:line')} from (name, label-or-'wnid ...') rows; empty rows are skipped."""
    index = {w: i for i, w in enumerate(wnids)}
    result = {}
    for number, row in enumerate(rows, 1):
        if not row:
            continue
        if len(row) < 2:
            raise DatasetLayoutError(f"{path}:{number}: expected 'image label-or-wnid', got {row!r}")
        name, value = row[0], row[1].split()[0]
        label = int(value) if value.lstrip("-").isdigit() else index.get(value, -1)
        if not 0 <= label < len(wnids):
            raise DatasetLayoutError(f"{path}:{number}: label {value!r} is not a class index 0..{len(wnids) - 1}"
                                     " nor a wnid of the train folders; fix the line")
        result[Path(name).stem] = (label, f"{path.name}:{number}")
    return result


def _imagenet_val(folder: Path, wnids: list[str], labels_file, mode, transform) -> FileImageDataset:
    subfolders = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if subfolders:                                   # val as class folders
        unknown = sorted(set(subfolders) - set(wnids))
        if unknown:
            raise DatasetLayoutError(f"{folder / unknown[0]}: val class folder not among the {len(wnids)} train "
                                     "classes; remove it or add its train folder")
        _, files, local = scan_class_folders(folder)
        labels = np.asarray([wnids.index(subfolders[i]) for i in local], dtype=np.int64)
        return FileImageDataset("imagenet", files, labels, wnids, str(folder), mode, transform)
    candidates = [Path(labels_file)] if labels_file else [d / n for d in (folder, folder.parent)
                                                           for n in VAL_LABEL_FILES]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise DatasetLayoutError(f"{folder}: flat val images need a labels file; looked for "
                                 f"{', '.join(map(str, candidates))} (or pass val_labels=PATH)")
    table = read_val_labels(found, wnids)
    files = image_files(folder)
    unlabelled = [f for f in files if f.stem not in table]
    if unlabelled:
        raise DatasetLayoutError(f"{unlabelled[0]}: no line for it in {found} ({len(unlabelled)} images unlabelled)")
    pairs = [table[f.stem] for f in files]
    return FileImageDataset("imagenet", files, [p[0] for p in pairs], wnids, str(folder), mode, transform,
                            [p[1] for p in pairs])


@register("imagenet", splits=("train", "val"), aliases=("ilsvrc2012",),
          looks_for=tuple(f"{f}/train" for f in IMAGENET_FOLDERS), published=ILSVRC_PUBLISHED,
          description="ImageNet ILSVRC2012: 1,000 classes, 1,281,167 / 50,000; val as class folders or flat with a "
                      "labels file; lazy")
def load_imagenet(split="train", root=None, download=True, mode="RGB", transform=None,
                  val_labels=None) -> FileImageDataset:
    """train/<wnid>/*.JPEG; val/<wnid>/*.JPEG or flat val/*.JPEG with a labels file (VAL_LABEL_FILES)."""
    folders = [base / sub for base in data_roots(root) for sub in IMAGENET_FOLDERS]
    found = next((f for f in folders if (f / "train").is_dir()), None)
    if found is None:
        raise dataset_not_found("imagenet", ["train/<wnid>/"], folders, ILSVRC_PUBLISHED)
    if split == "train":
        classes, files, labels = scan_class_folders(found / "train")
        return FileImageDataset("imagenet", files, labels, classes, str(found / "train"), mode, transform)
    wnids = sorted(d.name for d in (found / "train").iterdir() if d.is_dir())
    if not (found / "val").is_dir():
        raise DatasetLayoutError(f"imagenet: {found / 'val'} is missing (train found at {found / 'train'})")
    return _imagenet_val(found / "val", wnids, val_labels, mode, transform)
