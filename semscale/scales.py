"""From class volumes to semantic scales (paper Sec. 3.4.1, App. H.1) and the count-based baselines.

    S'  = Vol / max Vol                               (semantic scale, max-normalised)
    W'_i = 1/(C-1) sum_j ||o_i - o_j||_2, max-normalised  (inter-class interference, o = class centres)
    W   = log2(alpha + W'),  alpha >= 1
    S   = S' * W
    E_n = (1 - beta^n) / (1 - beta)                   (effective number, Cui et al. 2019)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .parallel import map_chunks


def max_normalise(values: np.ndarray) -> np.ndarray:
    """values / max(values); all zeros stay zeros (no class has a volume yet)."""
    values = np.asarray(values, dtype=np.float64)
    top = values.max() if values.size else 0.0
    return values / top if top > 0 else np.zeros_like(values)


def _augmented_rows(points: np.ndarray) -> np.ndarray:
    return np.hstack([points, (points * points).sum(1)[:, None], np.ones((len(points), 1))])


def _augmented_columns(points: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.hstack([-2.0 * points, np.ones((len(points), 1)),
                                           (points * points).sum(1)[:, None]]).T)


def _distances(augmented_rows: np.ndarray, augmented_columns: np.ndarray) -> np.ndarray:
    """|a|^2 + |b|^2 - 2ab, clipped at 0, square-rooted: one matrix product of [a, |a|^2, 1] and [-2b, 1, |b|^2]
    does every term, so the only passes over the result are the clip and the root."""
    out = augmented_rows @ augmented_columns
    np.maximum(out, 0.0, out=out)
    return np.sqrt(out, out=out)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows of a and b in float64."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return _distances(_augmented_rows(a), _augmented_columns(b))


def distance_sums(rows: np.ndarray, columns: np.ndarray, row_signs=None, chunk: int = 128):
    """Sums of the Euclidean distances D = pairwise_distances(rows, columns) without holding D: returns D.sum(1)
    and row_signs @ D (None without row_signs).

    D is built a chunk of rows at a time, chunks in parallel threads: at thousands of classes the square roots and
    passes over D cost as much as the matrix product.
    """
    rows, columns = np.asarray(rows, dtype=np.float64), np.asarray(columns, dtype=np.float64)
    augmented_rows, augmented_columns = _augmented_rows(rows), _augmented_columns(columns)

    def chunk_sums(start, stop):
        block = _distances(augmented_rows[start:stop], augmented_columns)
        return block.sum(1), None if row_signs is None else row_signs[start:stop] @ block

    parts = map_chunks(chunk_sums, len(rows), chunk, min_parallel=2 * chunk)
    row_sums = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    if row_signs is None:
        return row_sums, None
    return row_sums, np.sum([p[1] for p in parts], axis=0) if parts else np.zeros(len(columns))


def interference_from_sums(distance_sums) -> np.ndarray:
    """W' from each class's summed distance to the other C-1 centres: the mean, max-normalised; one class: [1]."""
    distance_sums = np.asarray(distance_sums, dtype=np.float64)
    count = len(distance_sums)
    return np.ones(count) if count < 2 else max_normalise(distance_sums / (count - 1))


def interference(centres: np.ndarray) -> np.ndarray:
    """W': each centre's mean Euclidean distance to the other C-1 centres, max-normalised. One class gives [1]."""
    centres = np.asarray(centres, dtype=np.float64)
    return interference_from_sums(distance_sums(centres, centres)[0])


def interference_weight(interference_normalised: np.ndarray, alpha: float) -> np.ndarray:
    """W = log2(alpha + W')."""
    if alpha < 1:
        raise ValueError(f"alpha: must be >= 1 (paper Sec. 3.4.1), got {alpha}")
    return np.log2(alpha + np.asarray(interference_normalised, dtype=np.float64))


@dataclass
class SemanticScales:
    """Per-class S', W', W and S (arrays of length C) and the alpha used."""

    volume: np.ndarray
    s_prime: np.ndarray
    w_prime: np.ndarray
    w: np.ndarray
    s: np.ndarray
    alpha: float


def semantic_scales_from_sums(volumes, distance_sums, alpha: float = 1.0) -> SemanticScales:
    """S' = max-normalised volumes, W from the summed centre distances, S = S' * W (the one place of the formula)."""
    volumes = np.asarray(volumes, dtype=np.float64)
    if len(volumes) != len(distance_sums):
        raise ValueError(f"volumes ({len(volumes)}) and distance sums ({len(distance_sums)}) must have one entry "
                         "per class")
    s_prime = max_normalise(volumes)
    w_prime = interference_from_sums(distance_sums)
    w = interference_weight(w_prime, alpha)
    return SemanticScales(volumes, s_prime, w_prime, w, s_prime * w, float(alpha))


def semantic_scales(volumes, centres, alpha: float = 1.0) -> SemanticScales:
    """S' = max-normalised volumes, W from the class centres, S = S' * W."""
    centres = np.asarray(centres, dtype=np.float64)
    if len(volumes) != len(centres):
        raise ValueError(f"volumes ({len(volumes)}) and centres ({len(centres)}) must have one row per class")
    return semantic_scales_from_sums(volumes, distance_sums(centres, centres)[0], alpha)


def effective_number(counts, beta: float = 0.9999) -> np.ndarray:
    """E_n = (1 - beta^n)/(1 - beta); beta = 0 gives 1 for every class with a sample."""
    if not 0 <= beta < 1:
        raise ValueError(f"beta: must be in [0, 1), got {beta}")
    counts = np.asarray(counts, dtype=np.float64)
    return -np.expm1(counts * np.log(beta)) / (1.0 - beta) if beta > 0 else np.where(counts > 0, 1.0, 0.0)


SPLIT_NAMES = ("head", "middle", "tail")


def split_by_count(counts, many: int = 100, few: int = 20) -> np.ndarray:
    """Head (> many), middle (few..many), tail (< few) training images, as in Table 2; returns names per class."""
    counts = np.asarray(counts)
    return np.where(counts > many, "head", np.where(counts >= few, "middle", "tail"))


def split_terciles(values) -> np.ndarray:
    """Thirds by value: the largest third head, the smallest third tail; ties by class index, and when C is not
    a multiple of 3 the tail takes the extra class (App. H.4 splits ImageNet by scale into 333/333/334)."""
    values = np.asarray(values, dtype=np.float64)
    ascending = np.lexsort((np.arange(len(values)), values))
    names = np.empty(len(values), dtype=object)
    for name, members in zip(("tail", "middle", "head"), np.array_split(ascending, 3)):
        names[members] = name
    return names.astype(str)


def split_by_scale(scales) -> np.ndarray:
    """Head/middle/tail by semantic scale (App. H.4): terciles of S."""
    return split_terciles(scales)
