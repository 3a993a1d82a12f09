"""Named training sets used across experiments: '<dataset>', '<dataset>-lt' (exponential profile, seed 0),
'<dataset>-table7-lt1|lt2' (Table 7's counts, seed 0), '<dataset>-balanced<m>' (m per class, seed 0)."""
from __future__ import annotations

import re

from .data import TABLE7_COUNTS, load_dataset, long_tailed_indices, nested_subsets, subset_with_counts

SUBSET_SEED = 0


def named_set(spec: str, imbalance: float = 100, root=None):
    """(training set, alpha suggested by Sec. 3.4.1: 2 on long-tailed, 1 on balanced)."""
    match = re.fullmatch(r"(?P<base>[a-z0-9-]+?)(?:-(?P<kind>lt|table7-lt1|table7-lt2|balanced(?P<m>\d+)))?", spec)
    if not match:
        raise ValueError(f"set {spec!r}: expected <dataset>[-lt|-table7-lt1|-table7-lt2|-balanced<m>]")
    base = load_dataset(match["base"], "train", root=root)
    kind = match["kind"]
    if kind is None:
        return base, 1.0
    if kind == "lt":
        kept = long_tailed_indices(base.labels, imbalance, seed=SUBSET_SEED)
        return base.subset(kept, name=f"{base.name}-lt{imbalance:g}"), 2.0
    if kind.startswith("table7"):
        kept = subset_with_counts(base.labels, TABLE7_COUNTS[kind[-3:]], seed=SUBSET_SEED)
        return base.subset(kept, name=f"{base.name}-{kind}"), 2.0
    m = int(match["m"])
    return base.subset(nested_subsets(base.labels, [m], SUBSET_SEED)[m], name=f"{base.name}-balanced{m}"), 1.0
