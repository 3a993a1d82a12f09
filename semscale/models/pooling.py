"""The 64-d pool features of App. F.2: the backbone's feature vector reduced by 1-D average pooling."""
from __future__ import annotations

import torch
import torch.nn.functional as F

POOL_DIM = 64


def pool_features(features: torch.Tensor, dim: int = POOL_DIM) -> torch.Tensor:
    """1-D average pooling of (B, D) features to (B, dim), detached (pool features carry no gradient).

    When D is a multiple of `dim` the windows are the D / dim consecutive entries; otherwise they are
    adaptive_avg_pool1d's windows [floor(i D / dim), ceil((i + 1) D / dim)).
    """
    features = features.detach().flatten(1)
    if features.shape[1] == dim:
        return features
    return F.adaptive_avg_pool1d(features[:, None, :], dim).squeeze(1)
