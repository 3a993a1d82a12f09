"""LDAM (Cao et al. 2019), per sample."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class LDAMLoss(nn.Module):
    """Label-distribution-aware margin: subtract m_y = c / n_y^(1/4) (max margin 0.5) from the true logit, scale by s."""

    def __init__(self, class_counts, max_margin: float = 0.5, scale: float = 30.0):
        super().__init__()
        counts = torch.as_tensor(class_counts, dtype=torch.float64).clamp(min=1)
        margins = counts.pow(-0.25)
        self.register_buffer("margins", (margins * (max_margin / margins.max())).float())
        self.scale = scale

    def forward(self, logits, labels):
        shifted = logits - F.one_hot(labels, logits.shape[1]).to(logits.dtype) * self.margins[labels][:, None]
        return F.cross_entropy(self.scale * shifted, labels, reduction="none")
