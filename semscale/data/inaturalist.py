"""iNaturalist-2018 from the official COCO-style train2018.json / val2018.json (paper Sec. 5, Table 2).

Each JSON holds `images` (id, file_name relative to the data folder, e.g. train_val2018/Plantae/7477/<hash>.jpg),
`annotations` (image_id, category_id) and `categories` (id, name, supercategory ...): 8,142 classes, 437,513
training and 24,426 val images (REPLICATION_NOTES section 7). Labels are the category ids in sorted order, so the
official ids 0..8141 are their own labels; class names are the categories' `name`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .base import DatasetLayoutError, FileImageDataset
from .listfiles import check_files_exist, dataset_not_found
from .paths import data_roots
from .registry import register

FOLDERS = ("iNaturalist18", "inaturalist2018", "iNat2018", "inat2018", "iNaturalist2018", "")
PUBLISHED = "github.com/visipedia/inat_comp/tree/master/2018 (train_val2018.tar.gz, train2018.json, val2018.json)"


def _json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise DatasetLayoutError(f"{path}:{error.lineno}: not valid JSON ({error.msg}); download the file again") \
            from None
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise DatasetLayoutError(f"{path}: no {', '.join(missing)} key(s); expected the official COCO-style file")
    return data


def read_inaturalist(path: Path):
    """(relative file names, labels, class names, supercategories, origins) of one official JSON file."""
    data = _json(path)
    categories = sorted(data["categories"], key=lambda c: c["id"])
    label_of = {c["id"]: i for i, c in enumerate(categories)}
    category_of = {}
    for number, annotation in enumerate(data["annotations"]):
        if annotation["category_id"] not in label_of:
            raise DatasetLayoutError(f"{path.name}: annotations[{number}] (image_id {annotation['image_id']}): "
                                     f"category_id {annotation['category_id']} is not among the "
                                     f"{len(categories)} categories; fix the annotation")
        category_of[annotation["image_id"]] = label_of[annotation["category_id"]]
    files, labels, origins = [], [], []
    for number, image in enumerate(data["images"]):
        if image["id"] not in category_of:
            raise DatasetLayoutError(f"{path.name}: images[{number}] ({image['file_name']}, id {image['id']}) has "
                                     "no annotation; is this the unlabelled test2018.json?")
        files.append(image["file_name"])
        labels.append(category_of[image["id"]])
        origins.append(f"{path.name}: images[{number}] (id {image['id']})")
    names = [str(c.get("name", c["id"])) for c in categories]
    supercategories = [str(c.get("supercategory", "")) for c in categories]
    return files, np.asarray(labels, dtype=np.int64), names, supercategories, origins


@register("inaturalist2018", splits=("train", "val"), aliases=("inat2018", "inaturalist-2018", "inat"),
          looks_for=tuple(f"{f}/train2018.json" if f else "train2018.json" for f in FOLDERS), published=PUBLISHED,
          description="iNaturalist 2018: 8,142 classes, 437,513 / 24,426 images, official COCO-style JSON; lazy")
def load_inaturalist2018(split="train", root=None, download=True, image_root=None, mode="RGB", transform=None,
                         verify=True) -> FileImageDataset:
    """{split}2018.json from a data root; images under image_root, else beside the JSON or one folder up."""
    folders = [base / sub if sub else base for base in data_roots(root) for sub in FOLDERS]
    found = next((f for f in folders if (f / "train2018.json").is_file()), None)
    if found is None:
        raise dataset_not_found("inaturalist2018", ["train2018.json"], folders, PUBLISHED,
                                layout="Expected train2018.json, val2018.json and train_val2018/ in one folder. ")
    path = found / f"{split}2018.json"
    if not path.is_file():
        raise DatasetLayoutError(f"inaturalist2018: {path} is missing (found {found / 'train2018.json'}); "
                                 f"download it from {PUBLISHED}")
    files, labels, names, supercategories, origins = read_inaturalist(path)
    roots = [Path(image_root)] if image_root else [found, found.parent]
    image_base = next((r for r in roots if (r / files[0]).is_file()), None) if files else found
    if image_base is None:
        raise DatasetLayoutError(f"{origins[0]}: image {files[0]} not found under {' or '.join(map(str, roots))};"
                                 " unpack train_val2018.tar.gz there or pass image_root=")
    paths = [image_base / f for f in files]
    dataset = FileImageDataset("inaturalist2018", paths, labels, names, str(image_base), mode, transform, origins,
                               {"supercategories": supercategories})
    return check_files_exist(dataset) if verify else dataset
