"""List files of `relative/path label` lines (the OLTR release's ImageNet-LT / Places-LT lists) as datasets.

Repositories disagree on where the listed test images live (`val/<wnid>/name.JPEG` in classifier-balancing, PaCo,
BALMS; flat `val/name.JPEG` in TDE and LADE; REPLICATION_NOTES section 7), so paths go through a prefix map:
{old prefix: new prefix}, where `*` in an old prefix matches one path component and `{class}` in a new prefix is
the class name of the line's label. "auto" tries the list as written, then the flat and the nested variant.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .base import CorruptImage, DatasetLayoutError, DatasetNotFound, FileImageDataset

FLATTEN_VAL = {"val/*/": "val/"}           # list says val/<wnid>/x.JPEG, disk holds val/x.JPEG
NEST_VAL = {"val/": "val/{class}/"}        # list says val/x.JPEG, disk holds val/<wnid>/x.JPEG
AUTO_MAPS = (None, FLATTEN_VAL, NEST_VAL)


def dataset_not_found(name: str, files, folders, published: str, layout: str = "") -> DatasetNotFound:
    """The one message for a dataset absent from disk: the files looked for, where, and where it is published."""
    looked = "\n  ".join(str(f) for f in folders)
    return DatasetNotFound(
        f"dataset {name!r} not found: looked for {' or '.join(map(str, files))} in:\n  {looked}\n"
        f"It is published at {published}; semscale cannot download it. {layout}Put it under one of those folders, "
        "or point --data-dir / SEMSCALE_DATA at the folder holding it.")


def read_list(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """(relative paths, labels, origins 'file:line') of a `relative/path label` list; blank lines are skipped."""
    paths, labels, origins = [], [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            parts = line.strip().rsplit(maxsplit=1)   # split at the last blank: paths may contain spaces
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise DatasetLayoutError(f"{path}:{number}: expected 'relative/path label', got {line.strip()!r}")
            paths.append(parts[0].lstrip("/"))
            labels.append(int(parts[1]))
            origins.append(f"{path.name}:{number}")
    if not paths:
        raise DatasetLayoutError(f"{path}: no 'relative/path label' lines")
    return paths, np.asarray(labels, dtype=np.int64), origins


def class_name_of(relative: str) -> str:
    """The class folder of a training path: data_256/a/airfield/1.jpg -> airfield, train/n014/x.JPEG -> n014
    (the top folder and a single-letter index folder dropped; nested Places categories keep their parts)."""
    parts = relative.split("/")[1:-1]
    if len(parts) > 1 and len(parts[0]) == 1:
        parts = parts[1:]
    return "/".join(parts) or relative.split("/")[0]


def class_names(paths, labels, origins, num_classes: int) -> list[str]:
    """Name of each label from the folders of its training images; two folders for one label is an error."""
    names: dict[int, tuple[str, str]] = {}
    for relative, label, origin in zip(paths, labels.tolist(), origins):
        name = class_name_of(relative)
        seen = names.setdefault(label, (name, origin))
        if seen[0] != name:
            raise DatasetLayoutError(f"{origin}: label {label} is folder {name!r} here but {seen[0]!r} at "
                                     f"{seen[1]}; one label must keep one class folder")
    return [names.get(c, (str(c), ""))[0] for c in range(num_classes)]


def remap(relative: str, prefix_map: dict | None, class_name: str) -> str:
    """Apply the first matching entry of a prefix map (see the module docstring)."""
    for old, new in (prefix_map or {}).items():
        pattern, parts = old.split("/"), relative.split("/")
        pattern = pattern[:-1] if pattern[-1] == "" else pattern
        if len(parts) > len(pattern) and all(p == "*" or p == q for p, q in zip(pattern, parts)):
            return new.replace("{class}", class_name).rstrip("/") + "/" + "/".join(parts[len(pattern):])
    return relative


def locate_images(paths, labels, classes, image_roots, prefix_map, list_path: Path):
    """(image root, prefix map) under which the first listed image exists; an error naming the line otherwise."""
    maps = AUTO_MAPS if prefix_map == "auto" else (prefix_map,)
    first_name = classes[labels[0]] if labels[0] < len(classes) else str(labels[0])
    for root in image_roots:
        for candidate in maps:
            if (Path(root) / remap(paths[0], candidate, first_name)).is_file():
                if candidate is not None and prefix_map == "auto":
                    print(f"semscale: {list_path.name}: images found under {root} with paths remapped by "
                          f"{candidate} (pass prefix_map to choose)", file=sys.stderr)
                return Path(root), candidate
    tried = "\n  ".join(str(r) for r in image_roots)
    raise DatasetLayoutError(f"{list_path}:1: image {paths[0]} not found under any of:\n  {tried}\n(tried as listed"
                             f"{', flat and nested val/ paths' if prefix_map == 'auto' else ''}); put the images "
                             "there or pass image_root= / prefix_map=")


def list_dataset(name: str, list_path: Path, classes, image_roots, prefix_map="auto", mode: str = "RGB",
                 transform=None, verify: bool = True) -> FileImageDataset:
    """A list file as a lazy FileImageDataset; verify: every listed file must exist (one stat each, no decoding)."""
    paths, labels, origins = read_list(list_path)
    root, mapping = locate_images(paths, labels, classes, image_roots, prefix_map, list_path)
    names = [classes[c] if 0 <= c < len(classes) else str(c) for c in labels.tolist()]
    files = [os.path.join(root, remap(p, mapping, n)) for p, n in zip(paths, names)]
    dataset = FileImageDataset(name, files, labels, classes, str(root), mode, transform, origins)
    return check_files_exist(dataset) if verify else dataset


def check_files_exist(dataset: FileImageDataset) -> FileImageDataset:
    """The dataset itself if every file exists (one stat each, no decoding); else one error naming the first missing
    file and the line that listed it, so a long measurement does not die hours in."""
    missing = [i for i, f in enumerate(dataset.paths) if not os.path.isfile(f)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CorruptImage(f"{dataset.name}: image file missing: {dataset.where(missing[0])}{more}; restore the "
                           "files or remove their lines")
    return dataset
