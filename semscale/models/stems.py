"""What the backbone's first layers see: the CIFAR stem for small images, grey inputs, pretrained normalisation.

CIFAR stem: the CIFAR long-tail literature (LDAM, BBN, ...) trains ResNets on 32 x 32 images with conv1 a 3 x 3
convolution of stride 1 and no max-pool, so that layer1 keeps the full 32 x 32 resolution instead of 8 x 8.
Rule for stem="auto": the CIFAR stem when the backbone has a ResNet stem (RESNET_FAMILY) and the input is known to be
at most 32 pixels on both sides (image_size given); otherwise the architecture's own ImageNet stem. Without an
image_size, "auto" keeps the ImageNet stem, so a caller that does not say its input size gets the torchvision model.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .architectures import RESNET_FAMILY, check_backbone_name

STEMS = ("auto", "cifar", "imagenet")
CIFAR_STEM_MAX_SIZE = 32


def image_hw(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = image_size
    return int(height), int(width)


def resolve_stem(stem: str, backbone: str, image_size=None) -> str:
    """'cifar' or 'imagenet' for this backbone (see the module docstring for the "auto" rule)."""
    check_backbone_name(backbone)
    if stem not in STEMS:
        raise ValueError(f"stem {stem!r}: expected one of {', '.join(STEMS)}")
    has_resnet_stem = backbone in RESNET_FAMILY
    if stem == "cifar" and not has_resnet_stem:
        raise ValueError(f"stem 'cifar' applies to the ResNet family ({', '.join(RESNET_FAMILY)}), "
                         f"not to {backbone!r}; use stem='imagenet' or 'auto'")
    if stem != "auto":
        return stem
    size = image_hw(image_size)
    small = size is not None and max(size) <= CIFAR_STEM_MAX_SIZE
    return "cifar" if has_resnet_stem and small else "imagenet"


def apply_cifar_stem(net: nn.Module, in_channels: int) -> None:
    """conv1 -> 3 x 3, stride 1, padding 1 (freshly initialised), max-pool -> identity; in place.

    Works for torchvision's ResNet/ResNeXt and timm's ResNet (SE-ResNet-50): both name the stem conv1 and maxpool.
    """
    old = net.conv1
    net.conv1 = nn.Conv2d(in_channels, old.out_channels, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.maxpool = nn.Identity()


def replace_input_channels(net: nn.Module, backbone: str, in_channels: int) -> nn.Module:
    """A randomly initialised backbone that takes `in_channels` inputs.

    ResNet family: conv1 rebuilt with the new input width (same kernel, stride, padding). The others: a learned
    1 x 1 convolution lifts the input to the 3 channels they expect.
    """
    if in_channels == 3:
        return net
    if backbone in RESNET_FAMILY:
        old = net.conv1
        net.conv1 = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        return net
    lifted = nn.Sequential(nn.Conv2d(in_channels, 3, 1), net)
    lifted.out_features = net.out_features
    return lifted


class PretrainedInput(nn.Module):
    """Inputs in [0, 1] -> what ImageNet weights were trained on: (x - mean) / std per RGB channel.

    A grey input (1 channel) is repeated to R = G = B first, exactly as if the grey image were given as RGB. Putting
    this in the model keeps every data pipeline in [0, 1] (semscale.transforms), pretrained or not.
    """

    def __init__(self, in_channels: int, mean, std):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"pretrained ImageNet weights take 1 (grey) or 3 (RGB) input channels, not {in_channels}")
        self.in_channels = in_channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std
