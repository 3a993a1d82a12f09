"""Deconfound-TDE (Tang et al. 2020, "Long-Tailed Classification by Keeping the Good and Removing the Bad Momentum
Causal Effect"; Table 11 of the paper).

Training (Tang Eq. 7, the causal normalised classifier, de-confounded by K multi-head normalisation): the feature x
and every class weight w_j are split into K heads x^k, w_j^k and

    logits_j(x) = (tau / K) * sum_k  (w_j^k)^T x^k / ((||w_j^k|| + gamma) * ||x^k||)

trained with plain cross-entropy, instance-balanced sampling. The SGD momentum's mediator is tracked as the moving
average of the batch-mean feature, d <- mu * d + (1 - mu) * mean_batch(x) (only its direction is used).
Inference (Tang Eq. 10, total direct effect): the counterfactual effect of the head direction is subtracted per head,

    TDE_j(x) = logits_j(x) - alpha * (tau / K) * sum_k cos(x^k, d^k) * (w_j^k)^T d^k / ((||w_j^k|| + gamma) ||d^k||)

i.e. the classifier applied to x^k / ||x^k|| - alpha * cos(x^k, d^k) * d^k / ||d^k||.
Defaults K = 2, tau = 16, gamma = 1/32, alpha = 3, mu = 0.9: the authors' release for ImageNet-LT
(KaihuaTang/Long-Tailed-Recognition.pytorch, causal_norm_classifier; the GLT benchmark's ClassifierTDE uses the same
numbers). Tang's paper tunes alpha per dataset (alpha = 3 on ImageNet-LT; smaller on CIFAR-LT).

DSB: the training loss is per-sample cross-entropy on the causal logits, so DSB multiplies it by the weight of each
sample's class (DSB-TDE). The moving-average direction d is an unweighted batch statistic (the momentum mediator
itself), so it is left unweighted; the inference adjustment has no weights.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Method, MethodOutput


class TDE(Method):
    name = "tde"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, heads: int = 2, tau: float = 16.0,
                 gamma: float = 1.0 / 32, alpha: float = 3.0, momentum: float = 0.9):
        super().__init__(feature_dim, num_classes, class_counts)
        if feature_dim % heads:
            raise ValueError(f"TDE: feature_dim {feature_dim} is not divisible by heads={heads}")
        self.heads, self.tau, self.gamma, self.alpha, self.momentum = heads, tau, gamma, alpha, momentum
        del self.head  # the causal classifier replaces the linear head
        self.weight = nn.Parameter(torch.empty(num_classes, feature_dim).uniform_(-feature_dim ** -0.5,
                                                                                  feature_dim ** -0.5))
        self.register_buffer("direction", torch.zeros(feature_dim))

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., K, D / K)."""
        return x.reshape(*x.shape[:-1], self.heads, -1)

    def normalised_weight(self) -> torch.Tensor:
        w = self.split(self.weight)  # (C, K, D/K)
        return w / (w.norm(dim=-1, keepdim=True) + self.gamma)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> MethodOutput:
        x = F.normalize(self.split(features), dim=-1)  # (B, K, D/K)
        w = self.normalised_weight()
        scale = self.tau / self.heads
        logits = scale * torch.einsum("bkd,ckd->bc", x, w)
        output = MethodOutput(logits)
        if self.training:
            with torch.no_grad():
                batch_mean = self.gathered(features, labels)[0].mean(0)  # under torchrun: the global batch's
                self.direction.mul_(self.momentum).add_((1 - self.momentum) * batch_mean)
        else:
            output.extras["counterfactual"] = self.counterfactual(x, w)
        return output

    def counterfactual(self, x_normed: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """(B, C): (tau / K) sum_k cos(x^k, d^k) * classifier_k(d^k / ||d^k||)."""
        d = self.split(self.direction)
        if (d.norm(dim=-1) == 0).any():
            raise RuntimeError("TDE: the moving-average feature direction is still zero; train on a batch first")
        d = F.normalize(d, dim=-1).to(x_normed)  # (K, D/K)
        cos = (x_normed * d).sum(-1)  # (B, K)
        return (self.tau / self.heads) * torch.einsum("bk,kd,ckd->bc", cos, d, w)

    def predict(self, output: MethodOutput) -> torch.Tensor:
        if "counterfactual" not in output.extras:
            raise RuntimeError("TDE.predict: run the method in eval mode (model.eval()) to get the TDE logits")
        return output.logits - self.alpha * output.extras["counterfactual"]
