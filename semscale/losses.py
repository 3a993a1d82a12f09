"""Per-sample base losses (reduction left to the weighting): the loss maths only.

Each returns a (B,) tensor; `semscale.weighting` turns per-sample losses and labels into the batch loss, so DSB-X
is any X here times the DSB class weights (paper Eq. 4). Settings follow each loss's authors:
  Focal        gamma (Lin et al.; 1 in the class-balanced paper, 2 in the original)
  LDAM         margins C / n_j^(1/4) rescaled to max 0.5, logits scaled by 30 (Cao et al.)
  Balanced Softmax  logits + log n_j (Ren et al.)
  NormSoftmax  L2-normalised embeddings and proxies, temperature 0.05 (Zhai & Wu), Eq. 5
  SoftTriple   lambda 20, gamma 0.1, tau 0.2, delta 0.01, K 10 centres a class (Qian et al.), Eq. 6
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels, reduction="none")


class CrossEntropy(nn.Module):
    def forward(self, logits, labels):
        return cross_entropy(logits, labels)


class FocalLoss(nn.Module):
    """-(1 - p_t)^gamma log p_t; the class weight alpha_t comes from the weighting (DSB-Focal: alpha_t = 1/S)."""

    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits, labels):
        log_pt = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        return -((1.0 - log_pt.exp()).clamp(min=0) ** self.gamma) * log_pt


class LDAMLoss(nn.Module):
    """Label-distribution-aware margin: subtract m_y = c / n_y^(1/4) (max margin 0.5) from the true logit, scale by s."""

    def __init__(self, class_counts, max_margin: float = 0.5, scale: float = 30.0):
        super().__init__()
        counts = torch.as_tensor(class_counts, dtype=torch.float64).clamp(min=1)
        margins = counts.pow(-0.25)
        self.register_buffer("margins", (margins * (max_margin / margins.max())).float())
        self.scale = scale

    def forward(self, logits, labels):
        shifted = logits - F.one_hot(labels, logits.shape[1]).to(logits.dtype) * self.margins[labels][:, None]
        return F.cross_entropy(self.scale * shifted, labels, reduction="none")


class BalancedSoftmaxLoss(nn.Module):
    """Cross-entropy on logits + log n_j."""

    def __init__(self, class_counts):
        super().__init__()
        counts = torch.as_tensor(class_counts, dtype=torch.float32).clamp(min=1)
        self.register_buffer("log_prior", counts.log())

    def forward(self, logits, labels):
        return F.cross_entropy(logits + self.log_prior, labels, reduction="none")


class NormSoftmaxLoss(nn.Module):
    """Eq. 5 without the 1/S: softmax over cosine similarities to class proxies divided by a temperature.

    Proxies are stored as (dim, C), the layout of pytorch-metric-learning's NormalizedSoftmaxLoss.
    """

    def __init__(self, num_classes: int, dim: int, temperature: float = 0.05):
        super().__init__()
        self.temperature = temperature
        self.proxies = nn.Parameter(torch.empty(dim, num_classes))
        nn.init.kaiming_uniform_(self.proxies, a=math.sqrt(5))

    def logits(self, embeddings):
        return F.normalize(embeddings, dim=1) @ F.normalize(self.proxies, dim=0) / self.temperature

    def forward(self, embeddings, labels):
        return F.cross_entropy(self.logits(embeddings), labels, reduction="none")


class SoftTripleLoss(nn.Module):
    """Eq. 6 without the 1/S, plus SoftTriple's centre regulariser (tau), which is a batch-level term.

    D'_{z,c} = sum_k softmax_k(z^T w_c^k / gamma) z^T w_c^k over K normalised centres; the per-sample loss is
    cross-entropy on lambda * (D' - delta * onehot).
    """

    def __init__(self, num_classes: int, dim: int, centers: int = 10, la: float = 20.0, gamma: float = 0.1,
                 tau: float = 0.2, margin: float = 0.01):
        super().__init__()
        self.num_classes, self.centers = num_classes, centers
        self.la, self.gamma, self.tau, self.margin = la, gamma, tau, margin
        self.fc = nn.Parameter(torch.empty(dim, num_classes * centers))
        nn.init.kaiming_uniform_(self.fc, a=math.sqrt(5))

    def logits(self, embeddings):
        sim = F.normalize(embeddings, dim=1) @ F.normalize(self.fc, dim=0)
        sim = sim.view(-1, self.num_classes, self.centers)
        return (F.softmax(sim / self.gamma, dim=2) * sim).sum(2)

    def forward(self, embeddings, labels):
        relaxed = self.logits(embeddings)
        margin = F.one_hot(labels, self.num_classes).to(relaxed.dtype) * self.margin
        return F.cross_entropy(self.la * (relaxed - margin), labels, reduction="none")

    def regularizer(self) -> torch.Tensor:
        """tau * sum_c sum_{k<l} sqrt(2 + 1e-5 - 2 w_ck^T w_cl) / (C K (K - 1)); 0 when K = 1 or tau = 0."""
        if self.centers < 2 or self.tau == 0:
            return self.fc.new_zeros(())
        centres = F.normalize(self.fc, dim=0).t().reshape(self.num_classes, self.centers, -1)
        sim = centres @ centres.transpose(1, 2)
        upper = torch.triu(torch.ones(self.centers, self.centers, dtype=torch.bool, device=sim.device), 1)
        reg = torch.sqrt(2.0 + 1e-5 - 2.0 * sim[:, upper]).sum()
        return self.tau * reg / (self.num_classes * self.centers * (self.centers - 1))


def build_loss(name: str, num_classes: int, class_counts=None, dim: int | None = None, **options) -> nn.Module:
    """A loss by name: ce, focal, ldam, bs (balanced softmax), nsm (NormSoftmax), st (SoftTriple)."""
    name = name.lower()
    if name in ("ldam", "bs") and class_counts is None:
        raise ValueError(f"loss {name!r} needs the training class counts")
    if name in ("nsm", "st") and dim is None:
        raise ValueError(f"loss {name!r} needs the embedding dimension")
    factories = {
        "ce": lambda: CrossEntropy(),
        "focal": lambda: FocalLoss(**options),
        "ldam": lambda: LDAMLoss(class_counts, **options),
        "bs": lambda: BalancedSoftmaxLoss(class_counts),
        "nsm": lambda: NormSoftmaxLoss(num_classes, dim, **options),
        "st": lambda: SoftTripleLoss(num_classes, dim, **options),
    }
    if name not in factories:
        raise ValueError(f"loss {name!r}: expected one of {sorted(factories)}")
    return factories[name]()
