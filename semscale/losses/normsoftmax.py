"""NormSoftmax (Zhai & Wu), paper Eq. 5, per sample."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class NormSoftmaxLoss(nn.Module):
    """Eq. 5 without the 1/S: softmax over cosine similarities to class proxies divided by a temperature.

    Proxies are stored as (dim, C), the layout of pytorch-metric-learning's NormalizedSoftmaxLoss.
    """

    def __init__(self, num_classes: int, dim: int, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature
        self.proxies = nn.Parameter(torch.empty(dim, num_classes))
        nn.init.kaiming_uniform_(self.proxies, a=math.sqrt(5))

    def logits(self, embeddings):
        return F.normalize(embeddings, dim=1) @ F.normalize(self.proxies, dim=0) / self.temperature

    def forward(self, embeddings, labels):
        return F.cross_entropy(self.logits(embeddings), labels, reduction="none")
