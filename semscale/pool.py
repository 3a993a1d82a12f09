"""The storage pool of the dynamic re-weighting framework (paper Sec. 4.2, App. F.2, Alg. 2), kept incrementally.

Stages (epochs count from 1):
  1. epoch 1:           enqueue every batch, dequeue nothing; the plain loss is used.
  2. epochs 2..n:       enqueue the current batch, dequeue the oldest; the plain loss is used.
  3. epochs > n:        the same, and the loss is re-weighted with scales from the pool after the update.
Alg. 2's pseudo-code tests `epoch < n` where the text says stage 3 is `epoch > n`; we follow the text (n is
`warmup_epochs`, so either reading is reachable).

The paper recomputes every class's scale from the whole pool each iteration. We keep exact float64 per-class
moments, add the enqueued batch and subtract the dequeued one, redo the log-determinant only for classes whose
moments changed, and update each class's summed distance to the other centres only for the pairs that changed.
A test checks this against a recomputation from the pool's raw contents at every step.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .moments import ClassMoments
from .scales import distance_sums, semantic_scales_from_sums
from .validation import check_features, check_labels


class FeaturePool:
    """First-in first-out pool of (feature, label) batches with exact incremental per-class semantic scales.

    Pool features carry no gradient: pass detached tensors or arrays. `scale` is the s of Eq. 3 (default: d).
    """

    def __init__(self, num_classes: int, dim: int, warmup_epochs: int = 5, alpha: float = 1.0,
                 scale: float | None = None):
        self.num_classes, self.dim = int(num_classes), int(dim)
        self.warmup_epochs, self.alpha = int(warmup_epochs), float(alpha)
        self.scale = float(dim if scale is None else scale)
        self.batches: deque = deque()
        self.moments = ClassMoments(num_classes, dim)
        self.volumes = np.zeros(num_classes)
        self.distance_sums = np.zeros(num_classes)  # sum over present j != i of ||o_i - o_j||
        self.present = np.zeros(num_classes, dtype=bool)

    # ------------------------------------------------------------------ stages

    def stage(self, epoch: int) -> int:
        return 1 if epoch <= 1 else (2 if epoch <= self.warmup_epochs else 3)

    def reweighting(self, epoch: int) -> bool:
        """True in stage 3: the loss is re-weighted with this pool's scales."""
        return self.stage(epoch) == 3

    # ------------------------------------------------------------------ updates

    def update(self, features, labels, epoch: int) -> np.ndarray:
        """Enqueue a batch (and, after epoch 1, dequeue the oldest); returns the classes whose scales changed."""
        features = check_features(features, "pool features")
        labels = check_labels(labels, len(features), self.num_classes, "pool labels")
        if features.shape[1] != self.dim:
            raise ValueError(f"pool features: dimension {features.shape[1]}, the pool holds {self.dim}")
        # The pool stores float32 (the paper's memory footprint); the moments are built from exactly those values
        # so that what is subtracted later is what was added.
        stored = features.astype(np.float32)
        dequeue = self.stage(epoch) >= 2 and len(self.batches) > 0
        removed, removed_labels = self.batches.popleft() if dequeue else (stored[:0], labels[:0])
        self.batches.append((stored, labels))
        changed = self.moments.exchange(stored.astype(np.float64), labels, removed.astype(np.float64),
                                        removed_labels, self.scale)
        self.volumes[changed.classes] = changed.volumes
        self._refresh(changed.classes, changed.counts, changed.means_before, changed.counts_before > 0)
        return changed.classes

    def _refresh(self, touched: np.ndarray, counts: np.ndarray, old_centres: np.ndarray,
                 old_present: np.ndarray) -> None:
        """Distance sums after the touched classes moved: full rows for them, and for every other present class i,
        sum_k in touched (||o_i - new o_k|| - ||o_i - old o_k||), both from one pass over their new and old
        centres."""
        self.present[touched] = counts > 0
        present = np.flatnonzero(self.present)
        now_present = self.present[touched]
        rows = np.concatenate([self.moments.means[touched[now_present]], old_centres[old_present]])
        signs = np.r_[np.ones(now_present.sum()), -np.ones(old_present.sum())]
        row_sums, change = distance_sums(rows, self.moments.means[present], signs)
        is_touched = np.zeros(self.num_classes, dtype=bool)
        is_touched[touched] = True
        others = present[~is_touched[present]]
        self.distance_sums[others] += change[~is_touched[present]]
        self.distance_sums[touched] = 0.0
        self.distance_sums[touched[now_present]] = row_sums[:now_present.sum()]

    # ------------------------------------------------------------------ scales and weights

    def scales(self) -> dict:
        """Per-class S', W', W and S over the classes present in the pool (absent classes get 0)."""
        return scales_from_parts(self.volumes, self.distance_sums, self.present, self.alpha)

    def weights(self, use_interference: bool = True) -> np.ndarray:
        """DSB weights proportional to 1/S (1/S' without inter-class interference), summing to C."""
        scales = self.scales()
        return dsb_weights(scales["S"] if use_interference else scales["S_prime"])

    # ------------------------------------------------------------------ raw contents and checkpoints

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.batches:
            return np.zeros((0, self.dim)), np.zeros(0, dtype=np.int64)
        return (np.concatenate([b[0] for b in self.batches]).astype(np.float64),
                np.concatenate([b[1] for b in self.batches]))

    def __len__(self) -> int:
        return sum(len(b[1]) for b in self.batches)

    def nbytes(self) -> int:
        """Memory held: the raw float32 batches, labels and the float64 moments."""
        raw = sum(b[0].nbytes + b[1].nbytes for b in self.batches)
        m = self.moments
        return raw + m.counts.nbytes + m.means.nbytes + m.scatters.nbytes + 3 * self.volumes.nbytes

    def state_dict(self) -> dict:
        return {"batches": [(f.copy(), l.copy()) for f, l in self.batches], "moments": self.moments.state_dict(),
                "volumes": self.volumes.copy(), "distance_sums": self.distance_sums.copy(),
                "present": self.present.copy(),
                "settings": {"num_classes": self.num_classes, "dim": self.dim, "warmup_epochs": self.warmup_epochs,
                             "alpha": self.alpha, "scale": self.scale}}

    def load_state_dict(self, state: dict) -> None:
        settings = state["settings"]
        if (settings["num_classes"], settings["dim"]) != (self.num_classes, self.dim):
            raise ValueError(f"checkpoint pool holds {settings['num_classes']} classes x {settings['dim']} dims, "
                             f"this pool {self.num_classes} x {self.dim}")
        self.batches = deque((np.asarray(f), np.asarray(l)) for f, l in state["batches"])
        self.moments.load_state_dict(state["moments"])
        self.volumes = np.asarray(state["volumes"]).copy()
        self.distance_sums = np.asarray(state["distance_sums"]).copy()
        self.present = np.asarray(state["present"]).copy()


