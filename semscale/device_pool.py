"""The storage pool with an update that never waits for the GPU: fixed shapes, no host reads (issue 9).

FeaturePool's update (pool.py) asks the host questions every step: which classes are in the batch (`nonzero`,
boolean masks, `unique`-like sorts sized by the answer), how many, whether the input is valid. On a GPU each answer is
a synchronisation: the host waits for the forward pass and for every queued kernel before it can launch the next
one. Measured on an H100 (results/bench_gpu/), one update cost ~10 ms even at C = 10.

DeviceFeaturePool computes the same moments, volumes, distance sums and weights with shapes fixed by the batch
(n rows: the enqueued batch and the dequeued one) and the class count C, never by the data:
  * counts, first moments: index_add over the rows' labels (C x d);
  * the pivot of a class is its old mean, or for a class that was empty the mean of its arriving rows, so
        scatter' = scatter + sum_rows s (z - p)(z - p)^T - u u^T / n'      (moments.py's algebra, any pivot for an
                                                                             empty class)
    the row terms index-added per row (n x d x d), the class term once per class: on the row that comes first for
    its class after a sort (a 0/1 weight, not a gather of the classes present);
  * volumes of the rows' classes: one batched Cholesky of the n gathered scatters (a class in several rows is
    factorised several times: a few times n x d^3, no host read), written back through the first-row weights;
  * distance sums: the n new and n old centres against all C centres, weighted by presence (volume.py's and
    scales.py's formulas, column weights masking absent classes);
  * scales and weights over all C entries with absent classes zero (max-normalisation and the DSB floor are
    sync-free for tensors).
What cannot be checked without a read (NaN features, labels out of range, a failed factorisation) is recorded on
the device and raised at the next host read (scales(), weights(), state_dict(), contents()) or every
`check_every` updates: labels are clamped into 0..C-1 until then so that a bad label raises this pool's error, not a
device-side assert. Equal to FeaturePool to 1e-9 on the same stream (tests/test_device_pool.py).
"""
from __future__ import annotations

import numpy as np

from .arrays import NUMPY
from .pool import FeaturePool, pool_ops
from .scales import distance_sums, interference_weight, semantic_scales_from_sums
from .volume import half_log2det_identity_plus_deferred, resolve_scale


