"""Where semscale looks for data and keeps its cache.

SEMSCALE_DATA: a folder of datasets (a user's own, searched first after an explicit root).
SEMSCALE_CACHE: converted arrays (point clouds) and downloads; default ~/.cache/semscale.
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("SEMSCALE_CACHE", Path.home() / ".cache" / "semscale"))


def data_roots(root=None) -> list[Path]:
    """Folders searched for datasets, most specific first."""
    roots = []
    if root is not None:
        roots.append(Path(root))
    if os.environ.get("SEMSCALE_DATA"):
        roots.append(Path(os.environ["SEMSCALE_DATA"]))
    roots.append(cache_dir() / "data")
    return roots


def download_root(root=None) -> Path:
    """Where a download lands: the explicit root, else SEMSCALE_DATA, else the cache."""
    return data_roots(root)[0]
