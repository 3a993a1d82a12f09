"""The paper's backbones by name: the ImageNet architecture as its package defines it, and how to take its head off.

torchvision: ResNet-18/34/50, ResNeXt-50 (32x4d), ResNeXt-101 (32x8d, the variant torchvision ships), VGG-16,
DenseNet-201, GoogLeNet. SE-ResNet-50 comes from timm (maintained; torchvision has none) and BN-Inception
(Ioffe & Szegedy 2015, App. D.5.1's metric-learning backbone) from pytorchcv: neither torchvision nor timm has it
and pytorchcv is maintained (release 0.0.74, 2026). timm and pytorchcv are imported only when their backbone is
built, so `import semscale` does not pay for them.
"""
from __future__ import annotations

import torch.nn as nn

TORCHVISION_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnext50_32x4d", "resnext101_32x8d", "vgg16",
                         "densenet201", "googlenet")
PACKAGE_BACKBONES = {"seresnet50": "timm", "bninception": "pytorchcv"}
BACKBONES = ("small_cnn",) + TORCHVISION_BACKBONES + tuple(PACKAGE_BACKBONES)
# Backbones with a ResNet stem (conv1 7x7 stride 2, then a 3x3 max-pool): the ones the CIFAR stem applies to.
RESNET_FAMILY = ("resnet18", "resnet34", "resnet50", "resnext50_32x4d", "resnext101_32x8d", "seresnet50")


def check_backbone_name(name: str) -> None:
    if name not in BACKBONES:
        raise ValueError(f"backbone {name!r}: expected one of {', '.join(BACKBONES)}")


def source_of(name: str) -> str:
    """'torchvision', 'timm' or 'pytorchcv': the package that defines the architecture and its weights."""
    check_backbone_name(name)
    return PACKAGE_BACKBONES.get(name, "torchvision")


def imagenet_architecture(name: str, pretrained: bool = False) -> nn.Module:
    """The 1000-class ImageNet model with random weights (nothing is downloaded here).

    `pretrained` only sets what the weights file needs: torchvision's GoogLeNet weights expect its `transform_input`
    (they were trained on inputs normalised to [-1, 1]; the flag converts from the ImageNet mean/std normalisation).
    """
    source = source_of(name)
    if source == "torchvision":
        import torchvision.models as tvm

        kwargs = {}
        if name == "googlenet":
            kwargs = {"aux_logits": False, "init_weights": not pretrained, "transform_input": pretrained}
        return getattr(tvm, name)(weights=None, **kwargs)
    if source == "timm":
        import timm

        return timm.create_model(name, pretrained=False)
    from pytorchcv.models.bninception import bninception

    return bninception(pretrained=False)


def remove_classifier(net: nn.Module, name: str) -> int:
    """Replace the ImageNet classifier by the identity, in place; return the width of the features left.

    BN-Inception's fixed 7 x 7 average pool becomes a global one, so that inputs smaller than 224 work.
    """
    source = source_of(name)
    if source == "timm":
        net.reset_classifier(0)
        return net.num_features
    if source == "pytorchcv":
        width = net.output.in_features
        net.features.final_pool = nn.AdaptiveAvgPool2d(1)
        net.output = nn.Identity()
        return width
    if name == "vgg16":
        width = net.classifier[-1].in_features
        net.classifier[-1] = nn.Identity()
    elif name == "densenet201":
        width = net.classifier.in_features
        net.classifier = nn.Identity()
    else:  # ResNet, ResNeXt, GoogLeNet
        width = net.fc.in_features
        net.fc = nn.Identity()
    return width
