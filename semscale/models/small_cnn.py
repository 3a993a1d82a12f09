"""The quick profile's backbone: small enough for a few epochs of 28 x 28 images on 2 CPU cores."""
from __future__ import annotations

import torch.nn as nn


class SmallCNN(nn.Module):
    """Three conv blocks and a linear layer; `out_features` is the feature width the head sees."""

    def __init__(self, in_channels: int = 1, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8 * width, feature_dim), nn.ReLU())
        self.out_features = feature_dim

    def forward(self, x):
        return self.body(x)
