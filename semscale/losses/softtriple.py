"""SoftTriple (Qian et al.), paper Eq. 6, per sample plus a batch-level regulariser."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        # The pairs k < l as index lists made on the device: a boolean mask would be read back by the host (nonzero)
        # every step, and on a GPU that wait stalls the queue.
        rows, columns = torch.triu_indices(self.centers, self.centers, 1, device=sim.device)
        reg = torch.sqrt(2.0 + 1e-5 - 2.0 * sim[:, rows, columns]).sum()
        return self.tau * reg / (self.num_classes * self.centers * (self.centers - 1))
