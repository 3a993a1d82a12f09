"""Exact, mergeable per-class moments (count, mean, centred scatter) in float64.

They give every class's volume (Eq. 3) and centre without keeping the samples, so a dataset larger than memory is
measured in one pass, partial results from shards or ranks combine exactly, and a first-in first-out pool can add
its newest batch and subtract its oldest (Chan et al.'s pairwise update, run forwards or backwards).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import NUMPY
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


class ClassMoments:
    """Running moments for classes 0..C-1 in dimension d, held by `ops` (numpy by default; a semscale.arrays.TorchOps
    keeps them on a torch device, where exchange, volumes and state dicts work; add, remove and merge are numpy's)."""

    def __init__(self, num_classes: int, dim: int, ops=NUMPY):
        if num_classes < 1 or dim < 1:
            raise ValueError(f"num_classes and dim must be positive, got {num_classes} and {dim}")
        self.num_classes, self.dim, self.ops = int(num_classes), int(dim), ops
        self.counts = ops.zeros(num_classes)
        self.means = ops.zeros((num_classes, dim))
        self.scatters = ops.zeros((num_classes, dim, dim))

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
        validated float features and int64 labels (a feature pool's batches) of this object's backend.

        Each class's rows are centred on its current mean p (rows that enter an empty class: on their first row), so
        with signs +1 (added) and -1 (removed), u = sum s (z - p), G = sum s (z - p)(z - p)^T and n' = n + sum s:
            mean' = p + u / n',   scatter' = scatter + G - u u^T / n'
        (the old rows contribute no first moment about their own mean). The same algebra as add_group followed by
        remove_group, with one sort instead of two. Classes are processed in order of their row counts, in chunks
        whose rows are zero-padded to the chunk's largest class, so each chunk's G is one batched product (a few
        calls an update at ten classes). With numpy each chunk's volumes are taken while its scatters are still in
        cache: at a thousand classes a step, passes over the 64 x 64 matrices in memory cost more than their
        arithmetic. With torch the whole update is one chunk.
        """
        ops = self.ops
        scale = resolve_scale(scale, self.dim)
        features = ops.asarray(ops.cat([added, removed]))  # float64 from here on
        labels = ops.cat([added_labels, removed_labels])
        if len(labels) == 0:
            nothing = ops.zeros(0)
            return Exchange(labels, nothing, ops.zeros((0, self.dim)), nothing, nothing, ops.zeros((0, self.dim)))
        if ops.scalar(ops.max(labels)) >= self.num_classes:
            raise ValueError(f"labels: label {int(ops.max(labels))} is out of range for "
                             f"num_classes={self.num_classes}")
        signs = ops.cat([ops.full(len(added_labels), 1.0), ops.full(len(removed_labels), -1.0)])
        order = ops.argsort(labels)
        ordered_labels, ordered, ordered_signs = labels[order], features[order], signs[order]
        is_start = ops.cat([ops.full(1, True, bool), ordered_labels[1:] != ordered_labels[:-1]])
        starts = ops.nonzero(is_start)
        segments = ops.cumsum(is_start) - 1  # each row's class, numbered 0..k-1 in label order
        classes = ordered_labels[starts]
        sizes = ops.cat([starts[1:], ops.full(1, len(labels), starts.dtype)]) - starts
        counts_before, means_before = self.counts[classes], self.means[classes]
        counts = counts_before + ops.segment_sum(ordered_signs, segments, starts, len(classes))
        if ops.any(counts < 0):
            bad = int(classes[ops.first_true(counts < 0)])
            raise ValueError(f"class {bad}: removing more samples than the moments hold")
        pivots = ops.where((counts_before > 0)[:, None], means_before, ordered[starts])
        ordered -= pivots[segments]
        signed = ordered * ordered_signs[:, None]
        first_moments = ops.segment_sum(signed, segments, starts, len(classes))
        safe = counts.clip(1.0, None)

        chunk, position = ops.exchange_chunk, ops.arange(len(labels)) - starts[segments]
        if len(classes) <= chunk:  # one chunk: classes in label order, rows as sorted
            process, row_rank, row_position, padded_rows, padded_signed = ops.arange(len(classes)), segments, \
                position, ordered, signed
            row_bounds = [0] * len(classes) + [len(labels)]
        else:  # processed by row count, so a chunk's padding is small; rows regrouped so each chunk's are a run
            process = ops.argsort(sizes)
            rank = ops.zeros(len(classes), starts.dtype)
            rank[process] = ops.arange(len(classes))
            row_order = ops.argsort(rank[segments])
            row_rank, row_position = rank[segments][row_order], position[row_order]
            padded_rows, padded_signed = ordered[row_order], signed[row_order]
            row_bounds = ops.cat([ops.zeros(1, starts.dtype), ops.cumsum(sizes[process])])

        def update_chunk(first: int, stop: int):
            # Distinct rows of self.scatters, so chunks can run in threads.
            members = process[first:stop]
            rows = slice(int(row_bounds[first]), int(row_bounds[stop]))
            width = int(ops.max(sizes[members]))
            slots, positions = row_rank[rows] - first, row_position[rows]
            # Each class's rows zero-padded to the chunk's widest, plus one slot for -u u^T / n':
            # scatter' - scatter = [s (z - p); -u / n']^T [z - p; u], one batched product for the chunk.
            u = first_moments[members]
            block_rows = ops.zeros((stop - first, width + 1, self.dim))
            block_signed = ops.zeros((stop - first, width + 1, self.dim))
            block_rows[slots, positions] = padded_rows[rows]
            block_signed[slots, positions] = padded_signed[rows]
            block_rows[:, width] = u
            block_signed[:, width] = u / -safe[members, None]
            targets = classes[members]
            first_class, last_class = int(targets[0]), int(targets[-1])
            # A run of consecutive classes (every class, at ten classes) is updated in place through a view;
            # otherwise gathered and written back.
            run = last_class - first_class == stop - first - 1 and (stop - first == 1 or bool(
                (targets[1:] > targets[:-1]).all()))
            block = self.scatters[first_class:last_class + 1] if run else self.scatters[targets]
            block += block_signed.swapaxes(1, 2) @ block_rows
            # Zero or one sample left has zero scatter exactly; do not leave rounding residue there.
            block[counts[members] <= 1] = 0.0
            if not run:
                self.scatters[targets] = block
            return volume_from_scatter(block, counts[members], scale)

        volumes = ops.zeros(len(classes))
        parts = ops.map_chunks(update_chunk, len(classes), chunk=chunk, min_parallel=128)
        volumes[process] = ops.cat(parts)
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
        idx = slice(None) if classes is None else classes
        return volume_from_scatter(self.scatters[idx], self.counts[idx], scale)

    def state_dict(self) -> dict:
        """Host numpy copies, whatever the backend: a checkpoint loads on any device."""
        to_numpy = self.ops.to_numpy
        return {"counts": to_numpy(self.counts).copy(), "means": to_numpy(self.means).copy(),
                "scatters": to_numpy(self.scatters).copy()}

    def load_state_dict(self, state: dict) -> None:
        """Numpy arrays or tensors on any device."""
        counts = NUMPY.asarray(state["counts"])
        if counts.shape != (self.num_classes,):
            raise ValueError(f"checkpoint moments hold {counts.shape[0]} classes, expected {self.num_classes}")
        self.counts = self.ops.asarray(counts.copy())
        self.means = self.ops.asarray(NUMPY.asarray(state["means"]).copy())
        self.scatters = self.ops.asarray(NUMPY.asarray(state["scatters"]).copy())
