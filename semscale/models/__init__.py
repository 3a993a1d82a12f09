"""Backbones split into a feature extractor and a head, with the 64-d pooled features the pool stores.

Classification (App. F.2): the pool keeps the backbone's feature vector reduced to 64 dimensions by 1-D average
pooling. Metric learning (App. D.5.1): the model outputs a 64-d embedding, which the pool keeps as it is.

  pooling.py        POOL_DIM, pool_features
  small_cnn.py      the quick profile's SmallCNN
  network.py        Network (backbone + head -> outputs, pool features), CosineClassifier
  architectures.py  the paper's backbones by name (torchvision, timm's SE-ResNet-50, pytorchcv's BN-Inception)
  stems.py          the CIFAR stem and its "auto" rule, grey inputs, the pretrained input normalisation
  pretrained.py     ImageNet weights from the packages' caches or a file; the one message when missing
"""
from __future__ import annotations

import torch.nn as nn

from .architectures import (BACKBONES, PACKAGE_BACKBONES, RESNET_FAMILY, TORCHVISION_BACKBONES, check_backbone_name,
                            imagenet_architecture, remove_classifier)
from .network import CosineClassifier, Network
from .pooling import POOL_DIM, pool_features
from .pretrained import load_into, resolve_pretrained
from .small_cnn import SmallCNN
from .stems import PretrainedInput, apply_cifar_stem, replace_input_channels, resolve_stem

__all__ = ["BACKBONES", "POOL_DIM", "RESNET_FAMILY", "TORCHVISION_BACKBONES", "PACKAGE_BACKBONES", "CosineClassifier",
           "Network", "SmallCNN", "build_backbone", "build_network", "pool_features", "torchvision_backbone"]


class _Prefixed(nn.Sequential):
    """An input adapter followed by the backbone; keeps the backbone's `out_features`."""

    def __init__(self, adapter: nn.Module, body: nn.Module):
        super().__init__(adapter, body)
        self.out_features = body.out_features


def build_backbone(name: str, in_channels: int = 3, pretrained=None, stem: str = "auto", image_size=None,
                   width: int = 32) -> nn.Module:
    """A feature extractor by name with `.out_features` set; see build_network for the arguments."""
    check_backbone_name(name)
    if name == "small_cnn":
        if pretrained is not None:
            resolve_pretrained(name, pretrained)  # raises: no weights exist
        if stem not in ("auto", "imagenet"):
            raise ValueError(f"stem {stem!r} does not apply to 'small_cnn'; use stem='auto'")
        return SmallCNN(in_channels, width)
    chosen_stem = resolve_stem(stem, name, image_size)
    net = imagenet_architecture(name, pretrained=pretrained is not None)
    if pretrained is not None:
        state, mean, std = resolve_pretrained(name, pretrained)
        load_into(net, state, name)
    net.out_features = remove_classifier(net, name)
    # Pretrained weights see RGB normalised inputs: the adapter repeats grey to RGB, so the body keeps 3 channels.
    body_channels = 3 if pretrained is not None else in_channels
    if chosen_stem == "cifar":
        apply_cifar_stem(net, body_channels)
    else:
        net = replace_input_channels(net, name, body_channels)
    if pretrained is not None:
        net = _Prefixed(PretrainedInput(in_channels, mean, std), net)
    return net


def torchvision_backbone(name: str, in_channels: int = 3) -> nn.Module:
    """A torchvision architecture (random init, ImageNet stem, no download) with its classifier removed."""
    if name not in TORCHVISION_BACKBONES:
        raise ValueError(f"backbone {name!r}: expected one of {', '.join(TORCHVISION_BACKBONES)}")
    return build_backbone(name, in_channels, stem="imagenet")


def build_network(backbone: str, num_classes: int, in_channels: int, task: str = "classification",
                  head: str = "linear", width: int = 32, pretrained=None, stem: str = "auto",
                  image_size=None, embedding_dim: int = POOL_DIM) -> Network:
    """Backbone + head; forward(x) -> (outputs, 64-d pool features).

    backbone    one of BACKBONES: 'small_cnn' (width = its channels) or a paper backbone (architectures.py)
    pretrained  None (random init), 'imagenet' (the package's cached weights; a missing file raises one message
                naming the URL and where to save it), or a path to a .pth / .safetensors state dict
    stem        'auto' | 'cifar' | 'imagenet' (stems.py); 'auto' picks the CIFAR stem for the ResNet family when
                image_size (int or (H, W)) is at most 32 x 32; with pretrained weights the CIFAR stem's 3 x 3
                conv1 starts from random weights (the 7 x 7 ImageNet kernel does not fit) and the rest is loaded
    embedding_dim  task 'metric' only: the embedding width (App. D.5.1 reports 64 and 512; the pool keeps 64)
    """
    body = build_backbone(backbone, in_channels, pretrained, stem, image_size, width)
    return Network(body, num_classes, task, head, embedding_dim)
