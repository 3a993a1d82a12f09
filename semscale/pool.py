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

Where it runs: the same code (semscale.arrays) keeps the pool in numpy on the host or in torch float64 on the
training device, so a GPU run's features never reach the host; a test checks torch against numpy to 1e-9.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .arrays import NUMPY, TorchOps, is_tensor, ops_for
from .moments import ClassMoments
from .scales import distance_sums, semantic_scales_from_sums
from .validation import check_features, check_labels


def pool_ops(device=None, backend: str = "auto"):
    """The array backend of a pool on `device`: numpy's kernels on the host (device None or a CPU: 2-3x faster
    there than torch's), torch float64 on any other device; backend="torch" forces torch (on a CPU too)."""
    if backend not in ("auto", "torch", "numpy"):
        raise ValueError(f"backend: expected 'auto', 'torch' or 'numpy', got {backend!r}")
    on_host = device is None or str(device).split(":")[0] == "cpu"
    if backend == "numpy" and not on_host:
        raise ValueError(f"backend 'numpy' runs on the host; device {device!r} needs backend 'torch' or 'auto'")
    if backend == "torch" or not on_host:
        return TorchOps("cpu" if device is None else device)
    return NUMPY


class FeaturePool:
    """First-in first-out pool of (feature, label) batches with exact incremental per-class semantic scales.

    Pool features carry no gradient: pass detached tensors or arrays (either, on any device). `scale` is the s of
    Eq. 3 (default: d). `device`: where the pool's batches and float64 moments live (see pool_ops): with a GPU,
    features never go to the host and weights_tensor() stays on the device.
    """

    def __init__(self, num_classes: int, dim: int, warmup_epochs: int = 5, alpha: float = 1.0,
                 scale: float | None = None, device=None, backend: str = "auto"):
        self.num_classes, self.dim = int(num_classes), int(dim)
        self.warmup_epochs, self.alpha = int(warmup_epochs), float(alpha)
        self.scale = float(dim if scale is None else scale)
        self.ops = ops = pool_ops(device, backend)
        self.batches: deque = deque()
        self.moments = ClassMoments(num_classes, dim, ops)
        self.volumes = ops.zeros(num_classes)
        self.distance_sums = ops.zeros(num_classes)  # sum over present j != i of ||o_i - o_j||
        self.present = ops.zeros(num_classes, bool)
        self._weights: dict = {}  # use_interference -> weights since the last update

    @property
    def device(self):
        return self.ops.device

    # ------------------------------------------------------------------ stages

    def stage(self, epoch: int) -> int:
        return 1 if epoch <= 1 else (2 if epoch <= self.warmup_epochs else 3)

    def reweighting(self, epoch: int) -> bool:
        """True in stage 3: the loss is re-weighted with this pool's scales."""
        return self.stage(epoch) == 3

    # ------------------------------------------------------------------ updates

    def _checked(self, features, labels):
        """The batch as the pool's float32 features and int64 labels, checked (one device sync for a tensor)."""
        if self.ops is NUMPY or not is_tensor(features):
            if is_tensor(features) and is_tensor(labels) and features.device.type == labels.device.type == "cpu":
                features, labels = features.detach().numpy(), labels.detach().numpy()  # views, copied below
            plain = type(features) is np.ndarray and features.dtype == np.float32 and features.ndim == 2
            if not (plain and np.isfinite(features).all()):  # else: check_features would only copy to float64
                features = check_features(features, "pool features")
            plain = (type(labels) is np.ndarray and labels.dtype == np.int64 and labels.shape == (len(features),)
                     and (not len(labels) or 0 <= labels.min() <= labels.max() < self.num_classes))
            # check_labels names the fault, and copies (the pool owns its labels)
            labels = labels.copy() if plain else check_labels(labels, len(features), self.num_classes, "pool labels")
        elif features.ndim != 2 or labels.ndim != 1 or len(labels) != len(features):
            raise ValueError(f"pool features and labels: expected (n, {self.dim}) features and n labels, got shapes "
                             f"{tuple(features.shape)} and {tuple(labels.shape)}")
        if features.shape[1] != self.dim:
            raise ValueError(f"pool features: dimension {features.shape[1]}, the pool holds {self.dim}")
        ops = self.ops
        # The pool stores float32 (the paper's memory footprint); the moments are built from exactly those values
        # so that what is subtracted later is what was added.
        stored, given_labels, labels = ops.asarray(features, np.float32), labels, ops.asarray(labels, np.int64)
        if stored is features or (ops is NUMPY and np.may_share_memory(stored, features)) or (
                ops is not NUMPY and is_tensor(features) and stored.data_ptr() == features.data_ptr()):
            stored = stored.copy() if ops is NUMPY else stored.clone()  # the pool owns what it will subtract later
        if ops is not NUMPY and is_tensor(given_labels) and labels.data_ptr() == given_labels.data_ptr():
            labels = labels.clone()  # the numpy path's labels are copies already
        if ops is not NUMPY and len(labels):
            torch = ops.torch
            bad = torch.stack([(~torch.isfinite(stored)).any(), labels.min() < 0, labels.max() >= self.num_classes])
            if bool(bad.any()):
                problem = ("features hold NaN or Inf", "a label is negative",
                           f"a label is >= num_classes={self.num_classes}")[int(torch.argmax(bad.int()))]
                raise ValueError(f"pool features or labels: {problem}; labels must be 0..{self.num_classes - 1}")
        return stored, labels

    def update(self, features, labels, epoch: int):
        """Enqueue a batch (and, after epoch 1, dequeue the oldest); returns the classes whose scales changed.

        features (n, d) and labels (n,): numpy arrays or torch tensors on any device (moved to the pool's)."""
        stored, labels = self._checked(features, labels)
        dequeue = self.stage(epoch) >= 2 and len(self.batches) > 0
        removed, removed_labels = self.batches.popleft() if dequeue else (stored[:0], labels[:0])
        self.batches.append((stored, labels))
        changed = self.moments.exchange(stored, labels, removed, removed_labels, self.scale)
        self.volumes[changed.classes] = changed.volumes
        self._refresh(changed.classes, changed.counts, changed.means_before, changed.counts_before > 0)
        self._weights = {}
        return changed.classes

    def _refresh(self, touched, counts, old_centres, old_present) -> None:
        """Distance sums after the touched classes moved. When the touched classes' new and old centres are at
        least as many as the present classes (ten classes: every step), all sums from the present centres. Else
        full rows for the touched classes, and for every other present class i, sum_k in touched
        (||o_i - new o_k|| - ||o_i - old o_k||), both from one pass over their new and old centres."""
        ops = self.ops
        self.present[touched] = counts > 0
        present = ops.nonzero(self.present)
        centres = self.moments.means[present]
        now_present = self.present[touched]
        arriving = touched[now_present]
        if len(arriving) + int(old_present.sum()) >= len(present):
            self.distance_sums[touched] = 0.0
            self.distance_sums[present] = distance_sums(centres, centres, own_columns=ops.arange(len(present)))[0]
            return
        rows = ops.cat([self.moments.means[arriving], old_centres[old_present]])
        signs = ops.cat([ops.full(len(arriving), 1.0), ops.full(len(rows) - len(arriving), -1.0)])
        own = ops.cat([ops.searchsorted(present, arriving), ops.full(len(rows) - len(arriving), -1, present.dtype)])
        row_sums, change = distance_sums(rows, centres, signs, own_columns=own)
        is_touched = ops.zeros(self.num_classes, bool)
        is_touched[touched] = True
        untouched = ~is_touched[present]
        self.distance_sums[present[untouched]] += change[untouched]
        self.distance_sums[touched] = 0.0
        self.distance_sums[arriving] = row_sums[:len(arriving)]

    # ------------------------------------------------------------------ scales and weights

    def scales(self) -> dict:
        """Per-class S', W', W and S over the classes present in the pool (absent classes get 0), as numpy."""
        return {key: self.ops.to_numpy(value) for key, value in self._scales().items()}

    def _scales(self) -> dict:
        return scales_from_parts(self.volumes, self.distance_sums, self.present, self.alpha)

    def _cached_weights(self, use_interference: bool):
        if use_interference not in self._weights:
            scales = self._scales()
            self._weights[use_interference] = dsb_weights(scales["S"] if use_interference else scales["S_prime"])
        return self._weights[use_interference]

    def weights(self, use_interference: bool = True) -> np.ndarray:
        """DSB weights proportional to 1/S (1/S' without inter-class interference), summing to C; numpy float64."""
        return self.ops.to_numpy(self._cached_weights(use_interference)).copy()

    def weights_tensor(self, use_interference: bool = True):
        """The weights as a float64 torch tensor on the pool's device, without a host round trip (on the host: a
        view of the numpy weights). Shared with the pool until its next update: do not modify it."""
        weights = self._cached_weights(use_interference)
        if is_tensor(weights):
            return weights
        import torch

        return torch.from_numpy(weights)

    # ------------------------------------------------------------------ raw contents and checkpoints

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored (feature, label) row, oldest first, as host numpy float64 and int64."""
        if not self.batches:
            return np.zeros((0, self.dim)), np.zeros(0, dtype=np.int64)
        to_numpy = self.ops.to_numpy
        return (np.concatenate([to_numpy(b[0]) for b in self.batches]).astype(np.float64),
                np.concatenate([to_numpy(b[1]) for b in self.batches]))

    def __len__(self) -> int:
        return sum(len(b[1]) for b in self.batches)

    def nbytes(self) -> int:
        """Memory held: the raw float32 batches, labels and the float64 moments."""
        def size(array):
            return array.nbytes if hasattr(array, "nbytes") else array.element_size() * array.nelement()

        raw = sum(size(b[0]) + size(b[1]) for b in self.batches)
        m = self.moments
        return raw + size(m.counts) + size(m.means) + size(m.scatters) + 3 * size(self.volumes)

    def state_dict(self) -> dict:
        """Host numpy copies whatever the device: a checkpoint loads into a pool on any device."""
        to_numpy = self.ops.to_numpy
        return {"batches": [(to_numpy(f).copy(), to_numpy(l).copy()) for f, l in self.batches],
                "moments": self.moments.state_dict(),
                "volumes": to_numpy(self.volumes).copy(), "distance_sums": to_numpy(self.distance_sums).copy(),
                "present": to_numpy(self.present).copy(),
                "settings": {"num_classes": self.num_classes, "dim": self.dim, "warmup_epochs": self.warmup_epochs,
                             "alpha": self.alpha, "scale": self.scale}}

    def load_state_dict(self, state: dict) -> None:
        """A state_dict of a pool on any device (numpy arrays or tensors)."""
        settings = state["settings"]
        if (settings["num_classes"], settings["dim"]) != (self.num_classes, self.dim):
            raise ValueError(f"checkpoint pool holds {settings['num_classes']} classes x {settings['dim']} dims, "
                             f"this pool {self.num_classes} x {self.dim}")
        host, ops = NUMPY.asarray, self.ops
        self.batches = deque((ops.asarray(host(f, np.float32).copy(), np.float32),
                              ops.asarray(host(l, np.int64).copy(), np.int64)) for f, l in state["batches"])
        self.moments.load_state_dict(state["moments"])
        self.volumes = ops.asarray(host(state["volumes"]).copy())
        self.distance_sums = ops.asarray(host(state["distance_sums"]).copy())
        self.present = ops.asarray(host(state["present"], bool).copy(), bool)
        self._weights = {}


def scales_from_parts(volumes, distance_sums, present, alpha: float) -> dict:
    """S', W', W and S over the present classes (semantic_scales_from_sums); absent classes get zeros. numpy, or
    torch tensors on their device."""
    ops = ops_for(volumes, distance_sums, present)
    present = ops.asarray(present, bool)
    out = {key: ops.zeros(len(present)) for key in ("S_prime", "W_prime", "W", "S")}
    if ops.any(present):
        scales = semantic_scales_from_sums(ops.asarray(volumes)[present], ops.asarray(distance_sums)[present], alpha)
        for key, value in (("S_prime", scales.s_prime), ("W_prime", scales.w_prime), ("W", scales.w),
                           ("S", scales.s)):
            out[key][present] = value
    return out


def dsb_weights(scales):
    """Weights proportional to 1/S, normalised to sum to C (the class-balanced convention; the paper sums to 1).

    A class with S = 0 (absent from the pool, fewer than two samples there, or all samples identical) has no
    measurable scale; it gets the weight of the smallest positive S in the pool, i.e. it is treated as the weakest
    class measured so far: finite, positive, and never smaller than any measured class's weight. With no positive S
    at all, every class gets 1. numpy in, numpy out; a tensor stays on its device.
    """
    ops = ops_for(scales)
    scales = ops.asarray(scales)
    positive = scales > 0
    if ops is not NUMPY:  # the same steps as below, with no read back to the host (a GPU keeps running)
        torch = ops.torch
        floored = torch.where(positive, scales, torch.where(positive, scales, float("inf")).min())
        inverse = torch.where(positive.any(), 1.0 / floored, 1.0)
        return inverse * (len(scales) / inverse.sum())
    if not ops.any(positive):
        return ops.full(len(scales), 1.0)
    floored = ops.where(positive, scales, scales[positive].min())
    inverse = 1.0 / floored
    return inverse * (len(scales) / inverse.sum())


def weights_from_scratch(features, labels, num_classes: int, alpha: float = 1.0, scale: float | None = None,
                         use_interference: bool = True) -> np.ndarray:
    """The paper's way: every class's scale recomputed from the whole pool, then the DSB weights (a baseline)."""
    moments = ClassMoments.from_data(features, labels, num_classes)
    present = moments.counts > 0
    centres = moments.means[present]
    sums = np.zeros(num_classes)
    sums[present] = distance_sums(centres, centres, own_columns=np.arange(len(centres)))[0]
    scales = scales_from_parts(moments.volumes(scale), sums, present, alpha)
    return dsb_weights(scales["S"] if use_interference else scales["S_prime"])
