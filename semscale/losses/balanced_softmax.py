"""Balanced Softmax (Ren et al. 2020), per sample."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class BalancedSoftmaxLoss(nn.Module):
    """Cross-entropy on logits + log n_j."""

    def __init__(self, class_counts):
        super().__init__()
        counts = torch.as_tensor(class_counts, dtype=torch.float32).clamp(min=1)
        self.register_buffer("log_prior", counts.log())

    def forward(self, logits, labels):
        return F.cross_entropy(logits + self.log_prior, labels, reduction="none")
