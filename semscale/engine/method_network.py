"""A backbone with a `semscale.methods` Method as its head, and the per-class samplers the methods ask for.

TrainConfig.method replaces the Network's head by the method (semscale/methods/base.py is the contract):

    features = backbone(images)                  pool features are made from these, as for the plain Network
    training:   output = method(features, labels[, second=(backbone(images2), labels2)])
    evaluation: logits = method.predict(method(features))          (the (outputs, pooled) pair `predict` reads)

Per-class sampling (cRT/LWS stage 2, RIDE's router, BBN's reversed branch, IFL's second environment): an epoch's
order of N draws, each a class from the method's probabilities and then an instance uniformly within it, from a
generator seeded by (seed, epoch, stream) only, so a resumed run draws what an uninterrupted one draws.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..models import pool_features
from .loader import derived_seed

# Seed streams of the per-class orders (derived_seed(seed, epoch, stream)): the main order and the second batch.
MAIN_STREAM, SECOND_STREAM = 11, 12


class MethodNetwork(nn.Module):
    """Backbone + method; forward(images) -> (method.predict logits, pool features) like models.Network."""

    task = "classification"

    def __init__(self, backbone: nn.Module, method: nn.Module):
        super().__init__()
        self.backbone, self.method = backbone, method

    def forward(self, images, labels=None, second=None, **method_inputs):
        """method_inputs: what an engine computes for the method besides the features (DiVE's teacher_logits)."""
        features = self.backbone(images)
        pooled = pool_features(features)
        if labels is None:
            return self.method.predict(self.method(features)), pooled
        if second is None:
            return self.method(features, labels, **method_inputs), pooled
        second_images, second_labels = second
        output = self.method(features, labels, second=(self.backbone(second_images), second_labels))
        return output, pooled

    def freeze_backbone(self, frozen: bool) -> None:
        """A decoupled second stage (trains_backbone False): no gradients, batch-norm statistics kept (eval mode)."""
        self.backbone.requires_grad_(not frozen)
        if frozen:
            self.backbone.eval()
            for parameter in self.backbone.parameters():
                parameter.grad = None   # stage 1's last gradients: nothing may read them as current


def class_sampled_order(labels: torch.Tensor, class_probs, seed: int, epoch: int, stream: int,
                        instance_weights=None) -> torch.Tensor:
    """len(labels) indices: a class drawn from `class_probs` per index, then a member of it uniformly, or, with
    `instance_weights` (N,), member i of class c with probability w_i / sum_{j in c} w_j (IFL's second environment).

    Classes without training samples get probability 0 (the rest renormalised): there is nothing of them to draw.
    """
    labels = labels.cpu()
    num_classes = len(class_probs)
    probs = torch.as_tensor(class_probs, dtype=torch.float64).cpu().clone()
    if probs.shape != (num_classes,) or (probs < 0).any():
        raise ValueError(f"per-class sampling weights: expected {num_classes} non-negative values, got {class_probs}")
    counts = torch.bincount(labels, minlength=num_classes)
    probs[counts == 0] = 0.0
    if probs.sum() <= 0:
        raise ValueError("per-class sampling weights: no class with training samples has a positive weight")
    generator = torch.Generator().manual_seed(derived_seed(seed, epoch, stream))
    if instance_weights is not None:
        weights = torch.as_tensor(instance_weights, dtype=torch.float64).cpu()
        if weights.shape != labels.shape or (weights < 0).any():
            raise ValueError(f"per-sample sampling weights: expected {len(labels)} non-negative values")
        class_sums = torch.zeros(num_classes, dtype=torch.float64).index_add_(0, labels, weights)
        per_sample = probs[labels] * weights / class_sums[labels].clamp_min(1e-300)
        return torch.multinomial(per_sample, len(labels), replacement=True, generator=generator)
    classes = torch.multinomial(probs, len(labels), replacement=True, generator=generator)
    members = torch.argsort(labels, stable=True)                 # dataset indices grouped by class
    starts = torch.cumsum(counts, 0) - counts
    within = (torch.rand(len(labels), generator=generator, dtype=torch.float64) * counts[classes]).long()
    return members[starts[classes] + within]


def method_loss(method, output, labels: torch.Tensor, class_weights) -> torch.Tensor:
    """base.py's step: weighted_mean(per-sample terms, their classes, class weights) + the batch-level terms."""
    from ..weighting import weighted_mean

    return (weighted_mean(method.per_sample_loss(output, labels), method.loss_labels(output, labels), class_weights)
            + method.extra_loss(output, labels))
