"""Datasets registered by name: `load_dataset("imagenet-lt", "train")`, and what each looks for where.

A family module (one file per dataset family in this package) registers its loaders with `@register(...)`;
every module of the package is imported on the first lookup, so adding a family needs no edit here.

A loader is called as loader(split=..., root=..., download=..., **options) and returns a LabelledDataset
(semscale.data.base). `looks_for` lists paths relative to a data root (any one marks the dataset as present);
`semscale datasets` prints them with the roots searched and whether each was found.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .paths import data_roots


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: Callable
    splits: tuple
    looks_for: tuple                 # relative paths under a data root; any one marks the dataset as present
    published: str                   # where a user gets the files
    description: str = ""
    aliases: tuple = ()
    extra_places: tuple = field(default=())   # absolute folders searched besides the data roots (Debian's, ...)

    def found(self, root=None) -> Path | None:
        """The first data root (or extra place) holding one of `looks_for`, else None."""
        for base in [*data_roots(root), *map(Path, self.extra_places)]:
            for relative in self.looks_for:
                if (base / relative).exists():
                    return base / relative
        return None


REGISTRY: dict[str, DatasetSpec] = {}
_ALIASES: dict[str, str] = {}
_discovered = False


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


def register(name: str, *, splits, looks_for, published: str, description: str = "", aliases=(),
             extra_places=()):
    """Decorator: register `loader` under `name` (and aliases)."""
    def decorate(loader):
        key = _key(name)
        if key in REGISTRY and REGISTRY[key].loader is not loader:
            raise ValueError(f"dataset {name!r} registered twice")
        REGISTRY[key] = DatasetSpec(key, loader, tuple(splits), tuple(looks_for), published, description,
                                    tuple(aliases), tuple(str(p) for p in extra_places))
        for alias in aliases:
            _ALIASES[_key(alias)] = key
        return loader
    return decorate


def discover() -> dict[str, DatasetSpec]:
    """Import every module of semscale.data once, so that each registers its datasets."""
    global _discovered
    if not _discovered:
        package = importlib.import_module(__package__)
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{__package__}.{module.name}")
        _discovered = True
    return REGISTRY


def spec(name: str) -> DatasetSpec:
    discover()
    key = _ALIASES.get(_key(name), _key(name))
    if key not in REGISTRY:
        raise ValueError(f"dataset {name!r}: not one of {sorted(REGISTRY)} (semscale datasets lists them) and not a "
                         "folder of images")
    return REGISTRY[key]


def load_dataset(name: str, split: str = "train", root=None, download: bool = True, **options):
    """A registered dataset by name, or a folder of images in ImageFolder layout (path/<class>/<image>)."""
    discover()
    key = _ALIASES.get(_key(name), _key(name))
    if key not in REGISTRY and Path(name).is_dir():
        from .datasets import load_image_folder

        return load_image_folder(name, **options)
    entry = spec(name)
    if split not in entry.splits:
        raise ValueError(f"dataset {entry.name!r}: split {split!r} is not one of {list(entry.splits)}")
    return entry.loader(split=split, root=root, download=download, **options)


def dataset_status(root=None) -> list[dict]:
    """One row per registered dataset: name, splits, files looked for, the roots searched, where found."""
    roots = [str(r) for r in data_roots(root)]
    rows = []
    for key in sorted(discover()):
        entry = REGISTRY[key]
        found = entry.found(root)
        rows.append({"name": key, "splits": ", ".join(entry.splits), "looks for": " or ".join(entry.looks_for),
                     "searched": ", ".join(roots + list(entry.extra_places)), "found": str(found) if found else "",
                     "published": entry.published, "description": entry.description})
    return rows
