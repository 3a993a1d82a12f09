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

from .arrays import NUMPY, ops_for


def max_normalise(values):
    """values / max(values); all zeros stay zeros (no class has a volume yet). numpy or a torch tensor (on its
    device, without reading the maximum back to the host)."""
    ops = ops_for(values)
    values = ops.asarray(values)
    if ops is not NUMPY and values.shape[0]:
        top = values.max()
        return values / ops.torch.where(top > 0, top, float("inf"))   # top <= 0: values / inf = zeros
    top = values.max() if values.shape[0] else 0.0
    return values / top if top > 0 else values * 0.0


def _augmented_rows(ops, points):
    return ops.hstack([points, (points * points).sum(1)[:, None], ops.full((len(points), 1), 1.0)])


def _augmented_columns(ops, points):
    return ops.hstack([-2.0 * points, ops.full((len(points), 1), 1.0), (points * points).sum(1)[:, None]]).T


def _distances(ops, augmented_rows, augmented_columns):
    """|a|^2 + |b|^2 - 2ab, clipped at 0, square-rooted: one matrix product of [a, |a|^2, 1] and [-2b, 1, |b|^2]
    does every term, so the only passes over the result are the clip and the root."""
    return ops.clip_sqrt_(augmented_rows @ augmented_columns)


def pairwise_distances(a, b):
    """Euclidean distances between rows of a and b in float64 (numpy, or torch on the tensors' device)."""
    ops = ops_for(a, b)
    a, b = ops.asarray(a), ops.asarray(b)
    return _distances(ops, _augmented_rows(ops, a), _augmented_columns(ops, b))


def distance_sums(rows, columns, row_signs=None, chunk: int | None = None, own_columns=None, column_weights=None):
    """Sums of the Euclidean distances D = pairwise_distances(rows, columns) without holding D: returns D.sum(1)
    (D @ column_weights with column_weights, e.g. a 0/1 mask of the columns that count) and row_signs @ D (None
    without row_signs).

    own_columns[i] = j says that row i and column j are the same point (a class and itself; -1: none): D[i, j] is
    then exactly 0. Computed, it would be the square root of the expansion's rounding error, about 1e-7 times
    the centres' norm, which differs between BLAS libraries and would cost the sums their last seven digits.

    numpy: D is built a chunk of rows at a time, chunks in parallel threads (at thousands of classes the square
    roots and passes over D cost as much as the matrix product). torch: one block on the tensors' device.
    """
    ops = ops_for(rows, columns, row_signs)
    rows, columns = ops.asarray(rows), ops.asarray(columns)
    chunk = chunk or ops.distance_chunk
    augmented_rows, augmented_columns = _augmented_rows(ops, rows), _augmented_columns(ops, columns)
    if ops is NUMPY:
        augmented_columns = np.ascontiguousarray(augmented_columns)
    if own_columns is not None:
        own_columns = ops.asarray(own_columns, np.int64)
        row_index = ops.arange(len(rows))
    if column_weights is not None:
        column_weights = ops.asarray(column_weights)

    def chunk_sums(start, stop):
        block = _distances(ops, augmented_rows[start:stop], augmented_columns)
        if own_columns is not None:  # multiply rather than select: no device sync
            own = own_columns[start:stop]
            local, column = row_index[:stop - start], own.clip(0, None)
            block[local, column] = block[local, column] * (own < 0)
        sums = block.sum(1) if column_weights is None else block @ column_weights
        return sums, None if row_signs is None else row_signs[start:stop] @ block

    parts = ops.map_chunks(chunk_sums, len(rows), chunk, min_parallel=2 * min(chunk, 1 << 20))
    row_sums = ops.cat([p[0] for p in parts]) if parts else ops.zeros(0)
    if row_signs is None:
        return row_sums, None
    change = ops.zeros(len(columns))
    for part in parts:
        change += part[1]
    return row_sums, change


def interference_from_sums(distance_sums):
    """W' from each class's summed distance to the other C-1 centres: the mean, max-normalised; one class: [1]."""
    ops = ops_for(distance_sums)
    distance_sums = ops.asarray(distance_sums)
    count = len(distance_sums)
    return ops.full(count, 1.0) if count < 2 else max_normalise(distance_sums / (count - 1))


def interference(centres: np.ndarray) -> np.ndarray:
    """W': each centre's mean Euclidean distance to the other C-1 centres, max-normalised. One class gives [1]."""
    centres = np.asarray(centres, dtype=np.float64)
    return interference_from_sums(distance_sums(centres, centres, own_columns=np.arange(len(centres)))[0])


def interference_weight(interference_normalised, alpha: float):
    """W = log2(alpha + W')."""
    if alpha < 1:
        raise ValueError(f"alpha: must be >= 1 (paper Sec. 3.4.1), got {alpha}")
    ops = ops_for(interference_normalised)
    return ops.log2(alpha + ops.asarray(interference_normalised))


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
    volumes = ops_for(volumes, distance_sums).asarray(volumes)
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
    own = np.arange(len(centres))
    return semantic_scales_from_sums(volumes, distance_sums(centres, centres, own_columns=own)[0], alpha)


def effective_number(counts, beta: float = 0.9999) -> np.ndarray:
    """E_n = (1 - beta^n)/(1 - beta); beta = 0 gives 1 for every class with a sample."""
    if not 0 <= beta < 1:
        raise ValueError(f"beta: must be in [0, 1), got {beta}")
    counts = np.asarray(counts, dtype=np.float64)
    return -np.expm1(counts * np.log(beta)) / (1.0 - beta) if beta > 0 else np.where(counts > 0, 1.0, 0.0)


SPLIT_NAMES = ("head", "middle", "tail")


MANY_SHOT, FEW_SHOT = 100, 20  # Table 2's bands: head > 100 training images, middle 20-100, tail < 20


def split_by_count(counts, many: int = MANY_SHOT, few: int = FEW_SHOT) -> np.ndarray:
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
