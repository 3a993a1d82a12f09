"""LADE (Hong et al. 2021, "Disentangling Label Distribution for Long-tailed Visual Recognition"), Table 2's LADE row.

The model's logits f(x) are read as estimates of log p_t(x | y) / p_t(x) under a uniform target label distribution,
so the training prior p_s(y) is disentangled from them:

  LADE-CE (per sample):  -log softmax_y(f(x) + log p_s)      (the PC-softmax / balanced cross-entropy; the same per-
                          sample number as Balanced Softmax, since adding log n_j or log n_j / N shifts every logit of
                          a row by one constant)
  LADER (batch level):   -sum_y alpha_y [ DV_y - lambda * (log E_{x~batch} exp(f_y(x) - log p_s(y) + log p_t(y)))^2 ]
      DV_y = (1/N_y) sum_{i: y_i = y} f_y(x_i) - log (1/N) sum_{i=1..N} exp(f_y(x_i) - log p_s(y) + log p_t(y))
  the Donsker-Varadhan lower bound of KL(p_t(x|y) || p_t(x)) estimated on the batch (first term over the N_y samples
  of class y, second over all N samples, importance-weighted from p_s to p_t), minus the ReMINE regulariser (the
  squared second term times lambda). alpha_y = p_s(y) = n_y / sum n (the class weights of the authors' release).
  Classes absent from a batch keep their second term and a first term of 0, as in the release.
  total = LADE-CE + weight * LADER
  Inference, PC softmax: logits - log p_s(y) + log p_t(y) (p_t uniform unless given).

Defaults and where they come from (the authors' release, hyperconnect/LADE, README and config/*/lade.yaml):
  weight (their --alpha) 0.1 with lambda (--remine_lambda) 0.1: the configs' defaults; the README's runs use
  CIFAR-100-LT weight 0.1 / lambda 0.01, ImageNet-LT 0.05 / 0.5, iNaturalist-2018 0.05 / 0.1, Places-LT 0.005 / 0.1.

DSB: LADE-CE is a sum of per-sample terms, so `forward` returns it per sample and the weighting (CB, DSB) multiplies
it (DSB-LADE = the DSB class weights on LADE-CE). LADER is not: its second term, a log-mean-exp over the whole batch,
belongs to no sample, and it already carries its own class weights alpha_y; it is a batch-level term (`extra_loss`),
never re-weighted.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .balanced_softmax import BalancedSoftmaxLoss


def log_prior(class_counts) -> torch.Tensor:
    """log p(y) = log(n_y / sum n); counts below 1 are clamped to 1 so that an empty class stays finite."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64).clamp(min=1)
    return (counts / counts.sum()).log()


def pc_softmax_logits(logits: torch.Tensor, source_log_prior: torch.Tensor,
                      target_log_prior: torch.Tensor | None = None) -> torch.Tensor:
    """PC softmax (LADE Sec. 3): f(x) - log p_s(y) + log p_t(y); p_t uniform when target_log_prior is None."""
    num_classes = logits.shape[1]
    if source_log_prior.shape != (num_classes,):
        raise ValueError(f"pc_softmax_logits: source prior has shape {tuple(source_log_prior.shape)}, "
                         f"expected ({num_classes},) for logits of {num_classes} classes")
    if target_log_prior is None:
        target_log_prior = logits.new_full((num_classes,), -math.log(num_classes))
    return logits - source_log_prior.to(logits) + target_log_prior.to(logits)


class LADELoss(nn.Module):
    """LADE-CE per sample (`forward`), LADER per batch (`extra_loss`), PC softmax at inference (`adjust_logits`).

    The current Trainer adds `regularizer()` after `forward`; it returns weight * LADER of the latest forward's
    batch, so LADE trains whole there too. An engine that calls `extra_loss(logits, labels)` directly should not
    also add `regularizer()`.
    """

    def __init__(self, class_counts, weight: float = 0.1, remine_lambda: float = 0.1, target_counts=None):
        super().__init__()
        counts = torch.as_tensor(class_counts, dtype=torch.float64)
        if counts.ndim != 1 or len(counts) < 2:
            raise ValueError(f"LADELoss: class_counts must list one count per class (2 or more), got {counts.shape}")
        self.num_classes, self.weight, self.remine_lambda = len(counts), weight, remine_lambda
        self.ce = BalancedSoftmaxLoss(counts)
        self.register_buffer("source_log_prior", log_prior(counts).float())
        self.register_buffer("class_weight", self.source_log_prior.exp())  # alpha_y = p_s(y)
        target = torch.ones(self.num_classes) if target_counts is None else target_counts
        self.register_buffer("target_log_prior", log_prior(target).float())
        self._last_lader = None

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B,) LADE-CE; also keeps weight * LADER of this batch for `regularizer()`."""
        self._last_lader = self.extra_loss(logits, labels)
        return self.ce(logits, labels)

    def dv_terms(self, logits: torch.Tensor, labels: torch.Tensor):
        """Per class (C,): the DV bound's first term (mean f_y over class-y samples) and second term."""
        one_hot = F.one_hot(labels, self.num_classes).to(logits.dtype)  # (N, C)
        per_class = one_hot.sum(0)
        first = (logits * one_hot).sum(0) / per_class.clamp(min=1)
        shifted = logits - self.source_log_prior.to(logits) + self.target_log_prior.to(logits)
        second = torch.logsumexp(shifted, dim=0) - math.log(len(labels))
        return first, second

    def lader(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """LADER (unweighted by `weight`): -sum_y alpha_y (DV_y - lambda * second_y^2)."""
        first, second = self.dv_terms(logits, labels)
        bound = first - second - self.remine_lambda * second ** 2
        return -(self.class_weight.to(logits) * bound).sum()

    def extra_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.weight * self.lader(logits, labels)

    def regularizer(self) -> torch.Tensor:
        if self._last_lader is None:
            raise RuntimeError("LADELoss.regularizer(): call the loss on a batch first (it returns that batch's LADER)")
        lader, self._last_lader = self._last_lader, None
        return lader

    def adjust_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Inference logits: PC softmax with this loss's source and target priors."""
        return pc_softmax_logits(logits, self.source_log_prior, self.target_log_prior)
