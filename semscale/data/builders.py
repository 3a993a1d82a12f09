"""Training-set builders: long-tailed profiles, Table 7's fixed counts, Table 6's nested subsets, class subsets.

Every builder is seeded and returns the indices it keeps, so a result can record exactly which samples it used.
"""
from __future__ import annotations

import numpy as np

from ..validation import check_labels

# Paper App. D.3, Table 7: samples per class 0..9 of MNIST-LT-1 and MNIST-LT-2.
TABLE7_COUNTS = {
    "lt1": (5923, 3590, 2940, 2518, 2256, 1972, 1700, 1300, 1100, 900),
    "lt2": (5923, 3090, 2540, 1818, 1356, 972, 484, 272, 122, 74),
}


def long_tailed_counts(n_max: int, imbalance: float, num_classes: int) -> list[int]:
    """Exponential profile n_i = floor(n_max * imbalance^(-i / (C - 1))), i = 0..C-1 (App. D.5, Fig. 8)."""
    if imbalance < 1:
        raise ValueError(f"imbalance: the factor n_max / n_min must be >= 1, got {imbalance}")
    if num_classes < 2:
        return [int(n_max)] * num_classes
    return [int(n_max * imbalance ** (-i / (num_classes - 1))) for i in range(num_classes)]


def subset_with_counts(labels, counts, seed: int) -> np.ndarray:
    """Sorted indices keeping counts[c] random samples of class c (seeded, without replacement)."""
    labels = check_labels(labels)
    rng = np.random.default_rng(seed)
    kept = []
    for c, want in enumerate(counts):
        members = np.flatnonzero(labels == c)
        if want > len(members):
            raise ValueError(f"class {c}: {want} samples asked for, only {len(members)} available")
        kept.append(rng.choice(members, size=int(want), replace=False))
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


def long_tailed_indices(labels, imbalance: float, seed: int, n_max: int | None = None) -> np.ndarray:
    """Indices of a long-tailed subset: class 0 keeps n_max (default: its size), class C-1 n_max / imbalance."""
    labels = check_labels(labels)
    num_classes = int(labels.max()) + 1
    if n_max is None:
        n_max = int(np.bincount(labels).min())
    return subset_with_counts(labels, long_tailed_counts(n_max, imbalance, num_classes), seed)


def nested_subsets(labels, sizes, seed: int) -> dict[int, np.ndarray]:
    """Table 6 / App. J: for each m in sizes, m samples per class; a larger m adds samples to the smaller one's."""
    labels = check_labels(labels)
    rng = np.random.default_rng(seed)
    num_classes = int(labels.max()) + 1
    orders = [rng.permutation(np.flatnonzero(labels == c)) for c in range(num_classes)]
    smallest = min(len(order) for order in orders)
    result = {}
    for m in sorted(sizes):
        if m > smallest:
            raise ValueError(f"sizes: {m} samples per class asked for, the smallest class has {smallest}")
        result[int(m)] = np.sort(np.concatenate([order[:m] for order in orders]))
    return result


def class_subset(labels, classes) -> tuple[np.ndarray, np.ndarray]:
    """(indices, new labels) keeping only `classes`, relabelled 0..k-1 in the order given."""
    labels = check_labels(labels)
    classes = list(classes)
    lookup = np.full(int(labels.max()) + 1, -1)
    lookup[classes] = np.arange(len(classes))
    indices = np.flatnonzero(np.isin(labels, classes))
    return indices, lookup[labels[indices]]