class DeviceFeaturePool(FeaturePool):
    """FeaturePool whose update launches a fixed sequence of kernels and reads nothing back (torch on `device`)."""

    def __init__(self, num_classes: int, dim: int, warmup_epochs: int = 5, alpha: float = 1.0,
                 scale: float | None = None, device="cpu", check_every: int = 256):
        super().__init__(num_classes, dim, warmup_epochs, alpha, scale, device, backend="torch")
        self.check_every, self._updates = int(check_every), 0
        torch = self.ops.torch
        self._problems = torch.zeros(3, dtype=torch.bool, device=self.device)  # bad features, bad label, failed

    # ------------------------------------------------------------------ updates

    def _checked(self, features, labels):
        torch = self.ops.torch
        features, labels = torch.as_tensor(features), torch.as_tensor(labels)
        if features.ndim != 2 or labels.ndim != 1 or len(labels) != len(features) or features.shape[1] != self.dim:
            raise ValueError(f"pool features and labels: expected (n, {self.dim}) features and n labels, got shapes "
                             f"{tuple(features.shape)} and {tuple(labels.shape)}")
        stored = features.detach().to(self.device, torch.float32, copy=True)  # the pool owns what it subtracts
        labels = labels.detach().to(self.device, torch.int64)
        clamped = labels.clamp(0, self.num_classes - 1)
        if len(labels):
            self._problems[0] |= ~torch.isfinite(stored).all()
            self._problems[1] |= (clamped != labels).any()
        return stored, clamped

    def update(self, features, labels, epoch: int):
        """Enqueue a batch (and, after epoch 1, dequeue the oldest); returns the labels of the rows that moved in
        or out (a class may repeat: the set of classes would need a host read)."""
        stored, labels = self._checked(features, labels)
        dequeue = self.stage(epoch) >= 2 and len(self.batches) > 0
        removed, removed_labels = self.batches.popleft() if dequeue else (stored[:0], labels[:0])
        self.batches.append((stored, labels))
        rows = self._exchange(stored, labels, removed, removed_labels)
        self._weights = {}
        self._updates += 1
        if self.check_every and self._updates % self.check_every == 0:
            self._raise_problems()
        return rows

    def _exchange(self, added, added_labels, removed, removed_labels):
        torch, m = self.ops.torch, self.moments
        x = torch.cat([added, removed]).double()
        y = torch.cat([added_labels, removed_labels])
        n_added, dev = len(added_labels), self.device
        signs = torch.cat([torch.ones(n_added, dtype=torch.float64, device=dev),
                           -torch.ones(len(removed_labels), dtype=torch.float64, device=dev)])
        zeros_c = torch.zeros(self.num_classes, dtype=torch.float64, device=dev)
        counts_before, means_before = m.counts.clone(), m.means.clone()
        counts = counts_before.index_add(0, y, signs)
        arrivals = zeros_c.index_add(0, added_labels, torch.ones(n_added, dtype=torch.float64, device=dev))
        arriving_mean = torch.zeros_like(m.means).index_add_(0, added_labels, x[:n_added]) \
            / arrivals.clamp_min(1.0)[:, None]
        was_present = counts_before > 0
        pivots = torch.where(was_present[:, None], means_before, arriving_mean)
        centred = x - pivots[y]
        signed = centred * signs[:, None]
        first_moments = torch.zeros_like(m.means).index_add_(0, y, signed)
        safe = counts.clamp_min(1.0)
        first = self._first_of_class(y)
        u = first_moments[y]
        rows = signed[:, :, None] * centred[:, None, :] - first[:, None, None] * (
            u[:, :, None] * (u / safe[y][:, None])[:, None, :])
        m.scatters.index_add_(0, y, rows)
        gathered = m.scatters[y]
        few = counts[y] <= 1  # zero or one sample left: zero scatter exactly, no rounding residue
        gathered = torch.where(few[:, None, None], 0.0, gathered)
        m.scatters[y] = gathered  # duplicates write the same gathered values
        coefficient = torch.where(counts[y] > 0, resolve_scale(self.scale, self.dim) / safe[y], 0.0)
        row_volumes, failed = half_log2det_identity_plus_deferred(gathered, coefficient)
        self._problems[2] |= failed.any()
        touched = zeros_c.index_fill(0, y, 1.0)
        self.volumes = self.volumes * (1.0 - touched) + zeros_c.index_add(0, y, torch.where(first > 0, row_volumes, 0.0))
        now_present = counts > 0
        m.means = torch.where(now_present[:, None], pivots + first_moments / safe[:, None], 0.0)
        m.counts = counts
        self.present = now_present
        self._refresh_dense(y, first, touched, means_before, was_present)
        return y

    def _first_of_class(self, labels):
        """1.0 on one row of each class among `labels` (the first after a stable sort), 0.0 on the others."""
        torch = self.ops.torch
        order = torch.argsort(labels, stable=True)
        ordered = labels[order]
        leads = torch.ones_like(ordered, dtype=torch.bool)
        leads[1:] = ordered[1:] != ordered[:-1]
        return torch.zeros(len(labels), dtype=torch.float64, device=self.device).index_copy_(0, order, leads.double())

    def _refresh_dense(self, y, first, touched, means_before, was_present) -> None:
        """Distance sums after the rows' classes moved: for every class i, += sum over moved classes k of
        (||o_i - new o_k|| if k is present now) - (||o_i - old o_k|| if it was); the moved classes' own sums from
        their new centres against every present centre. Absent classes' sums are 0."""
        torch = self.ops.torch
        present = self.present.double()
        n = len(y)
        rows = torch.cat([self.moments.means[y], means_before[y]])
        signs = torch.cat([first * present[y], -first * was_present.double()[y]])
        own = torch.cat([y, torch.full_like(y, -1)])
        row_sums, change = distance_sums(rows, self.moments.means, signs, own_columns=own, column_weights=present)
        own_sums = torch.zeros_like(present).index_add_(0, y, first * row_sums[:n])
        self.distance_sums = ((self.distance_sums + change) * (1.0 - touched) + own_sums) * present

    # ------------------------------------------------------------------ reads (the host waits here)

    def _raise_problems(self) -> None:
        bad = self._problems.tolist()
        if any(bad):
            what = [text for flag, text in zip(bad, ("features held NaN or Inf",
                                                      f"a label was outside 0..{self.num_classes - 1}",
                                                      "I + (s/m) * scatter was not positive definite")) if flag]
            raise ValueError(f"pool (on {self.device}, checked at host reads and every {self.check_every} updates): "
                             f"{'; '.join(what)} since the last check; check the features and labels fed to it")

    def _scales(self) -> dict:
        """S', W', W and S over all C classes, absent ones 0, on the device (no host read)."""
        torch = self.ops.torch
        present = self.present
        several = present.sum() >= 2
        scales = semantic_scales_from_sums(self.volumes, self.distance_sums, self.alpha)
        # scales.py's W' for a single present class is 1 (no interference measurable): the same here
        w_prime = torch.where(several, scales.w_prime, 1.0)
        w = interference_weight(w_prime, self.alpha)
        zero = torch.zeros_like(self.volumes)
        return {"S_prime": torch.where(present, scales.s_prime, zero), "W_prime": torch.where(present, w_prime, zero),
                "W": torch.where(present, w, zero), "S": torch.where(present, scales.s_prime * w, zero)}

    def scales(self) -> dict:
        self._raise_problems()
        return super().scales()

    def weights(self, use_interference: bool = True) -> np.ndarray:
        self._raise_problems()
        return super().weights(use_interference)

    def state_dict(self) -> dict:
        self._raise_problems()
        return super().state_dict()

    def contents(self):
        self._raise_problems()
        return super().contents()



def training_pool(num_classes: int, dim: int, warmup_epochs: int = 5, alpha: float = 1.0, device=None,
                  scale: float | None = None) -> FeaturePool:
    """The pool a training run uses on `device`: the host pool (numpy) on a CPU, where its data-dependent shapes cost
    nothing and numpy is faster than torch; this sync-free pool on any other device, where every host read of the
    host pool stalls the GPU. Both give the same weights (to 1e-9) and the same checkpoint format."""
    if pool_ops(device) is NUMPY:  # the host
        return FeaturePool(num_classes, dim, warmup_epochs, alpha, scale, device)
    return DeviceFeaturePool(num_classes, dim, warmup_epochs, alpha, scale, device)
