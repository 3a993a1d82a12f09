"""MixUp and CutMix on a batch (Table 3), driven by a torch.Generator so that a resumed run replays the same mixing.

MixUp (Zhang et al. 2018): x = lam x_i + (1 - lam) x_perm(i), lam ~ Beta(alpha, alpha), one lam per batch.
CutMix (Yun et al. 2019): a box of area ratio 1 - lam0 (lam0 ~ Beta(alpha, alpha)), centred uniformly over the image
and clipped to it, is pasted from x_perm(i) into x_i; lam is then the exact fraction of x_i's pixels left,
1 - (clipped box area) / (H W), as the CutMix reference code recomputes it.
mixup_cutmix: each batch is mixed by one of the two with probability 1/2 (timm's and torchvision's default switch).

The loss of a mixed batch is lam * L(z, labels_a) + (1 - lam) * L(z, labels_b); with class weights (DSB, CB, ...)
see semscale.weighting.mixed_weighted_mean.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MIX_KINDS = ("none", "mixup", "cutmix", "mixup_cutmix")


def soft_targets(labels_a: torch.Tensor, labels_b: torch.Tensor, lam, num_classes: int) -> torch.Tensor:
    """(B, C) targets lam * onehot(a) + (1 - lam) * onehot(b), for losses that take probabilities."""
    lam = torch.as_tensor(lam, dtype=torch.float32, device=labels_a.device).reshape(-1, 1)
    return lam * F.one_hot(labels_a, num_classes).float() + (1 - lam) * F.one_hot(labels_b, num_classes).float()


def cutmix_box(height: int, width: int, lam0: float, centre_y: int, centre_x: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the box of side ratio sqrt(1 - lam0) centred at (centre_y, centre_x), clipped."""
    ratio = math.sqrt(1.0 - lam0)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    top, bottom = max(centre_y - cut_h // 2, 0), min(centre_y + cut_h // 2, height)
    left, right = max(centre_x - cut_w // 2, 0), min(centre_x + cut_w // 2, width)
    return top, bottom, left, right


class BatchMixer:
    """mixer(images, labels, generator) -> (images, labels_a, labels_b, lam).

    kind: 'mixup' | 'cutmix' | 'mixup_cutmix' ('none' returns the batch unchanged with lam = 1). alpha: the Beta
    distribution's parameter (MixUp's papers use 0.2-1, CutMix 1). labels_a are the batch's own labels, labels_b
    those of the images mixed in; lam is a Python float, the share of labels_a. Every random draw comes from
    `generator` (a CPU or a device generator), so the same generator state gives the same mixing.
    """

    def __init__(self, kind: str, alpha: float = 1.0, num_classes: int | None = None):
        if kind not in MIX_KINDS:
            raise ValueError(f"mixing kind {kind!r}: expected one of {', '.join(MIX_KINDS)}")
        if kind != "none" and not alpha > 0:
            raise ValueError(f"mixing alpha={alpha!r}: the Beta(alpha, alpha) parameter must be positive")
        self.kind, self.alpha, self.num_classes = kind, float(alpha), num_classes

    def __repr__(self):
        return f"BatchMixer(kind={self.kind!r}, alpha={self.alpha}, num_classes={self.num_classes})"

    def _uniform(self, generator: torch.Generator) -> float:
        return torch.rand((), generator=generator, device=generator.device).item()

    def _beta(self, generator: torch.Generator) -> float:
        # torch's Beta sampler takes no generator: draw a seed from it for numpy's, so the draw stays replayable.
        seed = int(torch.randint(0, 2 ** 62, (), generator=generator, device=generator.device).item())
        return float(np.random.default_rng(seed).beta(self.alpha, self.alpha))

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator):
        if images.ndim != 4 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"mixing expects (B, C, H, W) images and (B,) labels, got {tuple(images.shape)} and "
                             f"{tuple(labels.shape)}")
        # Checked on host labels only: reading device labels would stall the GPU every step (the Trainer's labels
        # are checked when the dataset is loaded).
        if self.num_classes is not None and labels.device.type == "cpu" and labels.numel() and \
                int(labels.max()) >= self.num_classes:
            raise ValueError(f"label {int(labels.max())} out of range for num_classes={self.num_classes}")
        if self.kind == "none":
            return images, labels, labels, 1.0
        kind = self.kind
        if kind == "mixup_cutmix":
            kind = "mixup" if self._uniform(generator) < 0.5 else "cutmix"
        perm = torch.randperm(images.shape[0], generator=generator, device=generator.device).to(images.device,
                                                                                                non_blocking=True)
        lam0 = self._beta(generator)
        if kind == "mixup":
            mixed = images.mul(lam0).add_(images[perm], alpha=1.0 - lam0)
            return mixed, labels, labels[perm.to(labels.device)], lam0
        height, width = images.shape[-2:]
        centre_y = int(torch.randint(0, height, (), generator=generator, device=generator.device).item())
        centre_x = int(torch.randint(0, width, (), generator=generator, device=generator.device).item())
        top, bottom, left, right = cutmix_box(height, width, lam0, centre_y, centre_x)
        mixed = images.clone()
        mixed[:, :, top:bottom, left:right] = images[perm, :, top:bottom, left:right]
        lam = 1.0 - (bottom - top) * (right - left) / (height * width)
        return mixed, labels, labels[perm.to(labels.device)], lam
