"""Semantic scale as a data tool (paper App. I): "pizza" selection and the data-collection stopping rule."""
from __future__ import annotations

import numpy as np

from .volume import volume


def pizza_subset(vectors: np.ndarray, size: int, candidates: int, rng: np.random.Generator) -> np.ndarray:
    """App. I.1: draw `candidates` random subsets of `size` rows and keep the one with the largest volume."""
    if size > len(vectors):
        raise ValueError(f"size: {size} asked for, only {len(vectors)} samples")
    draws = [rng.choice(len(vectors), size=size, replace=False) for _ in range(candidates)]
    return max(draws, key=lambda rows: volume(vectors[rows]))


def collection_curve(vectors: np.ndarray, step: int, threshold: float) -> tuple[list, list, int | None]:
    """App. I.2: volumes after each collection of `step` more samples (in the given order), and the first n at
    which (S_n - S_{n-1}) / S_n < threshold (None if never)."""
    sizes, values, stop = [], [], None
    for n in range(step, len(vectors) + 1, step):
        sizes.append(n)
        values.append(volume(vectors[:n]))
        if stop is None and len(values) > 1 and values[-1] > 0 and (values[-1] - values[-2]) / values[-1] < threshold:
            stop = n
    return sizes, values, stop
