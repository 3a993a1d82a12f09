"""Backbones split into a feature extractor and a head, with the 64-d pooled features the pool stores.

Classification (App. F.2): the pool keeps the backbone's feature vector reduced to 64 dimensions by 1-D average
pooling. Metric learning: the model outputs a 64-d embedding, which the pool keeps as it is.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

POOL_DIM = 64


def pool_features(features: torch.Tensor, dim: int = POOL_DIM) -> torch.Tensor:
    """1-D average pooling of (B, D) features to (B, dim), detached (pool features carry no gradient)."""
    features = features.detach().flatten(1)
    if features.shape[1] == dim:
        return features
    return F.adaptive_avg_pool1d(features[:, None, :], dim).squeeze(1)


class SmallCNN(nn.Module):
    """Three conv blocks and a linear layer: sized for a few epochs of 28 x 28 images on 2 CPU cores."""

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


TORCHVISION_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnext50_32x4d", "vgg16", "densenet201", "googlenet")


def torchvision_backbone(name: str, in_channels: int = 3) -> nn.Module:
    """A torchvision architecture (random init, no download) with its classifier removed; `.out_features` set."""
    import torchvision.models as tvm

    if name not in TORCHVISION_BACKBONES:
        raise ValueError(f"backbone {name!r}: expected one of {('small_cnn',) + TORCHVISION_BACKBONES}")
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    net = getattr(tvm, name)(weights=None, **kwargs)
    if name.startswith(("resnet", "resnext")) or name == "googlenet":
        out = net.fc.in_features
        net.fc = nn.Identity()
        if in_channels != 3 and name != "googlenet":
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    elif name == "vgg16":
        out = net.classifier[-1].in_features
        net.classifier[-1] = nn.Identity()
    else:  # densenet
        out = net.classifier.in_features
        net.classifier = nn.Identity()
    if in_channels != 3 and name in ("vgg16", "densenet201", "googlenet"):
        net = nn.Sequential(nn.Conv2d(in_channels, 3, 1), net)  # lift grayscale to the 3 channels they expect
    net.out_features = out
    return net


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
    vector average-pooled to 64-d. task 'metric': outputs are a 64-d embedding; the loss holds the proxies.
    """

    def __init__(self, backbone: nn.Module, num_classes: int, task: str = "classification", head: str = "linear",
                 embedding_dim: int = POOL_DIM):
        super().__init__()
        self.backbone, self.task = backbone, task
        if task == "classification":
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


def build_network(backbone: str, num_classes: int, in_channels: int, task: str = "classification",
                  head: str = "linear", width: int = 32) -> Network:
    body = SmallCNN(in_channels, width) if backbone == "small_cnn" else torchvision_backbone(backbone, in_channels)
    return Network(body, num_classes, task, head)
