"""PaCo: Parametric Contrastive Learning (Cui et al., ICCV 2021), Table 2's PaCo and DSB-PaCo rows.

Mechanism (paper Sec. 3.3, Eq. 7-8; the authors' LT/losses.py): supervised contrastive learning whose contrast set
is enlarged by C parametric, learnable class centres c_1..c_C. For an anchor i with embedding z_i (L2-normalised
projection) and backbone feature f_i,
  centre logits    s_ic = (c_c^T f_i + log pi_c) / supt,  pi_c = n_c / N   (the balanced-softmax adjustment:
                   the centres are the linear classifier, trained on prior-shifted logits)
  sample logits    s_ij = z_i^T z_j / tau,                  j in A(i) = other batch samples and the memory queue
  denominator      D_i = sum_c exp(s_ic) + gamma * sum_{j in A(i)} exp(s_ij)
  loss_i = -(tau / base_tau) * [beta log(exp(s_iy)/D_i) + alpha sum_{j in P(i)} log(exp(s_ij)/D_i)]
                                / (beta + alpha |P(i)|),       P(i) = same-class members of A(i).
The centre term alone (alpha = 0, gamma = 0) is the balanced-softmax cross-entropy; PaCo's long-tail argument is
that alpha < beta down-weights the sample positives, which are many for head classes.

Defaults (the release's ImageNet-LT ResNeXt-50 script, LT/sh/ImageNetLT_train_X50.sh, and paco_lt.py):
  alpha 0.05, beta 1.0, gamma 1.0, temperature (moco-t) 0.07, supt 1.0, base_temperature = temperature,
  queue K 8192, projection a 2-layer MLP to 128 dims (MoCo v2's head, which the release builds on).
Inference uses the centres' raw logits c_c^T f (no prior), as the release evaluates the classifier.

Departures, forced by the engine handing the method one view of each image: the release contrasts a query with a
momentum-encoder key of the same image plus a queue of past keys; here A(i) is the rest of the batch (current
embeddings, with gradient) plus a FIFO queue of past batch embeddings (detached), so an anchor with no same-class
partner still has its centre as a positive and the loss stays defined.

DSB: where the weights go and why. Every anchor contributes its own term loss_i (Eq. 8 is a mean over anchors), so
`per_sample_loss` returns loss_i and the DSB weight of class y_i multiplies it: anchors of classes with a small
semantic scale count more, exactly as DSB-CE re-weights cross-entropy terms. Positives and negatives keep PaCo's
alpha / beta / gamma; the weights change only how much each anchor's term counts.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..losses import BalancedSoftmaxLoss
from .base import Method, MethodOutput


class PaCo(Method):
    name = "paco"
    needs_counts_for = "its centre logits carry log n_c / N"

    def __init__(self, feature_dim: int, num_classes: int, class_counts=None, alpha: float = 0.05,
                 beta: float = 1.0, gamma: float = 1.0, temperature: float = 0.07, supt: float = 1.0,
                 base_temperature: float | None = None, queue_size: int = 8192, projection_dim: int = 128):
        super().__init__(feature_dim, num_classes, class_counts)
        if temperature <= 0 or supt <= 0:
            raise ValueError(f"PaCo: temperature and supt must be positive, got {temperature} and {supt}")
        self.alpha, self.beta, self.gamma, self.supt = alpha, beta, gamma, supt
        self.temperature = temperature
        self.base_temperature = temperature if base_temperature is None else base_temperature
        self.projector = nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(),
                                       nn.Linear(feature_dim, projection_dim))
        # log pi_c = log n_c - log N; the -log N matters here because the centre logits share a softmax with the
        # sample logits (it cancels in a plain balanced softmax, not in PaCo's joint denominator).
        log_counts = BalancedSoftmaxLoss(self.class_counts).log_prior
        self.register_buffer("log_prior", log_counts - torch.logsumexp(log_counts, 0))
        self.register_buffer("queue", torch.zeros(queue_size, projection_dim))
        self.register_buffer("queue_labels", torch.full((queue_size,), -1, dtype=torch.long))
        # The queue is written in order from slot 0, so the slots holding an embedding are always the first
        # `queue_filled`: counted on the host, because a mask of them (queue_labels >= 0) would be read back by the
        # host every step (nonzero), and on a GPU that wait stalls the queue of kernels.
        self.queue_pointer = self.queue_filled = 0

    def embed(self, features):
        return F.normalize(self.projector(features), dim=1)

    def forward(self, features, labels=None) -> MethodOutput:
        logits = self.head(features)
        if labels is None or not self.training:
            return MethodOutput(logits)
        embeddings = self.embed(features)
        contrast = torch.cat([embeddings, self.queue[:self.queue_filled]])
        contrast_labels = torch.cat([labels, self.queue_labels[:self.queue_filled]])
        extras = {"embeddings": embeddings, "contrast": contrast, "contrast_labels": contrast_labels}
        self._enqueue(embeddings.detach(), labels)
        return MethodOutput(logits, extras)

    @torch.no_grad()
    def get_extra_state(self):
        """The queue's write position and fill travel with the state dict (the queue itself is a buffer), so a
        resumed run overwrites the slots an uninterrupted one would."""
        return {"queue_pointer": self.queue_pointer, "queue_filled": self.queue_filled}

    def set_extra_state(self, state) -> None:
        # the buffers are loaded before the extra state: a checkpoint written before queue_filled existed has it
        # in its labels
        self.queue_pointer = int(state["queue_pointer"])
        self.queue_filled = int(state.get("queue_filled", (self.queue_labels >= 0).sum()))

    def _enqueue(self, embeddings, labels):
        size = self.queue.shape[0]
        if size == 0:
            return
        embeddings, labels = self.gathered(embeddings, labels)  # under torchrun: every rank's, as one process's queue
        embeddings, labels = embeddings[-size:], labels[-size:]
        slots = (self.queue_pointer + torch.arange(len(labels), device=labels.device)) % size
        self.queue[slots], self.queue_labels[slots] = embeddings, labels
        self.queue_pointer = int((self.queue_pointer + len(labels)) % size)
        self.queue_filled = min(self.queue_filled + len(labels), size)

    def per_sample_loss(self, output, labels):
        if "contrast" not in output.extras:            # an evaluation-mode output: the centre term only
            return F.cross_entropy(output.logits + self.log_prior, labels, reduction="none")
        batch = labels.shape[0]
        centre_logits = (output.logits + self.log_prior) / self.supt
        sample_logits = output.extras["embeddings"] @ output.extras["contrast"].t() / self.temperature
        not_self = torch.ones_like(sample_logits, dtype=torch.bool)
        not_self[:, :batch].fill_diagonal_(False)
        positives = (labels[:, None] == output.extras["contrast_labels"][None, :]) & not_self
        # log of the joint denominator: centres with weight 1, the other samples with weight gamma
        sample_part = torch.where(not_self, sample_logits, torch.full_like(sample_logits, float("-inf")))
        parts = [torch.logsumexp(centre_logits, 1)]
        if self.gamma > 0 and sample_part.shape[1] > 0:
            parts.append(torch.logsumexp(sample_part, 1) + math.log(self.gamma))
        log_denominator = torch.logsumexp(torch.stack(parts, 1), 1)
        centre_term = self.beta * (centre_logits.gather(1, labels[:, None]).squeeze(1) - log_denominator)
        sample_term = self.alpha * ((sample_logits - log_denominator[:, None]) * positives).sum(1)
        weight = self.beta + self.alpha * positives.sum(1)
        return -(self.temperature / self.base_temperature) * (centre_term + sample_term) / weight
