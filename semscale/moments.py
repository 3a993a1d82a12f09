"""Exact, mergeable per-class moments (count, mean, centred scatter) in float64.

They give every class's volume (Eq. 3) and centre without keeping the samples, so a dataset larger than memory is
measured in one pass, partial results from shards or ranks combine exactly, and a first-in first-out pool can add
its newest batch and subtract its oldest (Chan et al.'s pairwise update, run forwards or backwards).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .parallel import map_chunks
from .validation import check_features, check_labels
from .volume import resolve_scale, volume_from_scatter


@dataclass
class GroupMoments:
    """Moments of the samples of some classes: `classes` (k,), `counts` (k,), `means` (k, d), `scatters` (k, d, d)."""

    classes: np.ndarray
    counts: np.ndarray
    means: np.ndarray
    scatters: np.ndarray


def group_moments(features, labels) -> GroupMoments:
    """Moments of each class present in one batch, from a single sort; centred before the products."""
    features = check_features(features).astype(np.float64, copy=False)
    labels = check_labels(labels, num_samples=len(features))
    dim = features.shape[1]
    if len(labels) == 0:
        return GroupMoments(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, dim)), np.zeros((0, dim, dim)))
    order = np.argsort(labels, kind="stable")
    ordered_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, ordered_labels[1:] != ordered_labels[:-1]])
    bounds = np.r_[starts, len(labels)]
    classes, counts = ordered_labels[starts], np.diff(bounds).astype(np.float64)
    ordered = features[order]
    means = np.add.reduceat(ordered, starts, axis=0) / counts[:, None]
    ordered -= np.repeat(means, np.diff(bounds), axis=0)
    # One small product per class: cheaper than materialising per-sample outer products, even for hundreds of
    # classes in a batch.
    scatters = np.stack([ordered[a:b].T @ ordered[a:b] for a, b in zip(bounds[:-1], bounds[1:])])
    return GroupMoments(classes, counts, means, scatters)


@dataclass
class Exchange:
    """What ClassMoments.exchange changed: `classes` (k,) with their `counts`, `means` and `volumes` after the
    exchange, and their `counts_before` and `means_before`."""

    classes: np.ndarray
    counts: np.ndarray
    means: np.ndarray
    volumes: np.ndarray
    counts_before: np.ndarray
    means_before: np.ndarray


EXCHANGE_CHUNK = 32  # classes per chunk: their 64 x 64 float64 scatters (1 MiB) and temporaries stay in L2


class ClassMoments:
    """Running moments for classes 0..C-1 in dimension d."""

    def __init__(self, num_classes: int, dim: int):
        if num_classes < 1 or dim < 1:
            raise ValueError(f"num_classes and dim must be positive, got {num_classes} and {dim}")
        self.num_classes, self.dim = int(num_classes), int(dim)
        self.counts = np.zeros(num_classes)
        self.means = np.zeros((num_classes, dim))
        self.scatters = np.zeros((num_classes, dim, dim))

    @classmethod
    def from_data(cls, features, labels, num_classes: int | None = None) -> "ClassMoments":
        features = check_features(features)
        labels = check_labels(labels, num_samples=len(features), num_classes=num_classes)
        moments = cls(num_classes or int(labels.max()) + 1, features.shape[1])
        moments.add(features, labels)
        return moments

    def _check_group(self, group: GroupMoments) -> None:
        if group.means.shape[1:] != (self.dim,):
            raise ValueError(f"features: dimension {group.means.shape[1]} does not match the moments' {self.dim}")
        if len(group.classes) and group.classes.max() >= self.num_classes:
            raise ValueError(f"labels: label {int(group.classes.max())} is out of range for "
                             f"num_classes={self.num_classes}")

    def add(self, features, labels) -> np.ndarray:
        """Add samples; returns the classes whose moments changed."""
        return self.add_group(group_moments(features, labels))

    def remove(self, features, labels) -> np.ndarray:
        """Remove samples that were added before; returns the classes whose moments changed."""
        return self.remove_group(group_moments(features, labels))

    def add_group(self, group: GroupMoments) -> np.ndarray:
        self._check_group(group)
        c = group.classes
        n_a, n_b = self.counts[c], group.counts
        total = n_a + n_b
        delta = group.means - self.means[c]
        self.means[c] += delta * (n_b / total)[:, None]
        update = np.einsum("k,ki,kj->kij", n_a * n_b / total, delta, delta)
        update += group.scatters
        self.scatters[c] += update
        self.counts[c] = total
        return c

    def remove_group(self, group: GroupMoments) -> np.ndarray:
        self._check_group(group)
        c = group.classes
        total, n_b = self.counts[c], group.counts
        if np.any(n_b > total):
            bad = int(c[np.argmax(n_b > total)])
            raise ValueError(f"class {bad}: removing more samples than the moments hold")
        n_a = total - n_b
        emptied = n_a == 0
        safe = np.where(emptied, 1.0, n_a)
        mean_a = (self.means[c] * total[:, None] - group.means * n_b[:, None]) / safe[:, None]
        delta = group.means - mean_a
        scatter_a = self.scatters[c]
        scatter_a -= group.scatters
        scatter_a -= np.einsum("k,ki,kj->kij", n_a * n_b / total, delta, delta)
        # Zero or one sample left has zero scatter exactly; do not leave rounding residue there.
        scatter_a[n_a <= 1] = 0.0
        mean_a[emptied] = 0.0
        self.means[c] = mean_a
        self.scatters[c] = scatter_a
        self.counts[c] = n_a
        return c

    def exchange(self, added, added_labels, removed, removed_labels, scale: float | None = None) -> Exchange:
        """Add some samples and remove others (held before) in one pass; returns the changed classes with their
        counts, means and volumes (Eq. 3, with `scale` as s) after, and their counts and means before. Inputs are
        validated float64 features and int64 labels (a feature pool's batches).

        Each class's rows are centred on its current mean p (rows that enter an empty class: on their first row), so
        with signs +1 (added) and -1 (removed), u = sum s (z - p), G = sum s (z - p)(z - p)^T and n' = n + sum s:
            mean' = p + u / n',   scatter' = scatter + G - u u^T / n'
        (the old rows contribute no first moment about their own mean). The same algebra as add_group followed by
        remove_group, with one sort and one product per class instead of two. Each chunk of classes is updated and
        its volumes taken while its scatters are still in cache: at a thousand classes a step, passes over the
        64 x 64 matrices in memory cost more than their arithmetic.
        """
        scale = resolve_scale(scale, self.dim)
        features = np.concatenate([added, removed])
        labels = np.concatenate([added_labels, removed_labels])
        signs = np.concatenate([np.ones(len(added_labels)), -np.ones(len(removed_labels))])
        if len(labels) and labels.max() >= self.num_classes:
            raise ValueError(f"labels: label {int(labels.max())} is out of range for num_classes={self.num_classes}")
        if len(labels) == 0:
            nothing = np.zeros(0)
            return Exchange(labels, nothing, np.zeros((0, self.dim)), nothing, nothing, np.zeros((0, self.dim)))
        order = np.argsort(labels, kind="stable")
        ordered_labels = labels[order]
        starts = np.flatnonzero(np.r_[True, ordered_labels[1:] != ordered_labels[:-1]])
        sizes = np.diff(np.r_[starts, len(labels)])
        classes = ordered_labels[starts]
        ordered_signs = signs[order]
        counts_before, means_before = self.counts[classes], self.means[classes]
        counts = counts_before + np.add.reduceat(ordered_signs, starts)
        if np.any(counts < 0):
            bad = int(classes[np.argmax(counts < 0)])
            raise ValueError(f"class {bad}: removing more samples than the moments hold")
        ordered = features[order]
        pivots = np.where((counts_before > 0)[:, None], means_before, ordered[starts])
        ordered -= np.repeat(pivots, sizes, axis=0)
        signed = ordered * ordered_signs[:, None]
        first_moments = np.add.reduceat(signed, starts, axis=0)
        safe = np.where(counts > 0, counts, 1.0)

        # Classes with one row this step come first (most classes at thousands of classes), so every chunk holds
        # one run of them and one run of the rest, updated as contiguous slices rather than through index lists.
        process = np.argsort(sizes > 1, kind="stable")
        num_single = int(np.sum(sizes == 1))

        def update_chunk(first: int, stop: int) -> np.ndarray:
            # Distinct rows of self.scatters, so chunks can run in threads.
            chunk = process[first:stop]
            block = self.scatters[classes[chunk]]
            local_starts, local_sizes, local_safe = starts[chunk], sizes[chunk], safe[chunk]
            singles = slice(0, max(0, min(num_single, stop) - first))
            several = slice(singles.stop, len(chunk))
            # One row: G - u u^T / n' = (s - 1/n') z z^T.
            rows = ordered[local_starts[singles]]
            coefficient = ordered_signs[local_starts[singles]] - 1.0 / local_safe[singles]
            block[singles] += (rows * coefficient[:, None])[:, :, None] * rows[:, None, :]
            for index in range(several.start, several.stop):
                group = slice(local_starts[index], local_starts[index] + local_sizes[index])
                block[index] += signed[group].T @ ordered[group]
            u = first_moments[chunk[several]]
            block[several] -= (u / local_safe[several, None])[:, :, None] * u[:, None, :]
            # Zero or one sample left has zero scatter exactly; do not leave rounding residue there.
            block[counts[chunk] <= 1] = 0.0
            self.scatters[classes[chunk]] = block
            return volume_from_scatter(block, counts[chunk], scale)

        volumes = np.empty(len(classes))
        volumes[process] = np.concatenate(map_chunks(update_chunk, len(classes), chunk=EXCHANGE_CHUNK,
                                                     min_parallel=128))
        means = pivots + first_moments / safe[:, None]
        means[counts == 0] = 0.0
        self.counts[classes], self.means[classes] = counts, means
        return Exchange(classes, counts, means, volumes, counts_before, means_before)

    def merge(self, other: "ClassMoments") -> "ClassMoments":
        """Moments of the union of two disjoint sample sets (shards, ranks, chunks)."""
        if (other.num_classes, other.dim) != (self.num_classes, self.dim):
            raise ValueError(f"cannot merge moments of shape ({other.num_classes}, {other.dim}) into "
                             f"({self.num_classes}, {self.dim})")
        merged = self.copy()
        present = np.flatnonzero(other.counts > 0)
        merged.add_group(GroupMoments(present, other.counts[present], other.means[present],
                                      other.scatters[present]))
        return merged

    def copy(self) -> "ClassMoments":
        clone = ClassMoments(self.num_classes, self.dim)
        clone.counts, clone.means, clone.scatters = self.counts.copy(), self.means.copy(), self.scatters.copy()
        return clone

    def volumes(self, scale: float | None = None, classes=None) -> np.ndarray:
        """Eq. 3 per class (all, or those in `classes`); 0 for a class with fewer than two samples."""
        idx = slice(None) if classes is None else np.asarray(classes)
        return volume_from_scatter(self.scatters[idx], self.counts[idx], scale)

    def state_dict(self) -> dict:
        return {"counts": self.counts.copy(), "means": self.means.copy(), "scatters": self.scatters.copy()}

    def load_state_dict(self, state: dict) -> None:
        counts = np.asarray(state["counts"], dtype=np.float64)
        if counts.shape != (self.num_classes,):
            raise ValueError(f"checkpoint moments hold {counts.shape[0]} classes, expected {self.num_classes}")
        self.counts = counts.copy()
        self.means = np.asarray(state["means"], dtype=np.float64).copy()
        self.scatters = np.asarray(state["scatters"], dtype=np.float64).copy()
