"""Backbone plus head, returning the outputs and the pool features (paper Sec. 4.2, App. F.2)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .pooling import POOL_DIM, pool_features


class CosineClassifier(nn.Module):
    """Normalised linear layer (cosine logits), the head LDAM is published with."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, num_classes).uniform_(-1, 1).renorm_(2, 1, 1e-5))

    def forward(self, x):
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


class Network(nn.Module):
    """Backbone plus head. forward(x) -> (outputs, pool features).

    task 'classification': outputs are logits from a linear (or cosine) head; pool features are the backbone's
    vector average-pooled to 64-d (App. F.2). task 'metric': outputs are a 64-d embedding from one linear layer
    after global average pooling (App. D.5.1); the pool keeps the embedding itself and the loss holds the proxies.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, task: str = "classification", head: str = "linear",
                 embedding_dim: int = POOL_DIM):
        super().__init__()
        self.backbone, self.task = backbone, task
        if task == "classification":
            if head not in ("linear", "cosine"):
                raise ValueError(f"head {head!r}: expected 'linear' or 'cosine'")
            cls = CosineClassifier if head == "cosine" else nn.Linear
            self.head = cls(backbone.out_features, num_classes)
        elif task == "metric":
            self.head = nn.Linear(backbone.out_features, embedding_dim)
        else:
            raise ValueError(f"task {task!r}: expected 'classification' or 'metric'")

    def forward(self, x):
        features = self.backbone(x)
        outputs = self.head(features)
        return outputs, pool_features(outputs if self.task == "metric" else features)