def scales_from_parts(volumes, distance_sums, present, alpha: float) -> dict:
    """S', W', W and S over the present classes (semantic_scales_from_sums); absent classes get zeros."""
    present = np.asarray(present, dtype=bool)
    out = {key: np.zeros(len(present)) for key in ("S_prime", "W_prime", "W", "S")}
    if present.any():
        scales = semantic_scales_from_sums(np.asarray(volumes)[present], np.asarray(distance_sums)[present], alpha)
        for key, value in (("S_prime", scales.s_prime), ("W_prime", scales.w_prime), ("W", scales.w),
                           ("S", scales.s)):
            out[key][present] = value
    return out


def dsb_weights(scales) -> np.ndarray:
    """Weights proportional to 1/S, normalised to sum to C (the class-balanced convention; the paper sums to 1).

    A class with S = 0 (absent from the pool, fewer than two samples there, or all samples identical) has no
    measurable scale; it gets the weight of the smallest positive S in the pool, i.e. it is treated as the weakest
    class measured so far: finite, positive, and never smaller than any measured class's weight. With no positive S
    at all, every class gets 1.
    """
    scales = np.asarray(scales, dtype=np.float64)
    positive = scales > 0
    if not positive.any():
        return np.ones_like(scales)
    floored = np.where(positive, scales, scales[positive].min())
    inverse = 1.0 / floored
    return inverse * (len(scales) / inverse.sum())


def weights_from_scratch(features, labels, num_classes: int, alpha: float = 1.0, scale: float | None = None,
                         use_interference: bool = True) -> np.ndarray:
    """The paper's way: every class's scale recomputed from the whole pool, then the DSB weights (a baseline)."""
    moments = ClassMoments.from_data(features, labels, num_classes)
    present = moments.counts > 0
    centres = moments.means[present]
    sums = np.zeros(num_classes)
    sums[present] = distance_sums(centres, centres)[0]
    scales = scales_from_parts(moments.volumes(scale), sums, present, alpha)
    return dsb_weights(scales["S"] if use_interference else scales["S_prime"])
