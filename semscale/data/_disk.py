"""Helpers the file-list loaders share: find a dataset's folder, read its text lists line by line, relabel.

Every error names the file and line at fault (DatasetLayoutError) or, when nothing is found, the files looked for,
where, and where the dataset is published (DatasetNotFound, built from the dataset's registry entry).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DatasetLayoutError, DatasetNotFound
from .paths import data_roots


def locate(name: str, root=None) -> tuple[Path, str]:
    """(data root, marker) of the first registered `looks_for` marker present, else DatasetNotFound.

    The markers and the publisher come from the dataset's registry entry, so `semscale datasets` and this error
    always say the same thing.
    """
    from .registry import spec

    entry = spec(name)
    bases = [*data_roots(root), *map(Path, entry.extra_places)]
    for base in bases:
        for marker in entry.looks_for:
            if (base / marker).exists():
                return base, marker
    raise not_found(name, root)


def not_found(name: str, root=None) -> DatasetNotFound:
    from .registry import spec

    entry = spec(name)
    bases = [*data_roots(root), *map(Path, entry.extra_places)]
    looked = "\n  ".join(str(b) for b in bases)
    wanted = "\n  ".join(entry.looks_for)
    return DatasetNotFound(
        f"dataset {entry.name!r} not found: looked for any of\n  {wanted}\nunder each of\n  {looked}\n"
        f"It is published at {entry.published} (it cannot be downloaded automatically); unpack it under one of "
        "those folders, or point --data-dir / SEMSCALE_DATA at the folder holding it.")


def require(folder: Path, names, dataset: str) -> list[Path]:
    """The files `names` inside `folder`; a DatasetLayoutError naming every missing one."""
    paths = [Path(folder) / n for n in names]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise DatasetLayoutError(f"{dataset}: {folder} is incomplete, missing " + ", ".join(missing)
                                 + "; re-extract the dataset's archive there")
    return paths


def read_rows(path: Path, fields: int, sep: str | None = None, header: bool = False, dataset: str = ""):
    """[(line number, fields)] of a text list, blank lines skipped; at least `fields` fields a line.

    sep None splits on whitespace but keeps the last field whole when `fields` is reached (file names with
    spaces), so "12 001.Black footed" reads as ["12", "001.Black footed"] with fields=2.
    """
    rows = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if header and number == 1:
                continue
            text = line.strip()
            if not text:
                continue
            parts = text.split(sep, fields - 1) if sep is None else [p.strip() for p in text.split(sep)]
            if len(parts) < fields:
                raise DatasetLayoutError(f"{dataset}: {path}:{number}: expected {fields} fields, got "
                                         f"{len(parts)} in {text!r}; fix or delete the line")
            rows.append((number, parts))
    return rows


def as_int(value: str, path: Path, number: int, what: str, dataset: str = "") -> int:
    try:
        return int(value)
    except ValueError:
        raise DatasetLayoutError(f"{dataset}: {path}:{number}: {what} {value!r} is not an integer; fix the "
                                 "line") from None


def check_ids(ids, low: int, high: int, path: Path, numbers, what: str, dataset: str = "") -> None:
    """DatasetLayoutError at the first id outside low..high, naming its file:line (numbers: the line of each id,
    or a function computing them, called only when an id is bad)."""
    ids = np.asarray(ids)
    bad = np.flatnonzero((ids < low) | (ids > high))
    if len(bad):
        first = int(bad[0])
        numbers = numbers() if callable(numbers) else numbers
        raise DatasetLayoutError(f"{dataset}: {path}:{numbers[first]}: {what} {int(ids[first])} is outside "
                                 f"{low}..{high}; fix the line or the class list")


def relabel(dataset, indices, new_labels, classes, name: str):
    """The samples at `indices` with labels `new_labels` and class names `classes` (a metric split, a subset of
    classes): same kind of dataset, same transform; the original label is kept as extras['original_label']."""
    twin = dataset.subset(indices, name=name)
    twin.extras = dict(twin.extras)
    twin.extras["original_label"] = np.asarray(twin.labels, dtype=np.int64)
    twin.labels = np.asarray(new_labels, dtype=np.int64)
    twin.classes = list(classes)
    return twin


def ratio_split(labels, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) sorted indices: in every class round(train_fraction * n_c) random samples train, the rest
    test (seeded); the official ratios hold exactly in every class."""
    from .builders import subset_with_counts

    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels)
    train = subset_with_counts(labels, [int(np.floor(train_fraction * n + 0.5)) for n in counts], seed)
    test = np.setdiff1d(np.arange(len(labels)), train)
    return train, test
