"""Circle loss (Sun et al. 2020, Eq. 6 with Eq. 8's settings), Table 4's dim-512 baseline, per anchor.

For anchor i with cosine similarities s_p to its in-batch positives (same label, j != i) and s_n to its negatives:

  L_i = softplus( logsumexp_n[ gamma * a_n * (s_n - delta_n) ] + logsumexp_p[ -gamma * a_p * (s_p - delta_p) ] )
  a_p = [1 + m - s_p]_+,  a_n = [s_n + m]_+   (self-paced weights, held constant: no gradient through them)
  delta_p = 1 - m,  delta_n = m

Defaults m = 0.4, gamma = 80: the Circle-loss paper's setting for fine-grained image retrieval (CUB, Cars), which
is Table 4's task; pytorch-metric-learning uses the same defaults. An anchor without a positive or a negative in
the batch has no pair term and gets loss 0.

DSB: the loss is a sum of per-anchor terms, so `forward` returns one term per anchor and the weighting multiplies
anchor i's term by the weight of its class y_i (DSB-Circle). Reduction differs from pytorch-metric-learning's
default (the mean over anchors with a non-zero loss): the weighting averages over the whole batch.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class CircleLoss(nn.Module):
    def __init__(self, m: float = 0.4, gamma: float = 80.0):
        super().__init__()
        self.m, self.gamma = m, gamma

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B,) per-anchor Circle loss on L2-normalised embeddings."""
        z = F.normalize(embeddings, dim=1)
        sim = z @ z.t()
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        negative = ~same
        alpha_p = (1 + self.m - sim.detach()).clamp(min=0)
        alpha_n = (sim.detach() + self.m).clamp(min=0)
        neg_inf = torch.finfo(sim.dtype).min
        pos_logits = (-self.gamma * alpha_p * (sim - (1 - self.m))).masked_fill(~positive, neg_inf)
        neg_logits = (self.gamma * alpha_n * (sim - self.m)).masked_fill(~negative, neg_inf)
        # An anchor without positives (or negatives) has logsumexp ~ the dtype's minimum: softplus gives 0, grad 0.
        return F.softplus(torch.logsumexp(pos_logits, dim=1) + torch.logsumexp(neg_logits, dim=1))
