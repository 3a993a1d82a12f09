"""Focal loss (Lin et al.), per sample."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F


class FocalLoss(nn.Module):
    """-(1 - p_t)^gamma log p_t; the class weight alpha_t comes from the weighting (DSB-Focal: alpha_t = 1/S)."""

    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits, labels):
        log_pt = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        return -((1.0 - log_pt.exp()).clamp(min=0) ** self.gamma) * log_pt
