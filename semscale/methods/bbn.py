"""BBN: Bilateral-Branch Network with cumulative learning (Zhou et al., CVPR 2020, "BBN: Bilateral-Branch Network
with Cumulative Learning for Long-Tailed Visual Recognition"), one of Table 2's and Table 11's baselines.

Mechanism (paper Sec. 3):
  * two samplers (Sec. 3.2): the conventional branch reads the uniform, instance-balanced order; the re-balancing
    branch reads a reversed sampler, class i drawn with probability p_i = w_i / sum_j w_j, w_i = N_max / N_i, i.e.
    p_i = (1 / n_i) / sum_j (1 / n_j) (then an instance uniformly within the class);
  * cumulative learning (Sec. 3.3, Eq. 1): alpha = 1 - (T / T_max)^2, T the current epoch counted from 0 and
    T_max the number of epochs (the release computes 1 - ((epoch - 1) / max_epoch)^2 with 1-based epochs);
  * the two features are weighted and classified together, z = W^T [alpha f_c ; (1 - alpha) f_r] (the release's
    single classifier on the concatenation, which equals alpha W_c^T f_c + (1 - alpha) W_r^T f_r plus a bias), and
    the loss is alpha * CE(z, y_c) + (1 - alpha) * CE(z, y_r) (Eq. 2-3);
  * at inference both branches see the same sample and alpha is fixed at 0.5 (Sec. 3.3).

Branches here: BBN shares every layer but the last residual block between the branches; the engine owns the
backbone, so each branch is a separate head (Linear D->D then ReLU, `branch_dim` wide) on the shared feature vector,
and the backbone plays the shared layers. No hyperparameter beyond the schedule: the paper's alpha has none.

Engine contract: `second_sampling_weights(epoch)` returns the reversed per-class probabilities; the engine draws a
second batch of the same size from them, puts it through the backbone and calls
`method(features, labels, second=(second_features, second_labels))`. The reversed labels travel in
`MethodOutput.extras["second_labels"]`; calling the method in training mode without `second` is an error.

DSB: where the weights go and why. Each pair (x_c, x_r) gives two cross-entropy terms, one owned by class y_c and
one by class y_r, so `per_sample_loss` returns the 2B terms [2 alpha CE(z, y_c) ; 2 (1 - alpha) CE(z, y_r)] and
`loss_labels` returns [y_c ; y_r]: the class weights multiply each term by the weight of the class it is about,
and with no weights their plain mean is exactly the paper's batch mean of alpha CE_c + (1 - alpha) CE_r.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Method, MethodOutput


def cumulative_alpha(epoch_from_zero: int, max_epoch: int) -> float:
    """BBN Eq. 1: alpha = 1 - (T / T_max)^2 (1 at the start, 0.75 half-way, 0 at T = T_max)."""
    if max_epoch <= 0:
        raise ValueError(f"BBN: T_max must be positive, got {max_epoch}")
    return 1.0 - (epoch_from_zero / max_epoch) ** 2


def reversed_class_probabilities(class_counts) -> torch.Tensor:
    """BBN Sec. 3.2: p_i = (1 / n_i) / sum_j (1 / n_j), the reversed sampler's per-class probabilities."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if (counts <= 0).any():
        raise ValueError("BBN reversed sampler: every class needs at least one training sample")
    inverse = 1.0 / counts
    return inverse / inverse.sum()


class BBN(Method):
    name = "bbn"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, branch_dim: int | None = None):
        super().__init__(feature_dim, num_classes, class_counts)
        width = branch_dim or feature_dim
        self.conventional = nn.Sequential(nn.Linear(feature_dim, width), nn.ReLU())
        self.rebalancing = nn.Sequential(nn.Linear(feature_dim, width), nn.ReLU())
        self.head = nn.Linear(2 * width, num_classes)   # the classifier on [alpha f_c ; (1 - alpha) f_r]
        self.alpha = 1.0

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.alpha = cumulative_alpha(epoch - 1, epochs)

    def second_sampling_weights(self, epoch: int):
        return reversed_class_probabilities(self.class_counts).float()

    def forward(self, features, labels=None, second=None) -> MethodOutput:
        if not self.training:
            mixed = torch.cat([0.5 * self.conventional(features), 0.5 * self.rebalancing(features)], dim=1)
            return MethodOutput(self.head(mixed))
        if second is None:
            raise ValueError("BBN: training needs the reversed sampler's batch: call "
                             "method(features, labels, second=(second_features, second_labels))")
        second_features, second_labels = second
        if second_features.shape[0] != features.shape[0]:
            raise ValueError(f"BBN: the two batches must be the same size, got {features.shape[0]} and "
                             f"{second_features.shape[0]}")
        mixed = torch.cat([self.alpha * self.conventional(features),
                           (1.0 - self.alpha) * self.rebalancing(second_features)], dim=1)
        return MethodOutput(self.head(mixed), {"second_labels": second_labels, "alpha": self.alpha})

    def per_sample_loss(self, output, labels):
        if "second_labels" not in output.extras:   # an evaluation-mode output: plain cross-entropy
            return super().per_sample_loss(output, labels)
        alpha = output.extras["alpha"]
        uniform = F.cross_entropy(output.logits, labels, reduction="none")
        reversed_ = F.cross_entropy(output.logits, output.extras["second_labels"], reduction="none")
        return torch.cat([2.0 * alpha * uniform, 2.0 * (1.0 - alpha) * reversed_])

    def loss_labels(self, output, labels):
        if "second_labels" not in output.extras:
            return labels
        return torch.cat([labels, output.extras["second_labels"]])
