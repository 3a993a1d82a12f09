"""BLSoftmax as the GLT benchmark uses it (Tang et al. 2022, "Invariant Feature Learning for Generalized Long-Tailed
Classification"; the balanced softmax of Ren et al. 2020): a linear head trained with

    L(x, y) = -log softmax_y(W x + b + log p_s),   p_s(j) = n_j / sum n        (Ren et al. Eq. 4 in logit form)

and the plain logits W x + b at test time (the benchmark evaluates the raw classifier; the log-prior is a training-
time adjustment only). Instance-balanced sampling, no second stage. No hyperparameter: p_s is the training label
distribution (the benchmark adds 1e-12 inside the log; here counts are clamped to 1, which keeps empty classes
finite the same way).

DSB: the loss is one term per sample, so `per_sample_loss` returns it and the DSB class weights multiply it
(DSB-BLSoftmax, Table 11). The log-prior shift is per class and constant, so it composes with any class weighting.
"""
from __future__ import annotations

import torch

from ..losses import BalancedSoftmaxLoss
from .base import Method, MethodOutput


class BLSoftmax(Method):
    name = "blsoftmax"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None):
        if class_counts is None:
            raise ValueError("BLSoftmax: needs class_counts (the training label distribution p_s)")
        super().__init__(feature_dim, num_classes, class_counts)
        self.balanced_softmax = BalancedSoftmaxLoss(self.class_counts)

    def per_sample_loss(self, output: MethodOutput, labels: torch.Tensor) -> torch.Tensor:
        return self.balanced_softmax(output.logits, labels)
