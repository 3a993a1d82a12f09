"""The paper's image augmentations, named per config, through torchvision.transforms.v2.

  none      no augmentation (Table 1, Figs. 2-4, App. D.2): the image as a float tensor in [0, 1], resized to
            image_size x image_size only when an image_size is given and differs
  cifar     training: a random image_size crop (32 for CIFAR) of the image zero-padded by 4 on each side, and a
            horizontal flip with probability 1/2; evaluation: as none
  imagenet  training: RandomResizedCrop(image_size) (scale 0.08-1, aspect 3/4-4/3) and a horizontal flip
            (Table 2-3, App. D.5.1's metric learning); evaluation: shorter side to image_size / 0.875 (256 for
            224), then the central image_size x image_size crop

Inputs are what semscale.data yields: a PIL image (file datasets) or an (H, W, C) / (H, W) uint8 or [0, 1] float
numpy array (in-memory ImageDataset); a (C, H, W) tensor is accepted too. image_size: an int side or (H, W). Output: a float32 (C, H, W) tensor in
[0, 1] with `channels` channels; input normalisation for pretrained weights lives in the model
(semscale.models.stems.PretrainedInput), so every pipeline here stays in [0, 1].

Randomness comes from torch's global generator, as in torchvision: a DataLoader seeds each worker from its own
generator, so a loader whose generator depends on (seed, epoch) replays the same augmentations on resume.
MixUp and CutMix act on whole batches (semscale.mixing.BatchMixer, re-exported here).
"""
from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms.v2 as v2
from PIL import Image

from .mixing import MIX_KINDS, BatchMixer, soft_targets

AUGMENTATIONS = ("none", "cifar", "imagenet")
CIFAR_PADDING = 4
IMAGENET_EVAL_CROP_FRACTION = 0.875  # 224 / 256, the usual ImageNet evaluation crop

__all__ = ["AUGMENTATIONS", "MIX_KINDS", "BatchMixer", "ToImageTensor", "build_transform", "soft_targets"]


class ToImageTensor:
    """PIL image / numpy array / tensor -> a (C, H, W) tensor with `channels` channels, dtype kept (uint8 or float).

    uint8 stays uint8 so that crops and resizes work on the compact type; the last step of every pipeline scales
    to float32 in [0, 1]. A grey image given to an RGB pipeline is repeated to R = G = B; PIL images are converted
    with PIL's own mode conversion (palette, RGBA, CMYK, L).
    """

    def __init__(self, channels: int):
        if channels not in (1, 3):
            raise ValueError(f"channels={channels}: image transforms handle 1 (grey) or 3 (RGB) channels")
        self.channels = channels

    def __call__(self, image) -> torch.Tensor:
        if isinstance(image, Image.Image):
            mode = "L" if self.channels == 1 else "RGB"
            array = np.array(image if image.mode == mode else image.convert(mode))  # a writable copy
            tensor = torch.from_numpy(np.ascontiguousarray(array)).reshape(array.shape[0], array.shape[1], -1)
            tensor = tensor.permute(2, 0, 1)
        elif isinstance(image, np.ndarray):
            if image.ndim == 2:
                image = image[:, :, None]
            if image.ndim != 3:
                raise ValueError(f"image array of shape {image.shape}: expected (H, W) or (H, W, C)")
            if image.dtype != np.uint8:
                image = image.astype(np.float32, copy=False)
            tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        elif isinstance(image, torch.Tensor) and image.ndim == 3:
            tensor = image if image.dtype == torch.uint8 else image.float()
        else:
            raise TypeError(f"image of type {type(image).__name__}: expected a PIL image, an (H, W[, C]) numpy "
                            f"array or a (C, H, W) tensor")
        if tensor.shape[0] == self.channels:
            return tensor
        if tensor.shape[0] == 1 and self.channels == 3:
            return tensor.expand(3, -1, -1)
        raise ValueError(f"image with {tensor.shape[0]} channels given to a transform for {self.channels}; "
                         f"set the dataset's channels to {tensor.shape[0]} or convert the images")


class ScaleTo01:
    """uint8 -> float32 x / 255 (the division semscale.sample_space.pixels01 does, so that "none" gives the in-memory
    path's exact values; v2.ToDtype multiplies by 1 / 255 and differs in the last bit); float -> float32 as is.
    Returns a plain tensor (v2 hands back tv_tensors.Image)."""

    def __call__(self, image):
        image = image.as_subclass(torch.Tensor)
        return image.to(torch.float32) / 255.0 if image.dtype == torch.uint8 else image.to(torch.float32)


def output_size(image_size, augment: str) -> tuple[int, int]:
    """(H, W) from an int side or an (H, W) pair; 'cifar' and 'imagenet' need one."""
    if image_size is None:
        raise ValueError(f"augment {augment!r} needs image_size: the side (e.g. 32, 224) or (H, W) of the images "
                         f"it produces")
    height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"image_size={image_size!r}: sides must be positive")
    return int(height), int(width)


def augmentation_steps(augment: str, image_size, train: bool) -> list:
    """The v2 transforms between conversion and scaling, for one named augmentation."""
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment {augment!r}: expected one of {', '.join(AUGMENTATIONS)}")
    if augment == "imagenet":
        size = output_size(image_size, augment)
        if train:
            return [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
        # the shorter side to min(size) / 0.875, then the central crop
        return [v2.Resize(round(min(size) / IMAGENET_EVAL_CROP_FRACTION), antialias=True), v2.CenterCrop(size)]
    if augment == "cifar" and train:
        return [v2.RandomCrop(output_size(image_size, augment), padding=CIFAR_PADDING), v2.RandomHorizontalFlip()]
    # none, and cifar's evaluation: at most a deterministic resize to the configured size (a no-op when it matches)
    return [] if image_size is None else [v2.Resize(output_size(image_size, augment), antialias=True)]


def build_transform(augment: str, image_size, channels: int, train: bool) -> v2.Compose:
    """The per-sample transform for a dataset: image -> float32 (channels, H, W) in [0, 1] (module docstring)."""
    steps = augmentation_steps(augment, image_size, train)
    return v2.Compose([ToImageTensor(channels), v2.ToImage(), *steps, ScaleTo01()])
